//! Families of the connector features: the TLS policy socketmap, MTA-STS fetches and
//! the posture monitor. Recorded with plain values (`&str`, `f64`).

use super::family::{Family, counter_vec, opts};
use prometheus::{Gauge, GaugeVec, IntCounterVec, Registry};

/// `tls_policy_lookups_total{policy}` label values: which rule answered Postfix.
pub const TLS_POLICY_SOURCES: [&str; 6] = [
    "explicit",
    "restricted_group",
    "mta_sts_enforce",
    "mta_sts_testing",
    "none",
    "error",
];

/// `mta_sts_fetches_total{result}` label values.
pub const MTA_STS_FETCH_RESULTS: [&str; 7] =
    ["ok", "dns", "connect", "tls", "http", "invalid", "timeout"];

const TLS_POLICY_LOOKUPS_TOTAL: Family = Family {
    name: "tls_policy_lookups_total",
    help: "TLS policy socketmap look-ups from Postfix, by the rule that answered (none: Postfix's default applies).",
    labels: &["policy"],
};

const MTA_STS_FETCHES_TOTAL: Family = Family {
    name: "mta_sts_fetches_total",
    help: "MTA-STS policy fetches over HTTPS, by result (ok, or the stage that failed).",
    labels: &["result"],
};

const POSTURE_CHECK: Family = Family {
    name: "posture_check",
    help: "Last posture check result per monitored domain and check: 1 pass, 0.5 warn, 0 fail.",
    labels: &["domain", "check"],
};

const POSTURE_LAST_RUN: Family = Family {
    name: "posture_last_run_timestamp_seconds",
    help: "Unix time the posture monitor last finished a run (0: never).",
    labels: &[],
};

pub struct ConnectorMetrics {
    pub tls_policy_lookups: IntCounterVec,
    pub mta_sts_fetches: IntCounterVec,
    pub posture_check: GaugeVec,
    pub posture_last_run: Gauge,
}

impl ConnectorMetrics {
    pub(super) fn new() -> ConnectorMetrics {
        let m = ConnectorMetrics {
            tls_policy_lookups: counter_vec(&TLS_POLICY_LOOKUPS_TOTAL),
            mta_sts_fetches: counter_vec(&MTA_STS_FETCHES_TOTAL),
            posture_check: GaugeVec::new(opts(&POSTURE_CHECK), POSTURE_CHECK.labels)
                .expect("static gauge options are valid"),
            posture_last_run: Gauge::with_opts(opts(&POSTURE_LAST_RUN))
                .expect("static gauge options are valid"),
        };
        for p in TLS_POLICY_SOURCES {
            m.tls_policy_lookups.with_label_values(&[p]);
        }
        for r in MTA_STS_FETCH_RESULTS {
            m.mta_sts_fetches.with_label_values(&[r]);
        }
        m
    }

    pub(super) fn register(&self, registry: &Registry) {
        let collectors: [Box<dyn prometheus::core::Collector>; 4] = [
            Box::new(self.tls_policy_lookups.clone()),
            Box::new(self.mta_sts_fetches.clone()),
            Box::new(self.posture_check.clone()),
            Box::new(self.posture_last_run.clone()),
        ];
        for c in collectors {
            registry
                .register(c)
                .expect("metric names are unique and valid");
        }
    }

    /// One socketmap answer, by the rule that gave it (one of [`TLS_POLICY_SOURCES`]).
    pub fn tls_policy_lookup(&self, policy: &str) {
        self.tls_policy_lookups.with_label_values(&[policy]).inc();
    }

    /// One MTA-STS fetch (result: one of [`MTA_STS_FETCH_RESULTS`]).
    pub fn mta_sts_fetch(&self, result: &str) {
        self.mta_sts_fetches.with_label_values(&[result]).inc();
    }

    /// One posture check result (1 pass, 0.5 warn, 0 fail).
    pub fn posture_check(&self, domain: &str, check: &str, value: f64) {
        self.posture_check
            .with_label_values(&[domain, check])
            .set(value);
    }

    /// The end of a posture monitor run, as Unix time.
    pub fn posture_run(&self, unix_seconds: f64) {
        self.posture_last_run.set(unix_seconds);
    }
}
