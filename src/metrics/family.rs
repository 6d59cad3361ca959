//! How a metric family is declared and built: a name, help text and labels, in the
//! `sgemilter_` namespace. Shared by the core families and the connector families.

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};

const NAMESPACE: &str = "sgemilter";

/// One exported family: name (without the `sgemilter_` namespace), help text and
/// label names.
pub(super) struct Family {
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) labels: &'static [&'static str],
}

pub(super) fn opts(f: &Family) -> Opts {
    Opts::new(f.name, f.help).namespace(NAMESPACE)
}

pub(super) fn histogram(f: &Family, buckets: &[f64]) -> Histogram {
    let o = HistogramOpts::new(f.name, f.help)
        .namespace(NAMESPACE)
        .buckets(buckets.to_vec());
    Histogram::with_opts(o).expect("static histogram options are valid")
}

pub(super) fn gauge(f: &Family) -> IntGauge {
    IntGauge::with_opts(opts(f)).expect("static gauge options are valid")
}

pub(super) fn counter(f: &Family) -> IntCounter {
    IntCounter::with_opts(opts(f)).expect("static counter options are valid")
}

pub(super) fn counter_vec(f: &Family) -> IntCounterVec {
    IntCounterVec::new(opts(f), f.labels).expect("static counter options are valid")
}

pub(super) fn gauge_vec(f: &Family) -> IntGaugeVec {
    IntGaugeVec::new(opts(f), f.labels).expect("static gauge options are valid")
}
