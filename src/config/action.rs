//! The actions a rule can ask for, as written in sge-milter.toml and the rule files.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What to do with a message. The declaration order is the severity order:
/// when findings disagree, the most severe action wins.
///
/// `Discard` ranks below `Reject`: a sender who is told is better than a message
/// that silently disappears when two rules disagree.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Accept,
    Tag,
    Quarantine,
    Tempfail,
    Discard,
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Tag => "tag",
            Action::Quarantine => "quarantine",
            Action::Tempfail => "tempfail",
            Action::Discard => "discard",
            Action::Reject => "reject",
        }
    }

    pub const ALL: [Action; 6] = [
        Action::Accept,
        Action::Tag,
        Action::Quarantine,
        Action::Tempfail,
        Action::Discard,
        Action::Reject,
    ];
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
