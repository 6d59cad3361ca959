//! `rules/markings.toml`, as written by the admin: the vocabulary (levels,
//! endorsements, releasability), where markings are read, inbound options and the
//! action of every marking rule. The markings scanner (`scan/markings/`) is compiled
//! from it.

use super::Action;
use crate::envelope::Direction;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkingsFile {
    /// Endorsement words that combine with a level (`BUDGET SENSITIVE`).
    #[serde(default)]
    pub endorsements: Vec<String>,
    #[serde(default, rename = "level")]
    pub levels: Vec<LevelSpec>,
    #[serde(default)]
    pub releasability: ReleasabilitySpec,
    #[serde(default)]
    pub carriers: CarriersSpec,
    #[serde(default)]
    pub inbound: InboundSpec,
    #[serde(default)]
    pub actions: ActionsSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelSpec {
    pub name: String,
    pub rank: u32,
    /// Other accepted spellings besides `name`.
    #[serde(default)]
    pub spellings: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReleasabilitySpec {
    /// Spellings of New Zealand Eyes Only; the first is the name reported.
    pub nzeo: Vec<String>,
    /// Words that start a country list (`REL TO NZL, AUS`).
    pub rel_to: Vec<String>,
}

impl Default for ReleasabilitySpec {
    fn default() -> Self {
        ReleasabilitySpec {
            nzeo: vec!["NZEO".into()],
            rel_to: vec!["REL TO".into()],
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CarriersSpec {
    /// Read `[LEVEL]`, `[ENDORSEMENT LEVEL]` and `[SEC=...]` in the Subject.
    pub subject: bool,
    /// Subject tokens that mean "secure route only" (SEEMail era).
    pub seemail: Vec<String>,
    /// Read the key=value marking header.
    pub header: bool,
    pub header_name: String,
    /// NS= values accepted in the header; empty accepts any.
    pub namespaces: Vec<String>,
    /// VER= written in a default marking header.
    pub header_version: String,
    /// Read banner lines in body and text attachments.
    pub banners: bool,
    /// How many first and last non-blank lines of each text part are banner candidates.
    pub banner_lines: usize,
    /// Whether a banner alone marks an otherwise unmarked message. Off: the marking
    /// must be in the subject or header (NZISM 15.1.11.C.03), so unmarked outbound
    /// mail is refused at end of headers, before the body is sent.
    pub banners_count_as_marking: bool,
}

impl Default for CarriersSpec {
    fn default() -> Self {
        CarriersSpec {
            subject: true,
            seemail: vec!["SEEMAIL".into()],
            header: true,
            header_name: "X-Protective-Marking".into(),
            namespaces: vec!["govt.nz".into()],
            header_version: "2018.1".into(),
            banners: true,
            banner_lines: 3,
            banners_count_as_marking: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundSpec {
    /// Trace header added to accepted inbound mail; empty disables it.
    pub trace_header: String,
    /// Level written into a marking header added to unmarked inbound mail (NZISM
    /// 15.1.4); unset = never mark on the sender's behalf.
    pub default_level: Option<String>,
    /// Classified mail from this level up should arrive over TLS (`marking.no_tls`).
    pub no_tls_min_level: String,
}

impl Default for InboundSpec {
    fn default() -> Self {
        InboundSpec {
            trace_header: "X-SGE-Classification".into(),
            default_level: None,
            no_tls_min_level: "SENSITIVE".into(),
        }
    }
}

/// The action of one rule per direction.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectionActions {
    pub inbound: Action,
    pub outbound: Action,
}

impl DirectionActions {
    const fn new(inbound: Action, outbound: Action) -> Self {
        DirectionActions { inbound, outbound }
    }

    pub fn for_direction(self, d: Direction) -> Action {
        match d {
            Direction::Inbound => self.inbound,
            Direction::Outbound => self.outbound,
        }
    }
}

/// Every marking rule and its action per direction; `accept` turns a rule off.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionsSpec {
    pub missing: DirectionActions,
    pub conflict: DirectionActions,
    pub understated: DirectionActions,
    pub unknown: DirectionActions,
    pub malformed: DirectionActions,
    pub system_ceiling: DirectionActions,
    pub route_ceiling: DirectionActions,
    pub nzeo_external: DirectionActions,
    pub rel_to: DirectionActions,
    pub seemail_route: DirectionActions,
    pub no_tls: DirectionActions,
}

impl Default for ActionsSpec {
    fn default() -> Self {
        use Action::{Accept, Reject, Tag};
        ActionsSpec {
            missing: DirectionActions::new(Accept, Reject),
            conflict: DirectionActions::new(Tag, Reject),
            understated: DirectionActions::new(Tag, Reject),
            unknown: DirectionActions::new(Tag, Reject),
            malformed: DirectionActions::new(Tag, Reject),
            system_ceiling: DirectionActions::new(Reject, Reject),
            route_ceiling: DirectionActions::new(Reject, Reject),
            nzeo_external: DirectionActions::new(Reject, Reject),
            rel_to: DirectionActions::new(Reject, Reject),
            seemail_route: DirectionActions::new(Reject, Reject),
            no_tls: DirectionActions::new(Tag, Accept),
        }
    }
}
