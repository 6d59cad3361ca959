//! Sender Policy Framework (RFC 7208), evaluated by the project's own code.
//!
//! Why not mail-auth's `verify_spf`: on the public RFC 7208 test suite it scores 149/203
//! (PTR names keep the trailing dot, invalid names become temperror, syntax errors are
//! accepted, no void-lookup limit); this evaluator is written to the RFC's edges and its
//! result still feeds mail-auth's DMARC through [`SpfVerdict::to_mail_auth`].
//!
//! DNS goes through [`SpfDns`], implemented for [`mail_auth::MessageAuthenticator`] so
//! the whole process shares one resolver and one cache.

mod dns;
mod eval;
mod macros;
mod name;
mod record;

use std::fmt;
use std::net::IpAddr;

pub use dns::{DnsAnswer, DnsFailure, MemoryDns, SpfDns, normalise_name, reverse_name};
pub use eval::{
    MAX_DNS_TERMS, MAX_EXPLANATION, MAX_NAMES_PER_MECHANISM, MAX_VOID_LOOKUPS, sanitise_explanation,
};
pub use macros::{MAX_EXPANSION, MacroError, MacroString, MacroValues};
pub use name::{domain_for_query, is_valid_domain};
pub use record::{Directive, Mechanism, Qualifier, Record, RecordError, is_spf_record};

/// The seven SPF results (section 2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpfResult {
    None,
    Neutral,
    Pass,
    Fail,
    SoftFail,
    TempError,
    PermError,
}

impl SpfResult {
    /// The lowercase name used in Received-SPF and Authentication-Results.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Neutral => "neutral",
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::SoftFail => "softfail",
            Self::TempError => "temperror",
            Self::PermError => "permerror",
        }
    }
}

impl fmt::Display for SpfResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<SpfResult> for mail_auth::SpfResult {
    fn from(result: SpfResult) -> Self {
        match result {
            SpfResult::None => Self::None,
            SpfResult::Neutral => Self::Neutral,
            SpfResult::Pass => Self::Pass,
            SpfResult::Fail => Self::Fail,
            SpfResult::SoftFail => Self::SoftFail,
            SpfResult::TempError => Self::TempError,
            SpfResult::PermError => Self::PermError,
        }
    }
}

/// Which identity was checked (section 2.3 and 2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpfIdentity {
    /// The MAIL FROM domain.
    MailFrom,
    /// The HELO domain: checked as `postmaster@helo` when the reverse-path is null.
    Helo,
}

/// The outcome of an SPF check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfVerdict {
    pub result: SpfResult,
    /// The domain whose policy was evaluated (lowercase, no trailing dot).
    pub domain: String,
    pub identity: SpfIdentity,
    /// The sender domain's `exp=` text for a fail: printable ASCII, at most
    /// [`MAX_EXPLANATION`] octets.
    pub explanation: Option<String>,
}

impl SpfVerdict {
    /// The same verdict as mail-auth's type, for its DMARC evaluation.
    pub fn to_mail_auth(&self) -> mail_auth::SpfOutput {
        let output = mail_auth::SpfOutput::new(self.domain.clone()).with_result(self.result.into());
        match &self.explanation {
            Some(explanation) => output.with_explanation(explanation.clone()),
            None => output,
        }
    }
}

/// What the receiving MTA knows about the SMTP session.
#[derive(Debug, Clone, Copy)]
pub struct SpfRequest<'a> {
    /// The SMTP client's address; IPv4-mapped IPv6 addresses are treated as IPv4.
    pub client_ip: IpAddr,
    /// The HELO/EHLO argument.
    pub helo: &'a str,
    /// The MAIL FROM address without angle brackets; empty for the null reverse-path.
    pub mail_from: &'a str,
    /// This host's name, for the `%{r}` macro in explanations.
    pub receiver: &'a str,
}

/// Checks the MAIL FROM identity, or the HELO identity when the reverse-path is null
/// (section 2.4), and returns the verdict. Never panics, whatever DNS returns.
pub async fn check<D: SpfDns>(dns: &D, request: &SpfRequest<'_>) -> SpfVerdict {
    let ip = canonical_ip(request.client_ip);
    let helo = request.helo.trim();
    let (identity, local_part, domain) = identity_of(request);
    let sender = format!("{local_part}@{domain}");
    let receiver = if request.receiver.is_empty() {
        "unknown"
    } else {
        request.receiver
    };
    let mut evaluator = eval::Evaluator::new(
        dns,
        ip,
        sender,
        local_part.to_string(),
        domain.to_string(),
        helo.to_string(),
        receiver.to_string(),
    );
    let outcome = evaluator.check_host(domain.to_string()).await;
    SpfVerdict {
        result: outcome.result,
        domain: normalise_name(domain),
        identity,
        explanation: outcome.explanation,
    }
}

/// The identity to check, its local-part and its domain (sections 2.4 and 4.3).
fn identity_of<'a>(request: &SpfRequest<'a>) -> (SpfIdentity, &'a str, &'a str) {
    let mail_from = request
        .mail_from
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    if mail_from.is_empty() {
        return (SpfIdentity::Helo, "postmaster", request.helo.trim());
    }
    match mail_from.rsplit_once('@') {
        Some(("", domain)) => (SpfIdentity::MailFrom, "postmaster", domain),
        Some((local, domain)) => (SpfIdentity::MailFrom, local, domain),
        None => (SpfIdentity::MailFrom, "postmaster", mail_from),
    }
}

/// [`check`] bounded in time (RFC 7208 4.6.4 suggests at least 20 seconds for the whole
/// evaluation): when `limit` passes first the result is temperror for the identity that
/// was being checked.
pub async fn check_within<D: SpfDns>(
    dns: &D,
    request: &SpfRequest<'_>,
    limit: std::time::Duration,
) -> SpfVerdict {
    match tokio::time::timeout(limit, check(dns, request)).await {
        Ok(verdict) => verdict,
        Err(_elapsed) => {
            let (identity, _, domain) = identity_of(request);
            SpfVerdict {
                result: SpfResult::TempError,
                domain: normalise_name(domain),
                identity,
                explanation: None,
            }
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is the IPv4 client it stands for.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests;
