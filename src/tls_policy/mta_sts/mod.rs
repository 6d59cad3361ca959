//! MTA-STS (RFC 8461): the `_mta-sts` TXT record, the HTTPS policy fetch and a cache
//! that follows §5.1 (re-fetch when the TXT `id` changes, keep a still-valid cached
//! policy when the record disappears or a fetch fails).

mod fetch;
mod policy;

pub use fetch::{FetchError, Fetcher};
pub use policy::{MAX_MAX_AGE, Mode, Policy, PolicyError};

use crate::spf_eval::{DnsFailure, SpfDns};
use mail_auth::common::parse::TxtRecordParser;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `id` of a domain's single `v=STSv1` TXT record.
#[derive(Debug, PartialEq, Eq)]
pub enum StsRecord {
    Id(String),
    /// No record, several records (§3.1: treated as none), or an unparsable one.
    Absent(&'static str),
    /// The lookup failed (timeout, SERVFAIL).
    DnsError,
}

/// Looks up `_mta-sts.<domain>`.
pub async fn sts_record<D: SpfDns>(dns: &D, domain: &str) -> StsRecord {
    let name = format!("_mta-sts.{}", domain.trim_end_matches('.'));
    let records = match dns.txt(&name).await {
        Ok(r) => r,
        Err(DnsFailure::TempError) => return StsRecord::DnsError,
        Err(_) => return StsRecord::Absent("no _mta-sts TXT record"),
    };
    let sts: Vec<&Vec<u8>> = records
        .iter()
        .filter(|r| r.len() >= 7 && r[..7].eq_ignore_ascii_case(b"v=STSv1"))
        .collect();
    match sts.as_slice() {
        [one] => match mail_auth::mta_sts::MtaSts::parse(one) {
            Ok(rec) => StsRecord::Id(rec.id),
            Err(_) => StsRecord::Absent("_mta-sts TXT record is malformed"),
        },
        [] => StsRecord::Absent("no v=STSv1 record at _mta-sts"),
        _ => StsRecord::Absent("several v=STSv1 records at _mta-sts"),
    }
}

struct Cached {
    id: String,
    policy: Arc<Policy>,
    expires: Instant,
}

/// Policies by domain, fetched on demand.
pub struct MtaSts {
    fetcher: Fetcher,
    /// Shared with the `MtaSts` a reload builds when only the fetcher changed.
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    max_entries: usize,
}

impl MtaSts {
    pub fn new(fetcher: Fetcher, max_entries: usize) -> MtaSts {
        MtaSts {
            fetcher,
            cache: Arc::default(),
            max_entries: max_entries.max(1),
        }
    }

    /// For a reload that changed only the fetch settings: a new fetcher, the same
    /// policy cache (policies stay valid whoever fetched them).
    pub fn with_fetcher(&self, fetcher: Fetcher) -> MtaSts {
        MtaSts {
            fetcher,
            cache: Arc::clone(&self.cache),
            max_entries: self.max_entries,
        }
    }

    /// Whether `other` reads and fills the same policy cache.
    #[cfg(test)]
    pub fn shares_cache(&self, other: &MtaSts) -> bool {
        Arc::ptr_eq(&self.cache, &other.cache)
    }

    /// The policy in force for `domain` (lower-case), if any.
    pub async fn policy<D: SpfDns>(&self, dns: &D, domain: &str) -> Option<Arc<Policy>> {
        let cached = self.cached(domain);
        let id = match sts_record(dns, domain).await {
            StsRecord::Id(id) => id,
            // §5.1: no record (or no answer) with a valid cached policy keeps it.
            StsRecord::Absent(_) | StsRecord::DnsError => return cached.map(|c| c.1),
        };
        if let Some((cached_id, policy)) = &cached
            && *cached_id == id
        {
            return Some(Arc::clone(policy));
        }
        let metrics = &crate::metrics::global().connectors;
        match self.fetcher.fetch(dns, domain).await {
            Ok(policy) => {
                metrics.mta_sts_fetch("ok");
                if policy.mode == Mode::Testing {
                    tracing::info!(domain, "MTA-STS policy in testing mode: TLS not enforced");
                }
                let policy = Arc::new(policy);
                self.store(domain, id, Arc::clone(&policy));
                Some(policy)
            }
            Err(e) => {
                metrics.mta_sts_fetch(e.kind());
                tracing::warn!(domain, error = %e, kept_cached = cached.is_some(), "MTA-STS policy fetch failed");
                cached.map(|c| c.1)
            }
        }
    }

    fn cached(&self, domain: &str) -> Option<(String, Arc<Policy>)> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(domain)
            .filter(|c| c.expires > Instant::now())
            .map(|c| (c.id.clone(), Arc::clone(&c.policy)))
    }

    fn store(&self, domain: &str, id: String, policy: Arc<Policy>) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if cache.len() >= self.max_entries && !cache.contains_key(domain) {
            cache.retain(|_, c| c.expires > now);
            if cache.len() >= self.max_entries {
                // Still full of live policies: forget the one closest to expiry.
                if let Some(k) = cache
                    .iter()
                    .min_by_key(|(_, c)| c.expires)
                    .map(|(k, _)| k.clone())
                {
                    cache.remove(&k);
                }
            }
        }
        let expires = now + Duration::from_secs(policy.max_age);
        cache.insert(
            domain.to_string(),
            Cached {
                id,
                policy,
                expires,
            },
        );
    }
}
