//! The recording API: what the pipeline, the milter and the authentication code call.
//! Callers pass plain values (direction, action, label strings, counts); this module
//! knows nothing of findings, scanners or authentication reports. Each call is a few
//! atomic adds; label look-ups happen only for families whose labels come from
//! configuration (rule ids, detectors, levels).

use super::{Metrics, UNMARKED, error_kind, global};
use crate::config::Action;
use crate::envelope::Direction;
use std::time::Duration;

/// Longest detector label; longer names are cut so a misbehaving detector cannot
/// blow up the exposition.
const MAX_LABEL_LEN: usize = 64;

impl Metrics {
    /// One decided message: the message counter, its size and duration, and its
    /// protective marking level (`None`: unmarked).
    pub fn message(
        &self,
        direction: Direction,
        action: Action,
        level: Option<&str>,
        size: u64,
        elapsed: Duration,
    ) {
        self.messages(direction, action).inc();
        self.message_duration.observe(elapsed.as_secs_f64());
        self.message_size.observe(size as f64);
        self.classification
            .with_label_values(&[direction.as_str(), level.unwrap_or(UNMARKED)])
            .inc();
    }

    /// One finding of a rule, with the action the rule asked for.
    pub fn rule_match(&self, rule: &str, action: Action) {
        self.rule_matches
            .with_label_values(&[rule, action.as_str()])
            .inc();
    }

    /// `count` DLP detections by one configured detector at one confidence.
    pub fn dlp_detections(&self, detector: &str, confidence: &str, count: u64) {
        self.dlp_detections
            .with_label_values(&[&label(detector), confidence])
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

    /// One outbound DKIM signing attempt: `signed` or `failed`.
    pub fn dkim_signature(&self, result: &str) {
        self.dkim_signatures.with_label_values(&[result]).inc();
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
        let result = if success { "success" } else { "error" };
        self.config_reloads.with_label_values(&[result]).inc();
        self.config_last_reload_success.set(i64::from(success));
    }

    /// One message tempfailed for a full in-flight byte budget, at a stage from
    /// [`super::in_flight_stage`].
    pub fn in_flight_refusal(&self, stage: &str) {
        self.in_flight_refusals.with_label_values(&[stage]).inc();
    }

    /// One internal error of a kind from [`super::error_kind`].
    pub fn error(&self, kind: &str) {
        self.errors.with_label_values(&[kind]).inc();
    }
}

/// A detector name, cut to [`MAX_LABEL_LEN`] on a char boundary.
fn label(s: &str) -> std::borrow::Cow<'_, str> {
    if s.len() <= MAX_LABEL_LEN {
        return s.into();
    }
    let mut end = MAX_LABEL_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].into()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn value(m: &Metrics, needle: &str) -> Option<f64> {
        let text = String::from_utf8(m.render()).unwrap();
        text.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn message_rule_and_detections_count_by_label() {
        let m = Metrics::new();
        m.message(
            Direction::Outbound,
            Action::Quarantine,
            Some("SENSITIVE"),
            20_000,
            Duration::from_millis(3),
        );
        m.message(Direction::Inbound, Action::Accept, None, 10, Duration::ZERO);
        m.rule_match("kw.secret", Action::Tag);
        m.dlp_detections("ird", "low", 2);
        m.dlp_detections("ird", "low", 1);
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
                r#"sgemilter_classification_total{direction="inbound",level="unmarked"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &m,
                r#"sgemilter_dlp_detections_total{confidence="low",detector="ird"}"#
            ),
            Some(3.0)
        );
        assert_eq!(value(&m, "sgemilter_message_size_bytes_count"), Some(2.0));
    }

    #[test]
    fn long_labels_are_cut_on_a_char_boundary() {
        let long = "é".repeat(40);
        let s = label(&long);
        assert!(s.len() <= MAX_LABEL_LEN);
        assert!(s.chars().all(|c| c == 'é'));
    }
}
