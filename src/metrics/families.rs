//! The metric families and their registry.

use super::caches::{CacheReading, CacheSource};
use super::{AUTH_METHODS, AUTH_RESULTS, CACHE_NAMES, DKIM_SIGN_RESULTS, UNMARKED, error_kind};
use crate::config::Action;
use crate::envelope::Direction;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

const NAMESPACE: &str = "sgemilter";

/// Latency buckets (seconds) for whole messages and end-of-message work: a clean
/// message takes well under a millisecond, DNS-bound authentication tens of ms.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// DNS round trips: loopback resolvers answer in well under a millisecond, the
/// Internet in tens to hundreds.
const DNS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Message sizes: 1 KiB to 64 MiB (the default size limit) in powers of four.
const SIZE_BUCKETS: &[f64] = &[
    1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0, 67108864.0,
];

const DIRECTIONS: [Direction; 2] = [Direction::Inbound, Direction::Outbound];

/// Every family sge-milter exports, registered in its own registry.
pub struct Metrics {
    registry: Registry,
    /// `messages_total` resolved per (direction, action) once, so counting a message
    /// is one atomic add with no label lookup.
    messages: [[IntCounter; Action::ALL.len()]; DIRECTIONS.len()],
    pub rule_matches: IntCounterVec,
    pub classification: IntCounterVec,
    pub dlp_detections: IntCounterVec,
    pub auth_results: IntCounterVec,
    pub dkim_signatures: IntCounterVec,
    pub dmarc_report_messages: IntCounterVec,
    pub message_duration: Histogram,
    pub eom_duration: Histogram,
    pub message_size: Histogram,
    pub connections_active: IntGauge,
    pub connections_max: IntGauge,
    pub cache_requests: IntCounterVec,
    pub cache_entries: IntGaugeVec,
    pub dns_lookup_duration: Histogram,
    pub config_reloads: IntCounterVec,
    pub config_last_reload_success: IntGauge,
    pub errors: IntCounterVec,
    pub build_info: IntGaugeVec,
    /// TLS policy socketmap, MTA-STS and posture families.
    pub connectors: super::connectors::ConnectorMetrics,
    pub(super) caches: CacheSource,
}

pub(super) fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace(NAMESPACE)
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let o = HistogramOpts::new(name, help)
        .namespace(NAMESPACE)
        .buckets(buckets.to_vec());
    Histogram::with_opts(o).expect("static histogram options are valid")
}

pub(super) fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(opts(name, help), labels).expect("static counter options are valid")
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(opts(name, help), labels).expect("static gauge options are valid")
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every family, with known label values pre-set to zero so
    /// `rate()` and ratios have a series from the first scrape.
    pub fn new() -> Metrics {
        let messages_vec = counter_vec(
            "messages_total",
            "Messages decided, by direction and final action.",
            &["direction", "action"],
        );
        let messages = DIRECTIONS.map(|d| {
            Action::ALL.map(|a| messages_vec.with_label_values(&[d.as_str(), a.as_str()]))
        });
        let m = Metrics {
            registry: Registry::new(),
            messages,
            rule_matches: counter_vec(
                "rule_matches_total",
                "Findings by rule id (from configuration or built in) and the action the rule asked for.",
                &["rule", "action"],
            ),
            classification: counter_vec(
                "classification_total",
                "Messages decided, by direction and protective marking level (unmarked when none).",
                &["direction", "level"],
            ),
            dlp_detections: counter_vec(
                "dlp_detections_total",
                "DLP detections, by configured detector and confidence.",
                &["detector", "confidence"],
            ),
            auth_results: counter_vec(
                "auth_results_total",
                "Inbound authentication results, by method (spf, dkim, dmarc, arc) and result.",
                &["method", "result"],
            ),
            dkim_signatures: counter_vec(
                "dkim_signatures_total",
                "Outbound DKIM signing attempts, by result (signed, failed).",
                &["result"],
            ),
            dmarc_report_messages: counter_vec(
                "dmarc_report_messages_total",
                "Messages counted in ingested DMARC aggregate reports about our domains, by domain ([policy] local_domains, else other), aligned DKIM and SPF result and disposition.",
                &["domain", "dkim", "spf", "disposition"],
            ),
            message_duration: histogram(
                "message_duration_seconds",
                "Time from MAIL FROM to the final decision.",
                LATENCY_BUCKETS,
            ),
            eom_duration: histogram(
                "eom_duration_seconds",
                "Time spent answering end of message (final scanning, authentication, header changes).",
                LATENCY_BUCKETS,
            ),
            message_size: histogram(
                "message_size_bytes",
                "Size of decided messages as received (headers and body).",
                SIZE_BUCKETS,
            ),
            connections_active: IntGauge::with_opts(opts(
                "connections_active",
                "Milter connections currently open.",
            ))
            .expect("static gauge options are valid"),
            connections_max: IntGauge::with_opts(opts(
                "connections_max",
                "The configured [milter] max_connections: connections beyond it wait to be accepted.",
            ))
            .expect("static gauge options are valid"),
            cache_requests: counter_vec(
                "cache_requests_total",
                "Resolver cache look-ups, by cache and outcome (hit, miss).",
                &["cache", "outcome"],
            ),
            cache_entries: gauge_vec(
                "cache_entries",
                "Entries currently held in each resolver cache.",
                &["cache"],
            ),
            dns_lookup_duration: histogram(
                "dns_lookup_duration_seconds",
                "Duration of DNS lookups that went to the network (cache misses).",
                DNS_BUCKETS,
            ),
            config_reloads: counter_vec(
                "config_reloads_total",
                "Configuration reloads (SIGHUP), by result (success, failure).",
                &["result"],
            ),
            config_last_reload_success: IntGauge::with_opts(opts(
                "config_last_reload_success",
                "1 when the last configuration reload succeeded (or none was tried), 0 when it failed and the previous configuration is still running.",
            ))
            .expect("static gauge options are valid"),
            errors: counter_vec("errors_total", "Internal errors, by kind.", &["kind"]),
            build_info: gauge_vec(
                "build_info",
                "Always 1; the version label tells which sge-milter is running.",
                &["version"],
            ),
            connectors: super::connectors::ConnectorMetrics::new(),
            caches: Default::default(),
        };
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        m.config_last_reload_success.set(1);
        for result in ["success", "failure"] {
            m.config_reloads.with_label_values(&[result]);
        }
        for kind in error_kind::ALL {
            m.errors.with_label_values(&[kind]);
        }
        for cache in CACHE_NAMES {
            for outcome in ["hit", "miss"] {
                m.cache_requests.with_label_values(&[cache, outcome]);
            }
            m.cache_entries.with_label_values(&[cache]);
        }
        for method in AUTH_METHODS {
            for result in AUTH_RESULTS {
                m.auth_results.with_label_values(&[method, result]);
            }
        }
        for result in DKIM_SIGN_RESULTS {
            m.dkim_signatures.with_label_values(&[result]);
        }
        for d in DIRECTIONS {
            m.classification.with_label_values(&[d.as_str(), UNMARKED]);
        }
        m.register_all(messages_vec);
        m
    }

    fn register_all(&self, messages: IntCounterVec) {
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(messages),
            Box::new(self.rule_matches.clone()),
            Box::new(self.classification.clone()),
            Box::new(self.dlp_detections.clone()),
            Box::new(self.auth_results.clone()),
            Box::new(self.dkim_signatures.clone()),
            Box::new(self.dmarc_report_messages.clone()),
            Box::new(self.message_duration.clone()),
            Box::new(self.eom_duration.clone()),
            Box::new(self.message_size.clone()),
            Box::new(self.connections_active.clone()),
            Box::new(self.connections_max.clone()),
            Box::new(self.cache_requests.clone()),
            Box::new(self.cache_entries.clone()),
            Box::new(self.dns_lookup_duration.clone()),
            Box::new(self.config_reloads.clone()),
            Box::new(self.config_last_reload_success.clone()),
            Box::new(self.errors.clone()),
            Box::new(self.build_info.clone()),
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ];
        for c in collectors {
            self.registry
                .register(c)
                .expect("metric names are unique and valid");
        }
        self.connectors.register(&self.registry);
    }

    /// The counter for one (direction, action) pair.
    pub fn messages(&self, direction: Direction, action: Action) -> &IntCounter {
        let d = match direction {
            Direction::Inbound => 0,
            Direction::Outbound => 1,
        };
        &self.messages[d][action as usize]
    }

    /// Every family in the Prometheus text exposition format.
    pub fn render(&self) -> Vec<u8> {
        self.caches
            .refresh(&self.cache_requests, &self.cache_entries);
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec cannot fail on I/O; a failure would be a malformed
        // family, which `register` already rejected.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }

    /// Sets the function read at every scrape for the resolver caches' counts.
    pub fn set_cache_source(&self, f: impl Fn() -> Vec<CacheReading> + Send + Sync + 'static) {
        self.caches.set(f);
    }

    /// The content type of [`Metrics::render`]'s output.
    pub fn content_type(&self) -> &'static str {
        prometheus::TEXT_FORMAT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// Families whose labels come from configuration (rules, DLP detectors) appear at
    /// their first sample; every other family is exported from the start.
    fn every_family_is_exported_with_prefix_and_presets() {
        let m = Metrics::new();
        m.messages(Direction::Outbound, Action::Reject).inc();
        let text = String::from_utf8(m.render()).unwrap();
        for family in [
            "sgemilter_messages_total",
            "sgemilter_classification_total",
            "sgemilter_auth_results_total",
            "sgemilter_dkim_signatures_total",
            "sgemilter_message_duration_seconds",
            "sgemilter_eom_duration_seconds",
            "sgemilter_message_size_bytes",
            "sgemilter_connections_active",
            "sgemilter_connections_max",
            "sgemilter_cache_requests_total",
            "sgemilter_cache_entries",
            "sgemilter_dns_lookup_duration_seconds",
            "sgemilter_config_reloads_total",
            "sgemilter_config_last_reload_success",
            "sgemilter_errors_total",
            "sgemilter_build_info",
        ] {
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{family} missing:\n{text}"
            );
        }
        assert!(
            text.contains(r#"sgemilter_messages_total{action="reject",direction="outbound"} 1"#)
        );
        assert!(
            text.contains(r#"sgemilter_messages_total{action="accept",direction="inbound"} 0"#)
        );
        assert!(text.contains(r#"sgemilter_config_reloads_total{result="failure"} 0"#));
        assert!(text.contains("sgemilter_build_info{version=\""));
    }
}
