//! SPF at MAIL FROM: one function, [`check`], behind which the evaluator can change
//! (the project's own RFC 7208 evaluator, [`crate::spf_eval`], on the shared resolver), with a
//! verdict cache keyed by (client IP, HELO, sender) where concurrent misses share one
//! evaluation.

use super::cache::{CacheStats, Counters};
use super::dns::Dns;
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

    fn from_evaluator(r: crate::spf_eval::SpfResult) -> Self {
        use crate::spf_eval::SpfResult as R;
        match r {
            R::Pass => SpfOutcome::Pass,
            R::Fail => SpfOutcome::Fail,
            R::SoftFail => SpfOutcome::SoftFail,
            R::Neutral => SpfOutcome::Neutral,
            R::TempError => SpfOutcome::TempError,
            R::PermError => SpfOutcome::PermError,
            R::None => SpfOutcome::None,
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
    /// The sender domain's `exp=` text for a fail (printable ASCII, bounded length).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
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
            explanation: None,
            client_ip: None,
            helo: helo.to_string(),
            sender: sender.to_string(),
        }
    }

    /// The form mail-auth's DMARC evaluation takes.
    pub fn to_output(&self) -> SpfOutput {
        let output = SpfOutput::new(self.domain.clone()).with_result(self.result.to_mail_auth());
        match &self.explanation {
            Some(explanation) => output.with_explanation(explanation.clone()),
            None => output,
        }
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
    /// Lower-cased sender: the local part reaches the verdict and the explanation
    /// through macros (`%{l}`, `%{s}`), so one sender's verdict cannot stand for another's.
    sender: Box<str>,
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
        sender: sender.to_ascii_lowercase().into(),
        null_sender: sender.is_empty(),
    };
    // The caller that creates the cell evaluates; concurrent callers wait on it.
    let entry = cache
        .inner
        .entry(key.clone())
        .or_insert_with(|| Arc::new(OnceCell::new()));
    if entry.is_fresh() {
        cache.counters.miss();
    } else {
        cache.counters.hit();
    }
    let cell = entry.into_value();
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

/// Longest time one SPF evaluation may take (RFC 7208 4.6.4 suggests at least 20 s);
/// past it the result is temperror.
const SPF_TIME_LIMIT: Duration = Duration::from_secs(20);

async fn evaluate(
    dns: &Dns,
    ip: IpAddr,
    helo: &str,
    sender: &str,
    host_domain: &str,
) -> SpfVerdict {
    let request = crate::spf_eval::SpfRequest {
        client_ip: ip,
        helo,
        mail_from: sender,
        receiver: host_domain,
    };
    let verdict =
        crate::spf_eval::check_within(dns.authenticator().as_ref(), &request, SPF_TIME_LIMIT).await;
    SpfVerdict {
        result: SpfOutcome::from_evaluator(verdict.result),
        domain: verdict.domain,
        identity: identity(sender),
        explanation: verdict.explanation,
        client_ip: Some(ip),
        helo: helo.to_string(),
        sender: sender.to_string(),
    }
}
