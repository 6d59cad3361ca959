//! Turning one inbound message's DMARC evaluation into the plain value
//! `[dmarc_reports]` counts (pure: no I/O, no locks).

use super::record::{Disposition, DkimAuth, DmarcRecord, Observation, Published, Reason, SpfAuth};
use crate::auth::inbound::InboundResults;
use crate::auth::spf_check::{SpfIdentity, SpfVerdict};
use crate::policy::{Action, Finding};
use mail_auth::DmarcResult;
use mail_auth::dmarc::{Alignment, Policy};

/// The observation for a message whose From domain publishes a DMARC record
/// asking for aggregate reports; `None` otherwise (nobody to report to).
pub fn observation(
    spf: &SpfVerdict,
    results: &InboundResults,
    findings: &[Finding],
) -> Option<Observation> {
    let output = &results.dmarc_output;
    let record = output.dmarc_record().filter(|r| !r.rua.is_empty())?;
    let domain = results.dmarc.domain.clone();
    let applied = findings.iter().find(|f| {
        matches!(
            f.rule_id.as_str(),
            "auth.dmarc_reject"
                | "auth.dmarc_quarantine"
                | "auth.dmarc_fail"
                | "auth.dmarc_arc_override"
        )
    });
    let disposition = match applied.map(|f| f.action) {
        Some(Action::Reject | Action::Discard | Action::Tempfail) => Disposition::Reject,
        Some(Action::Quarantine) => Disposition::Quarantine,
        _ => Disposition::None,
    };
    let reasons = reasons(results, applied, disposition);
    let published = Published {
        domain: domain.clone(),
        p: policy_word(record.p).into(),
        sp: policy_word(record.sp).into(),
        adkim: alignment_word(record.adkim).into(),
        aspf: alignment_word(record.aspf).into(),
        testing: record.t,
        rua: record
            .rua
            .iter()
            .map(|u| (u.uri().to_string(), u.max_size()))
            .collect(),
    };
    let row = DmarcRecord {
        policy_domain: domain,
        source_ip: spf.client_ip,
        header_from: results.from_domains.first().cloned().unwrap_or_default(),
        envelope_from: spf.domain.to_ascii_lowercase(),
        dkim: results
            .dkim
            .iter()
            .map(|d| DkimAuth {
                domain: d.domain.clone(),
                selector: d.selector.clone(),
                result: d.result.into(),
            })
            .collect(),
        spf: SpfAuth {
            domain: spf.domain.to_ascii_lowercase(),
            scope: match spf.identity {
                SpfIdentity::MailFrom => "mfrom",
                SpfIdentity::Helo => "helo",
            }
            .into(),
            result: spf.result.as_str().into(),
        },
        dkim_aligned: matches!(output.dkim_result(), DmarcResult::Pass),
        spf_aligned: matches!(output.spf_result(), DmarcResult::Pass),
        disposition,
        reasons,
    };
    Some(Observation {
        record: row,
        published,
    })
}

/// Why the applied disposition is not the published policy.
fn reasons(
    results: &InboundResults,
    applied: Option<&Finding>,
    disposition: Disposition,
) -> Vec<Reason> {
    let dmarc = &results.dmarc;
    let mut out = Vec::new();
    if applied.is_some_and(|f| f.rule_id == "auth.dmarc_arc_override") {
        out.push(Reason {
            kind: "trusted_forwarder".into(),
            comment: format!(
                "ARC chain sealed by trusted {}",
                results.arc.sealer.as_deref().unwrap_or("")
            ),
        });
        return out;
    }
    if dmarc.result != "fail" {
        return out;
    }
    let mut policy = dmarc.policy;
    if dmarc.sampled_out == Some(true) {
        out.push(Reason {
            kind: "sampled_out".into(),
            comment: "pct= sampled this message out of the policy".into(),
        });
        policy = if policy == "reject" {
            "quarantine"
        } else {
            "none"
        };
    }
    if policy != disposition.as_str() {
        out.push(Reason {
            kind: "local_policy".into(),
            comment: format!(
                "[auth] action {} for p={policy}",
                applied.map_or("accept", |f| f.action.as_str())
            ),
        });
    }
    out
}

fn policy_word(p: Policy) -> &'static str {
    match p {
        Policy::Reject => "reject",
        Policy::Quarantine => "quarantine",
        Policy::None | Policy::Unspecified => "none",
    }
}

fn alignment_word(a: Alignment) -> &'static str {
    match a {
        Alignment::Strict => "s",
        Alignment::Relaxed => "r",
    }
}
