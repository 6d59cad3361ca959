//! The protective marking a message carries, as the markings scanner read it.
//! Other scanners (DLP) and the policy read it through `ScanContext`.

use serde::Serialize;

/// The classification of one message: the highest marking found on any carrier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// Canonical level name (e.g. `IN-CONFIDENCE`), `None` when the message is unmarked.
    pub level: Option<String>,
    /// Rank of `level` in the configured vocabulary; 0 when unmarked.
    pub rank: u32,
    pub endorsements: Vec<String>,
    /// Releasability caveats: `NZEO`, `REL TO NZL, AUS`, ...
    pub releasability: Vec<String>,
    /// Where the deciding marking was read: `header`, `subject`, `body`, `attachment`.
    pub source: Option<String>,
}
