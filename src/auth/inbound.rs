//! End-of-message verification of inbound mail: DKIM, ARC and DMARC over the kept
//! header block and the body hashes computed as the body streamed in, and the one
//! `Authentication-Results` header that reports them.

use super::dns::Dns;
use super::report::{ArcVerdict, DkimVerdict, DmarcVerdict};
use super::spf_check::{SpfIdentity, SpfVerdict};
use mail_auth::common::crypto::Algorithm;
use mail_auth::dkim::DkimError;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::{
    ArcOutput, AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput,
    DmarcResult, Error, SpfOutput,
};

/// Everything verified at end of message, in our own words.
#[derive(Clone, Debug)]
pub struct InboundResults {
    pub dkim: Vec<DkimVerdict>,
    pub dmarc: DmarcVerdict,
    pub arc: ArcVerdict,
    /// mail-auth's DMARC evaluation (aligned results, the record), for reports.
    pub dmarc_output: mail_auth::DmarcOutput,
    /// Domains of the RFC5322.From header (lower-cased).
    pub from_domains: Vec<String>,
    /// The `Authentication-Results` value (authserv-id first), CRLF-folded.
    pub header_value: String,
}

/// Verifies DKIM, ARC and DMARC of `msg` (with its body hashes); `None`: the
/// message could not be parsed.
pub async fn verify(
    dns: &Dns,
    msg: Option<&AuthenticatedMessage<'_>>,
    spf: &SpfVerdict,
    authserv_id: &str,
) -> InboundResults {
    let Some(msg) = msg else {
        return unparsable(spf, authserv_id);
    };
    let resolver = dns.authenticator();
    let caches = dns.caches();
    let dkim = resolver.verify_dkim(caches.params(msg)).await;
    let arc = resolver.verify_arc(caches.params(msg)).await;
    let spf_output: SpfOutput = spf.to_output();
    let mail_from_domain = match spf.identity {
        SpfIdentity::MailFrom => spf.domain.as_str(),
        SpfIdentity::Helo => spf.helo.as_str(),
    };
    // Every answer of the DMARC tree walk, negative ones too, from the cache.
    if let Some(domain) = msg.from.first().and_then(|f| f.rsplit_once('@')) {
        dns.prefetch_dmarc(domain.1).await;
    }
    let dmarc = resolver
        .verify_dmarc(caches.params(DmarcParameters::new(
            msg,
            &dkim,
            mail_from_domain,
            &spf_output,
        )))
        .await;

    let from_domains: Vec<String> = msg
        .from
        .iter()
        .filter_map(|f| f.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
        .collect();
    let header_from = msg.from.first().map(String::as_str).unwrap_or("");

    let ar = results_header(
        authserv_id,
        spf,
        &spf_output,
        &dkim,
        &arc,
        &dmarc,
        header_from,
    );
    let header_value = header_value(&ar, authserv_id);
    InboundResults {
        dkim: dkim.iter().map(dkim_verdict).collect(),
        dmarc: dmarc_verdict(&dmarc),
        arc: arc_verdict(&arc),
        dmarc_output: dmarc,
        from_domains,
        header_value,
    }
}

/// The `Authentication-Results` header: SPF (when a client IP is known), every
/// DKIM signature, ARC (when the message has a chain) and DMARC (when evaluated).
fn results_header<'a>(
    authserv_id: &'a str,
    spf: &'a SpfVerdict,
    spf_output: &'a SpfOutput,
    dkim: &'a [DkimOutput<'a>],
    arc: &'a ArcOutput<'a>,
    dmarc: &'a DmarcOutput,
    header_from: &'a str,
) -> AuthenticationResults<'a> {
    let mut ar = AuthenticationResults::new(authserv_id);
    if let Some(ip) = spf.client_ip {
        ar = match spf.identity {
            SpfIdentity::MailFrom => {
                ar.with_spf_mailfrom_result(spf_output, ip, &spf.sender, &spf.helo)
            }
            SpfIdentity::Helo => ar.with_spf_ehlo_result(spf_output, ip, &spf.helo),
        };
    }
    ar = ar.with_dkim_results(dkim, header_from);
    if !arc.sets().is_empty()
        && let Some(ip) = spf.client_ip
    {
        ar = ar.with_arc_result(arc, ip);
    }
    if !dmarc.domain().is_empty() {
        ar = ar.with_dmarc_result(dmarc);
    }
    ar
}

fn dkim_verdict(o: &DkimOutput<'_>) -> DkimVerdict {
    let (result, reason) = dkim_words(o.result());
    let sig = o.signature();
    DkimVerdict {
        domain: sig.map(|s| s.d.to_ascii_lowercase()).unwrap_or_default(),
        selector: sig.map(|s| s.s.clone()).unwrap_or_default(),
        algorithm: sig.map(|s| algorithm_name(s.a)).unwrap_or("unknown"),
        result,
        reason,
    }
}

/// DMARC in our words; without a record (or a From domain) the result is `none`
/// unless the lookup itself failed.
fn dmarc_verdict(dmarc: &DmarcOutput) -> DmarcVerdict {
    DmarcVerdict {
        result: if dmarc.domain().is_empty() || dmarc.dmarc_record().is_none() {
            match dmarc.result() {
                DmarcResult::TempError(_) => "temperror",
                DmarcResult::PermError(_) => "permerror",
                _ => "none",
            }
        } else {
            dmarc_word(&dmarc.result())
        },
        policy: policy_word(dmarc.policy()),
        domain: dmarc.domain().to_ascii_lowercase(),
        sampled_out: None,
    }
}

fn arc_verdict(arc: &ArcOutput<'_>) -> ArcVerdict {
    ArcVerdict {
        result: match arc.result() {
            DkimResult::Pass => "pass",
            DkimResult::None => "none",
            _ => "fail",
        },
        sealer: arc
            .sets()
            .last()
            .map(|s| s.seal.header.d.to_ascii_lowercase()),
        instances: arc.sets().len(),
    }
}

/// A message mail-auth cannot parse: nothing verifies.
fn unparsable(spf: &SpfVerdict, authserv_id: &str) -> InboundResults {
    InboundResults {
        dkim: Vec::new(),
        dmarc: DmarcVerdict {
            result: "permerror",
            policy: "none",
            domain: String::new(),
            sampled_out: None,
        },
        arc: ArcVerdict {
            result: "none",
            sealer: None,
            instances: 0,
        },
        dmarc_output: mail_auth::DmarcOutput::default(),
        from_domains: Vec::new(),
        header_value: format!(
            "{authserv_id};\r\n\tspf={} smtp.mailfrom={};\r\n\tdkim=permerror (unparsable message)",
            spf.result.as_str(),
            if spf.sender.is_empty() {
                "<>"
            } else {
                "(sender)"
            }
        ),
    }
}

fn header_value(ar: &AuthenticationResults<'_>, authserv_id: &str) -> String {
    let v = ar.to_string();
    if v == authserv_id {
        format!("{authserv_id}; none")
    } else {
        v
    }
}

fn algorithm_name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::RsaSha1 => "rsa-sha1",
        Algorithm::RsaSha256 => "rsa-sha256",
        Algorithm::Ed25519Sha256 => "ed25519-sha256",
    }
}

/// RFC 8601 result words. mail-auth reports a body hash mismatch as `neutral`;
/// RFC 6376 §6.1.3 calls it a failed verification, so it is `fail` here.
fn dkim_words(r: &DkimResult) -> (&'static str, Option<String>) {
    match r {
        DkimResult::Pass => ("pass", None),
        DkimResult::Neutral(e @ Error::Dkim(DkimError::FailedBodyHashMatch)) => {
            ("fail", Some(e.to_string()))
        }
        DkimResult::Neutral(e) => ("neutral", Some(e.to_string())),
        DkimResult::Fail(e) => ("fail", Some(e.to_string())),
        DkimResult::PermError(e) => ("permerror", Some(e.to_string())),
        DkimResult::TempError(e) => ("temperror", Some(e.to_string())),
        DkimResult::None => ("none", None),
    }
}

fn dmarc_word(r: &DmarcResult) -> &'static str {
    match r {
        DmarcResult::Pass => "pass",
        DmarcResult::Fail(_) => "fail",
        DmarcResult::TempError(_) => "temperror",
        DmarcResult::PermError(_) => "permerror",
        DmarcResult::None => "none",
    }
}

fn policy_word(p: Policy) -> &'static str {
    match p {
        Policy::Reject => "reject",
        Policy::Quarantine => "quarantine",
        Policy::None | Policy::Unspecified => "none",
    }
}
