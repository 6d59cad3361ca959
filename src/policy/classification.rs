//! The protective marking a message carries, as the markings scanner read it.
//! Other scanners (DLP) and the policy read it through `MessageFacts::classification`;
//! a level's rank by name comes from the compiled vocabulary
//! (`Engine::markings().rank_of("IN-CONFIDENCE")`).

use serde::Serialize;

/// Where a marking was read.
pub const SOURCE_HEADER: &str = "header";
pub const SOURCE_SUBJECT: &str = "subject";
pub const SOURCE_BODY: &str = "body";
pub const SOURCE_ATTACHMENT: &str = "attachment";

/// The classification of one message: the declared marking (header, else subject),
/// raised to the highest body or attachment banner when one is higher.
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
    /// The subject carried the SEEMail-era `[SEEMAIL]` token: secure routes only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub seemail: bool,
}

impl Classification {
    /// Whether the message carries any level at all.
    pub fn is_marked(&self) -> bool {
        self.level.is_some()
    }

    /// Adds an endorsement or releasability caveat once, keeping first-seen order.
    pub fn add_endorsement(&mut self, e: &str) {
        push_unique(&mut self.endorsements, e);
    }

    pub fn add_releasability(&mut self, r: &str) {
        push_unique(&mut self.releasability, r);
    }
}

fn push_unique(list: &mut Vec<String>, v: &str) {
    if !list.iter().any(|x| x == v) {
        list.push(v.to_string());
    }
}
