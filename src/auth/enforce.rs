//! Turning authentication results into findings (pure: no I/O).

use super::inbound::InboundResults;
use super::spf_check::{SpfOutcome, SpfVerdict};
use crate::config::auth::AuthConfig;
use crate::domain::{DomainSet, is_within, normalize};
use crate::policy::{Action, Finding, FindingKind};

/// What inbound authentication results lead to: the actions of `[auth]` and the
/// domains they depend on, compiled once per configuration.
#[derive(Clone, Debug)]
pub struct AuthPolicy {
    pub dmarc_reject: Action,
    pub dmarc_quarantine: Action,
    pub dmarc_none: Action,
    pub spf_fail: Action,
    pub spf_softfail: Action,
    pub dns_error: Action,
    pub permerror: Action,
    /// Exact sealer names (an ARC sealer vouches for itself, not its sub-domains).
    pub trusted_arc_sealers: Vec<String>,
    /// `[policy] local_domains`.
    pub local_domains: DomainSet,
    pub local_spoof: Action,
}

impl AuthPolicy {
    pub fn new(cfg: &AuthConfig, local_domains: &[String]) -> Self {
        AuthPolicy {
            dmarc_reject: cfg.dmarc_reject_action,
            dmarc_quarantine: cfg.dmarc_quarantine_action,
            dmarc_none: cfg.dmarc_none_action,
            spf_fail: cfg.spf_fail_action,
            spf_softfail: cfg.spf_softfail_action,
            dns_error: cfg.dns_error_action,
            permerror: cfg.permerror_action,
            trusted_arc_sealers: cfg
                .trusted_arc_sealers
                .iter()
                .map(|d| normalize(d))
                .filter(|d| !d.is_empty())
                .collect(),
            local_domains: DomainSet::from_names(local_domains),
            local_spoof: cfg.local_domain_spoof_action,
        }
    }

    /// Whether `domain` is one of ours (or a sub-domain of one).
    pub fn is_local(&self, domain: &str) -> bool {
        self.local_domains.covers(domain)
    }
}

/// Relaxed alignment, approximated without the public suffix list: one domain is
/// the other or a sub-domain of it.
fn aligned(a: &str, b: &str) -> bool {
    is_within(a, b) || is_within(b, a)
}

fn finding(rule: &str, action: Action, detail: String) -> Finding {
    Finding::new(rule, FindingKind::Auth, action, detail)
}

/// Findings for an inbound message's authentication results.
pub fn inbound_findings(e: &AuthPolicy, spf: &SpfVerdict, r: &InboundResults) -> Vec<Finding> {
    let mut out = Vec::new();
    let dmarc = &r.dmarc;
    let arc_vouches = r.arc.result == "pass"
        && r.arc
            .sealer
            .as_deref()
            .is_some_and(|s| e.trusted_arc_sealers.iter().any(|t| t == s));
    // pct= sampled this message out: the next milder policy applies (RFC 7489 §6.6.4).
    let policy = match (dmarc.policy, dmarc.sampled_out == Some(true)) {
        ("reject", true) => "quarantine",
        ("quarantine", true) => "none",
        (p, _) => p,
    };
    match dmarc.result {
        "fail" if arc_vouches => out.push(finding(
            "auth.dmarc_arc_override",
            Action::Accept,
            format!(
                "DMARC failed for {} but trusted ARC sealer {} vouches for it",
                dmarc.domain,
                r.arc.sealer.as_deref().unwrap_or("")
            ),
        )),
        "fail" => {
            let (rule, action) = match policy {
                "reject" => ("auth.dmarc_reject", e.dmarc_reject),
                "quarantine" => ("auth.dmarc_quarantine", e.dmarc_quarantine),
                _ => ("auth.dmarc_fail", e.dmarc_none),
            };
            out.push(
                finding(
                    rule,
                    action,
                    format!(
                        "DMARC policy of {} (p={}) not met: message not authenticated by SPF or DKIM aligned with the From domain",
                        dmarc.domain, dmarc.policy
                    ),
                )
                .with_reply_code(550, "5.7.1"),
            );
        }
        "temperror" => out.push(
            finding(
                "auth.dns_temperror",
                e.dns_error,
                format!(
                    "DMARC of {} could not be checked: temporary DNS failure, try again later",
                    if dmarc.domain.is_empty() {
                        "the sender"
                    } else {
                        &dmarc.domain
                    }
                ),
            )
            .with_reply_code(451, "4.7.1"),
        ),
        "permerror" => out.push(finding(
            "auth.dmarc_permerror",
            e.permerror,
            format!("DMARC record of {} is invalid", dmarc.domain),
        )),
        // pass: decided; none: no policy, SPF alone speaks below.
        _ => {}
    }
    if dmarc.result == "none" {
        out.extend(spf_findings(e, spf));
    }
    out.extend(local_spoof_finding(e, spf, r));
    out
}

/// SPF on its own, for mail whose From domain publishes no DMARC policy.
pub fn spf_findings(e: &AuthPolicy, spf: &SpfVerdict) -> Option<Finding> {
    let d = &spf.domain;
    Some(match spf.result {
        SpfOutcome::Fail => finding(
            "auth.spf_fail",
            e.spf_fail,
            match &spf.explanation {
                // The domain's own words (exp=), already printable ASCII and bounded
                // by the SPF evaluator; the reply text is sanitised again when built.
                Some(exp) => format!("SPF of {d} does not authorise the sending host: {exp}"),
                None => format!("SPF of {d} does not authorise the sending host"),
            },
        )
        .with_reply_code(550, "5.7.23"),
        SpfOutcome::SoftFail => finding(
            "auth.spf_softfail",
            e.spf_softfail,
            format!("SPF of {d} says the sending host is probably not authorised (softfail)"),
        )
        .with_reply_code(550, "5.7.23"),
        SpfOutcome::TempError => finding(
            "auth.dns_temperror",
            e.dns_error,
            format!("SPF of {d} could not be checked: temporary DNS failure, try again later"),
        )
        .with_reply_code(451, "4.7.24"),
        SpfOutcome::PermError => finding(
            "auth.spf_permerror",
            e.permerror,
            format!("SPF record of {d} is invalid"),
        )
        .with_reply_code(550, "5.7.24"),
        _ => return None,
    })
}

/// NZISM 15.2.37: mail from outside claiming one of our domains must authenticate.
fn local_spoof_finding(e: &AuthPolicy, spf: &SpfVerdict, r: &InboundResults) -> Option<Finding> {
    let envelope_domain = (!spf.sender.is_empty()).then(|| spf.domain.to_ascii_lowercase());
    let claimed: Vec<&str> = r
        .from_domains
        .iter()
        .map(String::as_str)
        .chain(envelope_domain.as_deref())
        .filter(|d| e.is_local(d))
        .collect();
    let first = *claimed.first()?;
    let dkim_pass = |d: &str| {
        r.dkim
            .iter()
            .any(|k| k.result == "pass" && aligned(&k.domain, d))
    };
    let spf_pass = |d: &str| spf.result == SpfOutcome::Pass && aligned(&spf.domain, d);
    let authenticated = claimed.iter().all(|d| {
        (r.dmarc.result == "pass" && aligned(&r.dmarc.domain, d)) || dkim_pass(d) || spf_pass(d)
    });
    if authenticated {
        return None;
    }
    let transient = spf.result == SpfOutcome::TempError
        || r.dkim.iter().any(|k| k.result == "temperror")
        || r.dmarc.result == "temperror";
    Some(if transient {
        finding(
            "auth.dns_temperror",
            e.dns_error,
            format!("mail claiming local domain {first} could not be authenticated: temporary DNS failure, try again later"),
        )
        .with_reply_code(451, "4.7.1")
    } else {
        finding(
            "auth.local_domain_spoof",
            e.local_spoof,
            format!(
                "mail from outside claims local domain {first} but fails SPF/DKIM authentication"
            ),
        )
        .with_reply_code(550, "5.7.1")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::report::{ArcVerdict, DkimVerdict, DmarcVerdict};
    use crate::auth::spf_check::SpfIdentity;

    fn enforcement() -> AuthPolicy {
        let cfg = AuthConfig {
            trusted_arc_sealers: vec!["lists.example".into()],
            ..Default::default()
        };
        AuthPolicy::new(&cfg, &["agency.govt.nz".into()])
    }

    fn spf(result: SpfOutcome, domain: &str) -> SpfVerdict {
        SpfVerdict {
            result,
            domain: domain.into(),
            identity: SpfIdentity::MailFrom,
            explanation: None,
            client_ip: None,
            helo: "mx.example".into(),
            sender: format!("a@{domain}"),
        }
    }

    fn results(dmarc: &'static str, policy: &'static str, from: &str) -> InboundResults {
        InboundResults {
            dkim: vec![],
            dmarc: DmarcVerdict {
                result: dmarc,
                policy,
                domain: from.into(),
                sampled_out: None,
            },
            arc: ArcVerdict {
                result: "none",
                sealer: None,
                instances: 0,
            },
            dmarc_output: Default::default(),
            from_domains: vec![from.into()],
            header_value: String::new(),
        }
    }

    #[test]
    fn dmarc_reject_rejects_with_550_naming_domain() {
        let f = inbound_findings(
            &enforcement(),
            &spf(SpfOutcome::Fail, "bad.example"),
            &results("fail", "reject", "bank.example"),
        );
        assert_eq!(f[0].action, Action::Reject);
        assert_eq!(f[0].reply_code, Some((550, "5.7.1")));
        assert!(f[0].detail.contains("DMARC") && f[0].detail.contains("bank.example"));
        // SPF alone is not judged when DMARC decided.
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn trusted_arc_sealer_overrides_dmarc_fail() {
        let mut r = results("fail", "reject", "bank.example");
        r.arc = ArcVerdict {
            result: "pass",
            sealer: Some("lists.example".into()),
            instances: 1,
        };
        let f = inbound_findings(&enforcement(), &spf(SpfOutcome::Fail, "lists.example"), &r);
        assert_eq!(f[0].action, Action::Accept);
        r.arc.sealer = Some("other.example".into());
        let f = inbound_findings(&enforcement(), &spf(SpfOutcome::Fail, "lists.example"), &r);
        assert_eq!(f[0].action, Action::Reject);
    }

    #[test]
    fn spf_without_dmarc_tags_and_temperror_tempfails() {
        let e = enforcement();
        let f = inbound_findings(
            &e,
            &spf(SpfOutcome::Fail, "x.example"),
            &results("none", "none", "x.example"),
        );
        assert_eq!(f[0].action, Action::Tag);
        let f = inbound_findings(
            &e,
            &spf(SpfOutcome::TempError, "x.example"),
            &results("none", "none", "x.example"),
        );
        assert_eq!(f[0].action, Action::Tempfail);
        assert_eq!(f[0].reply_code.unwrap().0, 451);
    }

    #[test]
    fn local_domain_from_outside_must_authenticate() {
        let e = enforcement();
        let r = results("none", "none", "agency.govt.nz");
        let f = inbound_findings(&e, &spf(SpfOutcome::None, "elsewhere.example"), &r);
        assert!(
            f.iter()
                .any(|f| f.rule_id == "auth.local_domain_spoof" && f.action == Action::Reject)
        );
        let mut r = results("none", "none", "mail.agency.govt.nz");
        r.dkim.push(DkimVerdict {
            domain: "agency.govt.nz".into(),
            selector: "s".into(),
            algorithm: "ed25519-sha256",
            result: "pass",
            reason: None,
        });
        let f = inbound_findings(&e, &spf(SpfOutcome::None, "elsewhere.example"), &r);
        assert!(f.iter().all(|f| f.rule_id != "auth.local_domain_spoof"));
    }
}
