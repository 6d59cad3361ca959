//! SPF at MAIL FROM: one function, [`check`], behind which the evaluator can change
//! (today mail-auth's `verify_spf`), with a verdict cache keyed by
//! (client IP, HELO, sender domain) where concurrent misses share one evaluation.

use super::cache::{CacheStats, Counters};
use super::dns::Dns;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{SpfOutput, SpfResult};
use serde::Serialize;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// RFC 7208 results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpfOutcome {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
}

impl SpfOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            SpfOutcome::Pass => "pass",
            SpfOutcome::Fail => "fail",
            SpfOutcome::SoftFail => "softfail",
            SpfOutcome::Neutral => "neutral",
            SpfOutcome::None => "none",
            SpfOutcome::TempError => "temperror",
            SpfOutcome::PermError => "permerror",
        }
    }

    fn from_mail_auth(r: SpfResult) -> Self {
        match r {
            SpfResult::Pass => SpfOutcome::Pass,
            SpfResult::Fail => SpfOutcome::Fail,
            SpfResult::SoftFail => SpfOutcome::SoftFail,
            SpfResult::Neutral => SpfOutcome::Neutral,
            SpfResult::TempError => SpfOutcome::TempError,
            SpfResult::PermError => SpfOutcome::PermError,
            SpfResult::None => SpfOutcome::None,
        }
    }

    fn to_mail_auth(self) -> SpfResult {
        match self {
            SpfOutcome::Pass => SpfResult::Pass,
            SpfOutcome::Fail => SpfResult::Fail,
            SpfOutcome::SoftFail => SpfResult::SoftFail,
            SpfOutcome::Neutral => SpfResult::Neutral,
            SpfOutcome::TempError => SpfResult::TempError,
            SpfOutcome::PermError => SpfResult::PermError,
            SpfOutcome::None => SpfResult::None,
        }
    }
}

/// Which identity SPF checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpfIdentity {
    MailFrom,
    Helo,
}

/// The SPF verdict of one message's envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpfVerdict {
    pub result: SpfOutcome,
    /// The domain checked (sender domain, or the HELO name for the null sender).
    pub domain: String,
    pub identity: SpfIdentity,
    /// The client IP, HELO and sender checked (for the Authentication-Results header).
    #[serde(skip)]
    pub client_ip: Option<IpAddr>,
    #[serde(skip)]
    pub helo: String,
    #[serde(skip)]
    pub sender: String,
}

impl SpfVerdict {
    /// No client IP known (e.g. `scan` without `--client-ip`): nothing to check.
    pub fn none(sender: &str, helo: &str) -> Self {
        SpfVerdict {
            result: SpfOutcome::None,
            domain: domain_of(sender, helo).to_string(),
            identity: identity(sender),
            client_ip: None,
            helo: helo.to_string(),
            sender: sender.to_string(),
        }
    }

    /// The form mail-auth's DMARC evaluation takes.
    pub fn to_output(&self) -> SpfOutput {
        SpfOutput::new(self.domain.clone()).with_result(self.result.to_mail_auth())
    }
}

fn identity(sender: &str) -> SpfIdentity {
    if sender.is_empty() {
        SpfIdentity::Helo
    } else {
        SpfIdentity::MailFrom
    }
}

fn domain_of<'a>(sender: &'a str, helo: &'a str) -> &'a str {
    match sender.rsplit_once('@') {
        Some((_, d)) if !sender.is_empty() => d,
        _ if sender.is_empty() => helo,
        _ => sender,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SpfKey {
    ip: IpAddr,
    helo: Box<str>,
    /// Lower-cased sender domain (the local part only matters through macros, which
    /// are rare enough that the verdict of one sender stands for its domain).
    domain: Box<str>,
    null_sender: bool,
}

/// SPF verdicts, reused for `ttl`; a miss runs one evaluation that concurrent
/// callers for the same key wait on.
pub struct SpfCache {
    inner: moka::sync::Cache<SpfKey, Arc<OnceCell<SpfVerdict>>>,
    counters: Counters,
}

impl SpfCache {
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        SpfCache {
            inner: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build(),
            counters: Counters::default(),
        }
    }

    pub fn stats(&self) -> CacheStats {
        self.counters.stats(self.inner.entry_count())
    }
}

/// The SPF verdict for a client IP, HELO name and envelope sender (empty for `<>`:
/// then the HELO identity is checked). `host_domain` is our own name (for `%{r}`).
pub async fn check(
    dns: &Dns,
    cache: &SpfCache,
    ip: IpAddr,
    helo: &str,
    sender: &str,
    host_domain: &str,
) -> SpfVerdict {
    let key = SpfKey {
        ip,
        helo: helo.to_ascii_lowercase().into(),
        domain: domain_of(sender, helo).to_ascii_lowercase().into(),
        null_sender: sender.is_empty(),
    };
    let cell = cache
        .inner
        .get_with(key.clone(), || Arc::new(OnceCell::new()));
    if cell.initialized() {
        cache.counters.hit();
    } else {
        cache.counters.miss();
    }
    let verdict = cell
        .get_or_init(|| evaluate(dns, ip, helo, sender, host_domain))
        .await
        .clone();
    if verdict.result == SpfOutcome::TempError {
        // A transient failure is not an answer to remember.
        cache.inner.invalidate(&key);
    }
    SpfVerdict {
        helo: helo.to_string(),
        sender: sender.to_string(),
        ..verdict
    }
}

async fn evaluate(
    dns: &Dns,
    ip: IpAddr,
    helo: &str,
    sender: &str,
    host_domain: &str,
) -> SpfVerdict {
    let params = if sender.is_empty() {
        SpfParameters::verify_ehlo(ip, helo, host_domain)
    } else {
        SpfParameters::verify_mail_from(ip, helo, host_domain, sender)
    };
    let output = dns
        .authenticator()
        .verify_spf(dns.caches().params(params))
        .await;
    SpfVerdict {
        result: SpfOutcome::from_mail_auth(output.result()),
        domain: output.domain().to_string(),
        identity: identity(sender),
        client_ip: Some(ip),
        helo: helo.to_string(),
        sender: sender.to_string(),
    }
}
