//! Prometheus metrics: the families sge-milter exports, the cheap recording API the
//! pipeline and the milter call, and the `/metrics` HTTP endpoint.
//!
//! One process-wide [`Metrics`] ([`global`]) holds every family in its own registry.
//! Labels are bounded: rule ids, detector names and classification levels come from
//! configuration, everything else from fixed vocabularies. Addresses, domains and
//! message ids never become label values.

mod caches;
pub mod connectors;
mod families;
mod family;
pub mod http;
mod record;

pub use caches::CacheReading;
pub use families::Metrics;
pub use record::ConnectionGuard;

use std::sync::LazyLock;

static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metrics, created (with every family registered) on first use.
pub fn global() -> &'static Metrics {
    &GLOBAL
}

/// Label values of `errors_total{kind}`, pre-set to zero so alerts and dashboards see
/// a series before the first error.
pub mod error_kind {
    /// The MTA refused a header change or quarantine request at end of message.
    pub const MILTER_ACTION: &str = "milter_action";
    /// A finding of kind `internal`: sge-milter failed on a message and applied
    /// `internal_error_action`.
    pub const INTERNAL: &str = "internal";
    /// A DNS lookup failed (timeout, SERVFAIL, network): not NXDOMAIN or NODATA.
    pub const DNS: &str = "dns";
    /// The `/metrics` endpoint failed to serve a connection.
    pub const METRICS_HTTP: &str = "metrics_http";
    /// The MTA broke the milter protocol in a way the connection cannot survive (a
    /// packet over the 1 MiB limit): the connection was closed.
    pub const MILTER_PROTOCOL: &str = "milter_protocol";

    /// An ingested DMARC aggregate report could not be read.
    pub const DMARC_REPORT: &str = "dmarc_report";

    pub const ALL: [&str; 6] = [
        MILTER_ACTION,
        INTERNAL,
        DNS,
        METRICS_HTTP,
        MILTER_PROTOCOL,
        DMARC_REPORT,
    ];
}

/// Label values of `in_flight_refusals_total{stage}`: where a message met a full
/// `[limits] max_in_flight_bytes` budget.
pub mod in_flight_stage {
    /// A new message, refused at MAIL FROM.
    pub const MAIL: &str = "mail";
    /// A message under way whose next header or body bytes would overflow the budget.
    pub const DATA: &str = "data";

    pub const ALL: [&str; 2] = [MAIL, DATA];
}

/// Names of the resolver caches (`cache_requests_total{cache}`, `cache_entries{cache}`):
/// the record types the DNS layer caches, and the SPF verdict cache.
pub const CACHE_NAMES: [&str; 6] = ["txt", "mx", "ipv4", "ipv6", "ptr", "spf_verdict"];

/// Authentication methods and the results pre-set to zero in `auth_results_total`.
pub const AUTH_METHODS: [&str; 4] = ["spf", "dkim", "dmarc", "arc"];
pub const AUTH_RESULTS: [&str; 7] = [
    "pass",
    "fail",
    "softfail",
    "neutral",
    "none",
    "temperror",
    "permerror",
];

/// Results of `dkim_signatures_total{result}` (outbound signing).
pub const DKIM_SIGN_RESULTS: [&str; 2] = ["signed", "failed"];

/// Level label for a message without a protective marking.
pub const UNMARKED: &str = "unmarked";
