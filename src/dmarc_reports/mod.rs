//! DMARC aggregate reports (RFC 7489 §7.2).
//!
//! Outbound: every inbound message whose DMARC policy was evaluated becomes a
//! [`record::DmarcRecord`]; the [`Recorder`] counts identical ones in memory and a
//! flusher writes the counts to the [`store`] in batches. Once a period is over,
//! [`send`] builds one gzip-compressed report per (policy domain, `rua`
//! destination) and hands it to the MTA.
//!
//! Inbound: [`ingest`] reads the reports other receivers send about our domains,
//! counts them in `sgemilter_dmarc_report_messages_total` and keeps them for
//! [`summary`].

pub mod cli;
pub mod ingest;
pub mod observe;
pub mod record;
pub mod report;
pub mod send;
pub mod service;
pub mod store;
pub mod summary;
pub mod transport;

use record::{Aggregate, Observation, period_start};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the message path hands its observations.
pub struct Recorder {
    aggregate: Aggregate,
    interval: u64,
}

impl Recorder {
    pub fn new(interval_secs: u64) -> Recorder {
        Recorder {
            aggregate: Aggregate::default(),
            interval: interval_secs.max(1),
        }
    }

    /// Counts one evaluated message in the current period (no I/O).
    pub fn record(&self, obs: Observation) {
        let period = period_start(unix_now(), self.interval);
        self.aggregate.add(period, obs);
    }

    pub fn aggregate(&self) -> &Aggregate {
        &self.aggregate
    }

    pub fn interval(&self) -> u64 {
        self.interval
    }
}

static RECORDER: OnceLock<Recorder> = OnceLock::new();

/// Installs the process-wide recorder (`run` with `[dmarc_reports] enabled`);
/// the first call wins, later ones return the installed one.
pub fn install(recorder: Recorder) -> &'static Recorder {
    RECORDER.get_or_init(|| recorder)
}

/// Records one inbound message's DMARC evaluation when reports are enabled.
pub fn observe_inbound(
    spf: &crate::auth::SpfVerdict,
    results: &crate::auth::inbound::InboundResults,
    findings: &[crate::policy::Finding],
) {
    if let Some(recorder) = recorder()
        && let Some(obs) = observe::observation(spf, results, findings)
    {
        recorder.record(obs);
    }
}

/// The installed recorder, if reports are enabled in this process.
pub fn recorder() -> Option<&'static Recorder> {
    RECORDER.get()
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
