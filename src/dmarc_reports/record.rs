//! One inbound message's DMARC evaluation, as a plain value, and the in-memory
//! aggregate that counts identical ones between flushes.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// What RFC 7489 §7.2 reports about one message (everything but the count).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DmarcRecord {
    /// The RFC5322.From domain whose policy was evaluated (lower-case).
    pub policy_domain: String,
    pub source_ip: Option<IpAddr>,
    pub header_from: String,
    pub envelope_from: String,
    pub dkim: Vec<DkimAuth>,
    pub spf: SpfAuth,
    /// DMARC-aligned DKIM and SPF (`policy_evaluated`).
    pub dkim_aligned: bool,
    pub spf_aligned: bool,
    pub disposition: Disposition,
    pub reasons: Vec<Reason>,
}

/// One DKIM signature's result (RFC 8601 words).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DkimAuth {
    pub domain: String,
    pub selector: String,
    pub result: String,
}

/// The SPF result (RFC 8601 words) and the identity it was for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpfAuth {
    pub domain: String,
    /// `mfrom` or `helo`.
    pub scope: String,
    pub result: String,
}

/// The disposition actually applied to the message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Disposition {
    #[default]
    None,
    Quarantine,
    Reject,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::None => "none",
            Disposition::Quarantine => "quarantine",
            Disposition::Reject => "reject",
        }
    }
}

/// Why the applied disposition differs from the published policy (RFC 7489
/// `PolicyOverrideType` words: `trusted_forwarder`, `local_policy`, `sampled_out`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reason {
    pub kind: String,
    pub comment: String,
}

/// The policy record the sender published, as seen when its mail was evaluated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub domain: String,
    /// `none`, `quarantine`, `reject`.
    pub p: String,
    pub sp: String,
    /// `r` or `s`.
    pub adkim: String,
    pub aspf: String,
    pub testing: bool,
    /// `rua=` destinations: the URI and its `!size` limit in bytes (0: none).
    pub rua: Vec<(String, usize)>,
}

/// One message to record: the row and the policy it was evaluated against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub record: DmarcRecord,
    pub published: Published,
}

/// Counts gathered since the last flush, keyed by reporting period.
#[derive(Default)]
pub struct Aggregate {
    inner: Mutex<Pending>,
}

/// What a flush takes away.
#[derive(Default, Debug)]
pub struct Pending {
    pub counts: HashMap<(u64, DmarcRecord), u64>,
    /// Latest published policy per (period, domain).
    pub policies: HashMap<(u64, String), Published>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

impl Aggregate {
    /// Counts one message in `period` (the period's start, in seconds since the epoch).
    /// The lock is held for one hash map update.
    pub fn add(&self, period: u64, obs: Observation) {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let key = (period, obs.published.domain.clone());
        if p.policies.get(&key) != Some(&obs.published) {
            p.policies.insert(key, obs.published);
        }
        *p.counts.entry((period, obs.record)).or_insert(0) += 1;
    }

    /// Takes everything counted so far.
    pub fn take(&self) -> Pending {
        std::mem::take(&mut *self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts counts back after a failed flush, so the next flush retries them.
    pub fn restore(&self, pending: Pending) {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for (k, n) in pending.counts {
            *p.counts.entry(k).or_insert(0) += n;
        }
        for (k, v) in pending.policies {
            p.policies.entry(k).or_insert(v);
        }
    }
}

/// The start of the period holding `now` (both seconds since the epoch). Periods
/// are aligned to the epoch, i.e. to UTC midnight when `interval` divides a day.
pub fn period_start(now: u64, interval: u64) -> u64 {
    let interval = interval.max(1);
    now - now % interval
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(ip: &str) -> Observation {
        Observation {
            record: DmarcRecord {
                policy_domain: "a.test".into(),
                source_ip: ip.parse().ok(),
                ..Default::default()
            },
            published: Published {
                domain: "a.test".into(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn counts_identical_rows_once() {
        let agg = Aggregate::default();
        agg.add(0, obs("192.0.2.1"));
        agg.add(0, obs("192.0.2.1"));
        agg.add(0, obs("192.0.2.2"));
        agg.add(86_400, obs("192.0.2.1"));
        let p = agg.take();
        assert_eq!(p.counts.len(), 3);
        assert_eq!(p.counts[&(0, obs("192.0.2.1").record)], 2);
        assert!(agg.take().is_empty());
        agg.restore(p);
        assert_eq!(agg.take().counts.len(), 3);
    }

    #[test]
    fn periods_align_to_midnight() {
        assert_eq!(period_start(86_400 * 3 + 5, 86_400), 86_400 * 3);
        assert_eq!(period_start(86_400 + 7_300, 3_600), 86_400 + 7_200);
    }
}
