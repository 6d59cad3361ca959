//! What authentication found for one message, as `scan --json` shows it under `auth`.

use super::spf_check::SpfVerdict;
use serde::Serialize;

/// `auth` in `scan --json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AuthReport {
    pub spf: Option<SpfVerdict>,
    pub dkim: Vec<DkimVerdict>,
    pub dmarc: Option<DmarcVerdict>,
    pub arc: Option<ArcVerdict>,
    /// Outbound: the signatures added.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signed: Vec<SignedWith>,
    /// Why verification did not run (e.g. the message was over the size limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl AuthReport {
    /// Every evaluated method and its RFC 8601 result, in header order (`spf`,
    /// each DKIM signature, `dmarc`, `arc`), for the log line and the metrics.
    pub fn results(&self) -> Vec<(&'static str, &str)> {
        let mut out: Vec<(&'static str, &str)> = Vec::new();
        if let Some(spf) = &self.spf {
            out.push(("spf", spf.result.as_str()));
        }
        out.extend(self.dkim.iter().map(|d| ("dkim", d.result)));
        if let Some(dmarc) = &self.dmarc {
            out.push(("dmarc", dmarc.result));
        }
        if let Some(arc) = &self.arc {
            out.push(("arc", arc.result));
        }
        out
    }
}

/// One DKIM-Signature's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DkimVerdict {
    pub domain: String,
    pub selector: String,
    pub algorithm: &'static str,
    /// `pass`, `fail`, `neutral`, `temperror`, `permerror` (RFC 8601 words).
    pub result: &'static str,
    /// Why it did not pass (mail-auth's words).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The DMARC evaluation of the RFC5322.From domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DmarcVerdict {
    /// `pass`, `fail`, `temperror`, `permerror`, `none`.
    pub result: &'static str,
    /// The policy that applies (`none`, `quarantine`, `reject`); `sp` for sub-domains.
    pub policy: &'static str,
    pub domain: String,
    /// `pct` of the record when it sampled this message out of its policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled_out: Option<bool>,
}

/// The ARC chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArcVerdict {
    /// `pass`, `fail`, `none`.
    pub result: &'static str,
    /// `d=` of the newest ARC-Seal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealer: Option<String>,
    /// Number of ARC sets.
    pub instances: usize,
}

/// One DKIM signature this gateway added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignedWith {
    pub domain: String,
    pub selector: String,
    pub algorithm: &'static str,
}
