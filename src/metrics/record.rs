//! The recording API: what the pipeline, the milter and the authentication code call.
//! Each call is a few atomic adds; label look-ups happen only for families whose
//! labels come from configuration (rule ids, detectors, levels).

use super::{Metrics, UNMARKED, error_kind, global};
use crate::auth::AuthReport;
use crate::envelope::Envelope;
use crate::policy::{Decision, Finding, FindingKind};
use crate::scan::MessageFacts;
use std::time::Duration;

/// Longest label value taken from finding data; longer values are cut so a
/// misbehaving detector cannot blow up the exposition.
const MAX_LABEL_LEN: usize = 64;

/// The rule id the authentication code gives an outbound message it could not sign.
const DKIM_SIGN_FAILED_RULE: &str = "auth.dkim_sign_failed";

impl Metrics {
    /// Records one final decision: the message counter, its size and duration, every
    /// finding's rule, the classification and DLP detections.
    pub fn record_decision(
        &self,
        env: &Envelope,
        decision: &Decision,
        facts: &MessageFacts,
        size: u64,
        elapsed: Duration,
    ) {
        let direction = env.direction();
        self.messages(direction, decision.action).inc();
        self.message_duration.observe(elapsed.as_secs_f64());
        self.message_size.observe(size as f64);
        let level = facts
            .classification
            .as_ref()
            .and_then(|c| c.level.as_deref())
            .unwrap_or(UNMARKED);
        self.classification
            .with_label_values(&[direction.as_str(), level])
            .inc();
        for f in &decision.findings {
            self.rule_matches
                .with_label_values(&[f.rule_id.as_str(), f.action.as_str()])
                .inc();
            match f.kind {
                FindingKind::Dlp => self.record_dlp_finding(f),
                FindingKind::Internal => self.error(error_kind::INTERNAL),
                _ => {}
            }
        }
    }

    /// Records the authentication results of one message: one `auth_results_total`
    /// per evaluated method (every DKIM signature counts), `temperror` results also in
    /// `errors_total{kind="dns"}` (a DNS lookup failed), and outbound signatures in
    /// `dkim_signatures_total`.
    pub fn record_auth(&self, report: &AuthReport, decision: &Decision) {
        let mut results: Vec<(&str, &str)> = Vec::new();
        if let Some(spf) = &report.spf {
            results.push(("spf", spf.result.as_str()));
        }
        results.extend(report.dkim.iter().map(|d| ("dkim", d.result)));
        if let Some(dmarc) = &report.dmarc {
            results.push(("dmarc", dmarc.result));
        }
        if let Some(arc) = &report.arc {
            results.push(("arc", arc.result));
        }
        for (method, result) in results {
            self.auth_result(method, result);
            if result == "temperror" {
                self.error(error_kind::DNS);
            }
        }
        for _ in &report.signed {
            self.dkim_signature("signed");
        }
        if decision
            .findings
            .iter()
            .any(|f| f.rule_id == DKIM_SIGN_FAILED_RULE)
        {
            self.dkim_signature("failed");
        }
    }

    /// A DLP finding's `data` lists its detectors under `by_detector` (or
    /// `detections`): `{detector, confidence, count}` each; otherwise the finding's own
    /// `{detector, confidence, count}`. A finding without data counts once by its rule
    /// id at `unknown` confidence.
    fn record_dlp_finding(&self, f: &Finding) {
        let Some(data) = &f.data else {
            self.dlp_detections(&f.rule_id, "unknown", 1);
            return;
        };
        let list = ["by_detector", "detections"]
            .iter()
            .find_map(|k| data.get(*k).and_then(|d| d.as_array()));
        let entries: Vec<&serde_json::Value> = match list {
            Some(list) => list.iter().collect(),
            None => vec![data],
        };
        for d in entries {
            self.dlp_detections(
                &label(d.get("detector")).unwrap_or_else(|| f.rule_id.clone()),
                &label(d.get("confidence")).unwrap_or_else(|| "unknown".into()),
                d.get("count").and_then(|c| c.as_u64()).unwrap_or(1),
            );
        }
    }

    /// `count` DLP detections by one configured detector at one confidence.
    pub fn dlp_detections(&self, detector: &str, confidence: &str, count: u64) {
        self.dlp_detections
            .with_label_values(&[detector, confidence])
            .inc_by(count);
    }

    /// One authentication result (`method`: spf, dkim, dmarc, arc; `result`: the
    /// RFC 8601 result keyword: pass, fail, softfail, neutral, none, temperror, permerror).
    pub fn auth_result(&self, method: &str, result: &str) {
        self.auth_results.with_label_values(&[method, result]).inc();
    }

    /// `count` messages of an ingested DMARC aggregate report. The caller bounds
    /// every label (see `dmarc_reports::ingest`).
    pub fn dmarc_report_messages(&self, labels: [&str; 4], count: u64) {
        self.dmarc_report_messages
            .with_label_values(&labels)
            .inc_by(count);
    }

    /// One outbound DKIM signing attempt: `signed`, `failed` or `skipped`.
    pub fn dkim_signature(&self, result: &str) {
        self.dkim_signatures.with_label_values(&[result]).inc();
    }

    /// One resolver cache look-up (`cache` is one of [`super::CACHE_NAMES`]).
    pub fn cache_request(&self, cache: &str, hit: bool) {
        let outcome = if hit { "hit" } else { "miss" };
        self.cache_requests
            .with_label_values(&[cache, outcome])
            .inc();
    }

    /// The current number of entries of one resolver cache.
    pub fn set_cache_entries(&self, cache: &str, entries: u64) {
        self.cache_entries
            .with_label_values(&[cache])
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    /// One DNS lookup that went to the network; a failure (not NXDOMAIN) also counts
    /// in `errors_total{kind="dns"}`.
    pub fn dns_lookup(&self, elapsed: Duration, failed: bool) {
        self.dns_lookup_duration.observe(elapsed.as_secs_f64());
        if failed {
            self.error(error_kind::DNS);
        }
    }

    /// One configuration reload attempt.
    pub fn config_reload(&self, success: bool) {
        let result = if success { "success" } else { "failure" };
        self.config_reloads.with_label_values(&[result]).inc();
        self.config_last_reload_success.set(i64::from(success));
    }

    /// One internal error of a kind from [`super::error_kind`].
    pub fn error(&self, kind: &str) {
        self.errors.with_label_values(&[kind]).inc();
    }
}

fn label(v: Option<&serde_json::Value>) -> Option<String> {
    let s = match v? {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some(truncate(s))
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_LABEL_LEN {
        let mut end = MAX_LABEL_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Counts one open milter connection in `connections_active` for as long as it lives:
/// held by the per-connection session, so a connection that ends any way (close,
/// hang-up, timeout) is counted out.
pub struct ConnectionGuard(());

impl ConnectionGuard {
    pub fn open() -> ConnectionGuard {
        global().connections_active.inc();
        ConnectionGuard(())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        global().connections_active.dec();
    }
}

/// The authentication results of a message for the log line, e.g.
/// `spf=pass dkim=pass dmarc=pass`, or `dkim=signed` for signed outbound mail; `-`
/// when nothing was evaluated.
pub fn auth_summary(report: Option<&AuthReport>, decision: &Decision) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(r) = report {
        if let Some(spf) = &r.spf {
            parts.push(format!("spf={}", spf.result.as_str()));
        }
        parts.extend(r.dkim.iter().map(|d| format!("dkim={}", d.result)));
        if let Some(dmarc) = &r.dmarc {
            parts.push(format!("dmarc={}", dmarc.result));
        }
        if let Some(arc) = &r.arc {
            parts.push(format!("arc={}", arc.result));
        }
        if !r.signed.is_empty() {
            parts.push("dkim=signed".into());
        }
    }
    if !parts.is_empty() {
        return parts.join(" ");
    }
    let parts: Vec<String> = decision
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Auth)
        .filter_map(|f| {
            let data = f.data.as_ref()?;
            Some(format!(
                "{}={}",
                label(data.get("method"))?,
                label(data.get("result"))?
            ))
        })
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Direction;
    use crate::policy::{Action, Classification};
    use serde_json::json;

    fn decision(findings: Vec<Finding>) -> Decision {
        Decision::from_findings(findings)
    }

    fn value(m: &Metrics, needle: &str) -> Option<f64> {
        let text = String::from_utf8(m.render()).unwrap();
        text.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
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
        let d = decision(vec![
            Finding::new("kw.secret", FindingKind::Keyword, Action::Tag, "x"),
            Finding::new("dlp.card", FindingKind::Dlp, Action::Quarantine, "y")
                .with_data(json!({"detector": "credit_card", "confidence": "high"})),
            Finding::new("dlp.ird", FindingKind::Dlp, Action::Tag, "z").with_data(
                json!({"detector": "ird,nhi", "count": 3, "by_detector": [
                    {"detector": "ird", "confidence": "low", "count": 2},
                    {"detector": "nhi", "confidence": "high"},
                ]}),
            ),
        ]);
        m.record_decision(&env, &d, &facts, 20_000, Duration::from_millis(3));
        assert_eq!(
            value(
                &m,
                r#"sgemilter_messages_total{action="quarantine",direction="outbound"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &m,
                r#"sgemilter_rule_matches_total{action="tag",rule="kw.secret"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &m,
                r#"sgemilter_classification_total{direction="outbound",level="SENSITIVE"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &m,
                r#"sgemilter_dlp_detections_total{confidence="high",detector="credit_card"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &m,
                r#"sgemilter_dlp_detections_total{confidence="low",detector="ird"}"#
            ),
            Some(2.0)
        );
        assert_eq!(
            value(
                &m,
                r#"sgemilter_dlp_detections_total{confidence="high",detector="nhi"}"#
            ),
            Some(1.0)
        );
        assert_eq!(value(&m, "sgemilter_message_size_bytes_count"), Some(1.0));
        assert_eq!(
            value(&m, "sgemilter_message_duration_seconds_count"),
            Some(1.0)
        );
    }

    #[test]
    fn unmarked_message_and_internal_error() {
        let m = Metrics::new();
        let d = decision(vec![Finding::new(
            "internal.error",
            FindingKind::Internal,
            Action::Tempfail,
            "x",
        )]);
        m.record_decision(
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
    fn auth_summary_reads_auth_findings() {
        let d = decision(vec![
            Finding::new("auth.spf", FindingKind::Auth, Action::Tag, "x")
                .with_data(json!({"method": "spf", "result": "fail"})),
            Finding::new("auth.dmarc", FindingKind::Auth, Action::Reject, "y")
                .with_data(json!({"method": "dmarc", "result": "fail"})),
        ]);
        assert_eq!(auth_summary(None, &d), "spf=fail dmarc=fail");
        assert_eq!(auth_summary(None, &decision(vec![])), "-");
    }

    #[test]
    fn long_labels_are_cut_on_a_char_boundary() {
        let s = truncate("é".repeat(40));
        assert!(s.len() <= MAX_LABEL_LEN);
        assert!(s.chars().all(|c| c == 'é'));
    }
}
