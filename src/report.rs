//! Reporting one final decision: the structured log line and the metrics. This is
//! where a [`Decision`], its findings, the scanners' [`MessageFacts`] and the
//! [`AuthReport`] become the plain values the metrics API takes, so the metrics know
//! nothing of scanners or authentication.

use crate::auth::{AuthReport, SIGN_FAILED_RULE};
use crate::envelope::Envelope;
use crate::metrics::{Metrics, UNMARKED, error_kind, global};
use crate::policy::{Decision, FindingKind};
use crate::scan::MessageFacts;
use std::time::Duration;

/// The one place a final decision is reported: the structured log line and the
/// metrics. `size` is the bytes received, `elapsed` the time since MAIL FROM.
pub fn report_decision(
    env: &Envelope,
    decision: &Decision,
    facts: &MessageFacts,
    auth: Option<&AuthReport>,
    size: u64,
    elapsed: Duration,
) {
    log_decision(env, decision, facts, auth, elapsed);
    let metrics = global();
    record_decision(metrics, env, decision, facts, size, elapsed);
    if let Some(report) = auth {
        record_auth(metrics, report, decision);
    }
}

/// Records one final decision: the message counter, its size and duration, every
/// finding's rule, the classification, DLP detections and internal errors.
pub fn record_decision(
    metrics: &Metrics,
    env: &Envelope,
    decision: &Decision,
    facts: &MessageFacts,
    size: u64,
    elapsed: Duration,
) {
    metrics.message(
        env.direction(),
        decision.action,
        level(facts),
        size,
        elapsed,
    );
    for f in &decision.findings {
        metrics.rule_match(&f.rule_id, f.action);
        match f.kind {
            // A DLP finding without detections (none today) counts once by its rule.
            FindingKind::Dlp if f.detections.is_empty() => {
                metrics.dlp_detections(&f.rule_id, "unknown", 1)
            }
            FindingKind::Dlp => {
                for d in &f.detections {
                    metrics.dlp_detections(&d.detector, d.confidence, d.count);
                }
            }
            FindingKind::Internal => metrics.error(error_kind::INTERNAL),
            _ => {}
        }
    }
}

/// Records the authentication results of one message: one `auth_results_total`
/// per evaluated method (every DKIM signature counts), `temperror` results also in
/// `errors_total{kind="dns"}` (a DNS lookup failed), and outbound signatures in
/// `dkim_signatures_total`.
pub fn record_auth(metrics: &Metrics, report: &AuthReport, decision: &Decision) {
    for (method, result) in report.results() {
        metrics.auth_result(method, result);
        if result == "temperror" {
            metrics.error(error_kind::DNS);
        }
    }
    for _ in &report.signed {
        metrics.dkim_signature("signed");
    }
    if decision
        .findings
        .iter()
        .any(|f| f.rule_id == SIGN_FAILED_RULE)
    {
        metrics.dkim_signature("failed");
    }
}

/// Logs the one structured line per message decision.
pub fn log_decision(
    env: &Envelope,
    decision: &Decision,
    facts: &MessageFacts,
    auth: Option<&AuthReport>,
    elapsed: Duration,
) {
    let reply = decision.smtp_reply.as_ref().map(ToString::to_string);
    tracing::info!(
        queue_id = env.queue_id.as_deref().unwrap_or("-"),
        direction = %env.direction(),
        action = %decision.action,
        rules = %decision.rule_ids(),
        classification = level(facts).unwrap_or(UNMARKED),
        auth = %auth_summary(auth),
        client = %env.client_ip.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
        from = env.mail_from.as_deref().unwrap_or("-"),
        rcpts = env.rcpts.len(),
        reply = reply.as_deref().unwrap_or("-"),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "decision"
    );
}

/// The protective marking level the scanners read, `None` when unmarked.
fn level(facts: &MessageFacts) -> Option<&str> {
    facts
        .classification
        .as_ref()
        .and_then(|c| c.level.as_deref())
}

/// The authentication results of a message for the log line, e.g.
/// `spf=pass dkim=pass dmarc=pass`, or `dkim=signed` for signed outbound mail; `-`
/// when nothing was evaluated.
pub fn auth_summary(report: Option<&AuthReport>) -> String {
    let Some(r) = report else {
        return "-".into();
    };
    let mut parts: Vec<String> = r
        .results()
        .into_iter()
        .map(|(method, result)| format!("{method}={result}"))
        .collect();
    if !r.signed.is_empty() {
        parts.push("dkim=signed".into());
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::report::{DkimVerdict, SignedWith};
    use crate::envelope::Direction;
    use crate::policy::{Action, Classification, Detection, Finding};

    fn value(m: &Metrics, needle: &str) -> Option<f64> {
        let text = String::from_utf8(m.render()).unwrap();
        text.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    fn detection(detector: &str, confidence: &'static str, count: u64) -> Detection {
        Detection {
            detector: detector.into(),
            confidence,
            count,
        }
    }

    #[test]
    fn decision_counts_message_rules_classification_and_dlp() {
        let m = Metrics::new();
        let env = Envelope {
            direction: Some(Direction::Outbound),
            ..Default::default()
        };
        let facts = MessageFacts {
            classification: Some(Classification {
                level: Some("SENSITIVE".into()),
                rank: 3,
                ..Default::default()
            }),
            ..Default::default()
        };
        let d = Decision::from_findings(vec![
            Finding::new("kw.secret", FindingKind::Keyword, Action::Tag, "x"),
            Finding::new("dlp.card", FindingKind::Dlp, Action::Quarantine, "y")
                .with_detections(vec![detection("credit_card", "high", 1)]),
            Finding::new("dlp.ird", FindingKind::Dlp, Action::Tag, "z").with_detections(vec![
                detection("ird", "low", 2),
                detection("nhi", "high", 1),
            ]),
            Finding::new("dlp.bare", FindingKind::Dlp, Action::Tag, "w"),
        ]);
        record_decision(&m, &env, &d, &facts, 20_000, Duration::from_millis(3));
        for (series, want) in [
            (
                r#"sgemilter_messages_total{action="quarantine",direction="outbound"}"#,
                1.0,
            ),
            (
                r#"sgemilter_rule_matches_total{action="tag",rule="kw.secret"}"#,
                1.0,
            ),
            (
                r#"sgemilter_classification_total{direction="outbound",level="SENSITIVE"}"#,
                1.0,
            ),
            (
                r#"sgemilter_dlp_detections_total{confidence="high",detector="credit_card"}"#,
                1.0,
            ),
            (
                r#"sgemilter_dlp_detections_total{confidence="low",detector="ird"}"#,
                2.0,
            ),
            (
                r#"sgemilter_dlp_detections_total{confidence="high",detector="nhi"}"#,
                1.0,
            ),
            (
                r#"sgemilter_dlp_detections_total{confidence="unknown",detector="dlp.bare"}"#,
                1.0,
            ),
            ("sgemilter_message_size_bytes_count", 1.0),
            ("sgemilter_message_duration_seconds_count", 1.0),
        ] {
            assert_eq!(value(&m, series), Some(want), "{series}");
        }
    }

    #[test]
    fn unmarked_message_and_internal_error() {
        let m = Metrics::new();
        let d = Decision::from_findings(vec![Finding::new(
            "internal.error",
            FindingKind::Internal,
            Action::Tempfail,
            "x",
        )]);
        record_decision(
            &m,
            &Envelope::default(),
            &d,
            &MessageFacts::default(),
            10,
            Duration::ZERO,
        );
        assert_eq!(
            value(
                &m,
                r#"sgemilter_classification_total{direction="inbound",level="unmarked"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            value(&m, r#"sgemilter_errors_total{kind="internal"}"#),
            Some(1.0)
        );
    }

    #[test]
    fn auth_results_signatures_and_summary() {
        let m = Metrics::new();
        let report = AuthReport {
            dkim: vec![DkimVerdict {
                domain: "a.test".into(),
                selector: "s".into(),
                algorithm: "ed25519-sha256",
                result: "temperror",
                reason: None,
            }],
            signed: vec![SignedWith {
                domain: "a.test".into(),
                selector: "s".into(),
                algorithm: "ed25519-sha256",
            }],
            ..Default::default()
        };
        let failed = Decision::from_findings(vec![Finding::new(
            SIGN_FAILED_RULE,
            FindingKind::Auth,
            Action::Tempfail,
            "x",
        )]);
        record_auth(&m, &report, &failed);
        for (series, want) in [
            (
                r#"sgemilter_auth_results_total{method="dkim",result="temperror"}"#,
                1.0,
            ),
            (r#"sgemilter_errors_total{kind="dns"}"#, 1.0),
            (r#"sgemilter_dkim_signatures_total{result="signed"}"#, 1.0),
            (r#"sgemilter_dkim_signatures_total{result="failed"}"#, 1.0),
        ] {
            assert_eq!(value(&m, series), Some(want), "{series}");
        }
        assert_eq!(auth_summary(Some(&report)), "dkim=temperror dkim=signed");
        assert_eq!(auth_summary(Some(&AuthReport::default())), "-");
        assert_eq!(auth_summary(None), "-");
    }
}
