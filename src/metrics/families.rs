//! The metric families and their registry.

use super::caches::{CacheReading, CacheSource};
use super::family::{Family, counter, counter_vec, gauge, gauge_vec, histogram};
use super::{AUTH_METHODS, AUTH_RESULTS, CACHE_NAMES, DKIM_SIGN_RESULTS, UNMARKED, error_kind};
use crate::config::Action;
use crate::envelope::Direction;
use prometheus::{
    Encoder, Histogram, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry, TextEncoder,
};

/// Latency buckets (seconds) for whole messages and end-of-message work: a clean
/// message takes well under a millisecond, DNS-bound authentication tens of ms.
/// 2 ms is a bound of its own: the end-of-message p99 target (README Performance).
const LATENCY_BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.002, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0, 30.0,
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
    pub message_duration: Histogram,
    pub eom_duration: Histogram,
    pub message_size: Histogram,
    pub connections_active: IntGauge,
    pub connections_max: IntGauge,
    pub cache_requests: IntCounterVec,
    pub cache_entries: IntGaugeVec,
    pub dns_lookup_duration: Histogram,
    pub in_flight_refusals: IntCounterVec,
    pub config_reloads: IntCounterVec,
    pub config_last_reload_success: IntGauge,
    pub errors: IntCounterVec,
    pub dmarc_report_messages: IntCounterVec,
    pub direction_hints: IntCounter,
    pub build_info: IntGaugeVec,
    /// TLS policy socketmap, MTA-STS and posture families.
    pub connectors: super::connectors::ConnectorMetrics,
    pub(super) caches: CacheSource,
}

const RULE_MATCHES_TOTAL: Family = Family {
    name: "rule_matches_total",
    help: "Findings by rule id (from configuration or built in) and the action the rule asked for.",
    labels: &["rule", "action"],
};

const CLASSIFICATION_TOTAL: Family = Family {
    name: "classification_total",
    help: "Messages decided, by direction and protective marking level (unmarked when none).",
    labels: &["direction", "level"],
};

const DLP_DETECTIONS_TOTAL: Family = Family {
    name: "dlp_detections_total",
    help: "DLP detections, by configured detector and confidence.",
    labels: &["detector", "confidence"],
};

const AUTH_RESULTS_TOTAL: Family = Family {
    name: "auth_results_total",
    help: "Inbound authentication results, by method (spf, dkim, dmarc, arc) and result.",
    labels: &["method", "result"],
};

const DKIM_SIGNATURES_TOTAL: Family = Family {
    name: "dkim_signatures_total",
    help: "Outbound DKIM signing attempts, by result (signed, failed).",
    labels: &["result"],
};

const CONNECTIONS_MAX: Family = Family {
    name: "connections_max",
    help: "The configured [milter] max_connections: connections beyond it wait to be accepted.",
    labels: &[],
};

const CACHE_REQUESTS_TOTAL: Family = Family {
    name: "cache_requests_total",
    help: "Resolver cache look-ups, by cache and outcome (hit, miss).",
    labels: &["cache", "outcome"],
};

const CACHE_ENTRIES: Family = Family {
    name: "cache_entries",
    help: "Entries currently held in each resolver cache.",
    labels: &["cache"],
};

const CONFIG_RELOADS_TOTAL: Family = Family {
    name: "config_reloads_total",
    help: "Configuration reloads (SIGHUP), by result (success, error).",
    labels: &["result"],
};

const ERRORS_TOTAL: Family = Family {
    name: "errors_total",
    help: "Internal errors, by kind.",
    labels: &["kind"],
};

const BUILD_INFO: Family = Family {
    name: "build_info",
    help: "Always 1; the version label tells which sge-milter is running.",
    labels: &["version"],
};

const MESSAGE_DURATION_SECONDS: Family = Family {
    name: "message_duration_seconds",
    help: "Time from MAIL FROM to the final decision.",
    labels: &[],
};

const EOM_DURATION_SECONDS: Family = Family {
    name: "eom_duration_seconds",
    help: "Time spent answering end of message (final scanning, authentication, header changes).",
    labels: &[],
};

const MESSAGE_SIZE_BYTES: Family = Family {
    name: "message_size_bytes",
    help: "Size of decided messages as received (headers and body).",
    labels: &[],
};

const DNS_LOOKUP_DURATION_SECONDS: Family = Family {
    name: "dns_lookup_duration_seconds",
    help: "Duration of DNS lookups that went to the network (cache misses).",
    labels: &[],
};

const IN_FLIGHT_REFUSALS_TOTAL: Family = Family {
    name: "in_flight_refusals_total",
    help: "Messages tempfailed (451 4.3.1) because [limits] max_in_flight_bytes was used up, by stage: mail (a new message at MAIL FROM) or data (a message whose next bytes would overflow it).",
    labels: &["stage"],
};

const CONNECTIONS_ACTIVE: Family = Family {
    name: "connections_active",
    help: "Milter connections currently open.",
    labels: &[],
};

const CONFIG_LAST_RELOAD_SUCCESS: Family = Family {
    name: "config_last_reload_success",
    help: "1 when the last configuration reload succeeded (or none was tried), 0 when it failed and the previous configuration is still running.",
    labels: &[],
};

const DMARC_REPORT_MESSAGES_TOTAL: Family = Family {
    name: "dmarc_report_messages_total",
    help: "Messages counted in ingested DMARC aggregate reports about our domains, by domain ([policy] local_domains, else other), aligned DKIM and SPF result and disposition.",
    labels: &["domain", "dkim", "spf", "disposition"],
};

const DIRECTION_HINTS_TOTAL: Family = Family {
    name: "direction_hints_total",
    help: "Messages from a [policy] local_domains sender judged inbound (client not in [direction] trusted_networks, not authenticated, no outbound daemon name): usually a relay missing from [direction].",
    labels: &[],
};

const MESSAGES_TOTAL: Family = Family {
    name: "messages_total",
    help: "Messages decided, by direction and final action.",
    labels: &["direction", "action"],
};

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every family, with known label values pre-set to zero so
    /// `rate()` and ratios have a series from the first scrape.
    pub fn new() -> Metrics {
        let messages_vec = counter_vec(&MESSAGES_TOTAL);
        let messages = DIRECTIONS.map(|d| {
            Action::ALL.map(|a| messages_vec.with_label_values(&[d.as_str(), a.as_str()]))
        });
        let m = Metrics {
            registry: Registry::new(),
            messages,
            rule_matches: counter_vec(&RULE_MATCHES_TOTAL),
            classification: counter_vec(&CLASSIFICATION_TOTAL),
            dlp_detections: counter_vec(&DLP_DETECTIONS_TOTAL),
            auth_results: counter_vec(&AUTH_RESULTS_TOTAL),
            dkim_signatures: counter_vec(&DKIM_SIGNATURES_TOTAL),
            message_duration: histogram(&MESSAGE_DURATION_SECONDS, LATENCY_BUCKETS),
            eom_duration: histogram(&EOM_DURATION_SECONDS, LATENCY_BUCKETS),
            message_size: histogram(&MESSAGE_SIZE_BYTES, SIZE_BUCKETS),
            connections_active: gauge(&CONNECTIONS_ACTIVE),
            connections_max: gauge(&CONNECTIONS_MAX),
            cache_requests: counter_vec(&CACHE_REQUESTS_TOTAL),
            cache_entries: gauge_vec(&CACHE_ENTRIES),
            dns_lookup_duration: histogram(&DNS_LOOKUP_DURATION_SECONDS, DNS_BUCKETS),
            in_flight_refusals: counter_vec(&IN_FLIGHT_REFUSALS_TOTAL),
            config_reloads: counter_vec(&CONFIG_RELOADS_TOTAL),
            config_last_reload_success: gauge(&CONFIG_LAST_RELOAD_SUCCESS),
            errors: counter_vec(&ERRORS_TOTAL),
            dmarc_report_messages: counter_vec(&DMARC_REPORT_MESSAGES_TOTAL),
            direction_hints: counter(&DIRECTION_HINTS_TOTAL),
            connectors: super::connectors::ConnectorMetrics::new(),
            build_info: gauge_vec(&BUILD_INFO),
            caches: Default::default(),
        };
        m.preset_labels();
        m.register_all(messages_vec);
        m
    }

    /// Known label values at zero (and `build_info` at 1), so `rate()` and ratios have
    /// a series from the first scrape.
    fn preset_labels(&self) {
        self.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        self.config_last_reload_success.set(1);
        for result in ["success", "error"] {
            self.config_reloads.with_label_values(&[result]);
        }
        for kind in error_kind::ALL {
            self.errors.with_label_values(&[kind]);
        }
        for cache in CACHE_NAMES {
            for outcome in ["hit", "miss"] {
                self.cache_requests.with_label_values(&[cache, outcome]);
            }
            self.cache_entries.with_label_values(&[cache]);
        }
        for method in AUTH_METHODS {
            for result in AUTH_RESULTS {
                self.auth_results.with_label_values(&[method, result]);
            }
        }
        for result in DKIM_SIGN_RESULTS {
            self.dkim_signatures.with_label_values(&[result]);
        }
        for d in DIRECTIONS {
            self.classification
                .with_label_values(&[d.as_str(), UNMARKED]);
        }
        for stage in super::in_flight_stage::ALL {
            self.in_flight_refusals.with_label_values(&[stage]);
        }
    }

    fn register_all(&self, messages: IntCounterVec) {
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(messages),
            Box::new(self.rule_matches.clone()),
            Box::new(self.classification.clone()),
            Box::new(self.dlp_detections.clone()),
            Box::new(self.auth_results.clone()),
            Box::new(self.dkim_signatures.clone()),
            Box::new(self.message_duration.clone()),
            Box::new(self.eom_duration.clone()),
            Box::new(self.message_size.clone()),
            Box::new(self.connections_active.clone()),
            Box::new(self.connections_max.clone()),
            Box::new(self.cache_requests.clone()),
            Box::new(self.cache_entries.clone()),
            Box::new(self.dns_lookup_duration.clone()),
            Box::new(self.in_flight_refusals.clone()),
            Box::new(self.config_reloads.clone()),
            Box::new(self.config_last_reload_success.clone()),
            Box::new(self.errors.clone()),
            Box::new(self.dmarc_report_messages.clone()),
            Box::new(self.direction_hints.clone()),
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
            "sgemilter_in_flight_refusals_total",
            "sgemilter_config_reloads_total",
            "sgemilter_config_last_reload_success",
            "sgemilter_errors_total",
            "sgemilter_direction_hints_total",
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
        assert!(text.contains(r#"sgemilter_config_reloads_total{result="error"} 0"#));
        assert!(text.contains(r#"sgemilter_in_flight_refusals_total{stage="mail"} 0"#));
        assert!(text.contains("sgemilter_build_info{version=\""));
    }

    #[test]
    /// An end of message of 1.5 ms must land under the 2 ms bound, so that
    /// `histogram_quantile(0.99, ...)` can say whether the p99 target is met.
    fn end_of_message_has_a_two_millisecond_bucket() {
        let m = Metrics::new();
        m.eom_duration.observe(0.0015);
        m.eom_duration.observe(0.0001);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(
            text.contains(r#"sgemilter_eom_duration_seconds_bucket{le="0.00025"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sgemilter_eom_duration_seconds_bucket{le="0.001"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sgemilter_eom_duration_seconds_bucket{le="0.002"} 2"#),
            "{text}"
        );
    }
}
