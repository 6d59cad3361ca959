//! `rules/markings.toml`: the file format, and the rule ids with their actions.

use crate::envelope::Direction;
use crate::policy::Action;
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
    /// Private mail (PERSONAL, UNOFFICIAL): a marking, but not official information.
    #[serde(default)]
    pub private: bool,
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
    pub restricted_no_tls: DirectionActions,
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
            restricted_no_tls: DirectionActions::new(Reject, Accept),
        }
    }
}

/// The marking rules, with stable ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    Missing,
    Conflict,
    Understated,
    Unknown,
    Malformed,
    SystemCeiling,
    RouteCeiling,
    NzeoExternal,
    RelTo,
    SeemailRoute,
    NoTls,
    RestrictedNoTls,
}

impl Rule {
    pub fn id(self) -> &'static str {
        match self {
            Rule::Missing => "marking.missing",
            Rule::Conflict => "marking.conflict",
            Rule::Understated => "marking.understated",
            Rule::Unknown => "marking.unknown",
            Rule::Malformed => "marking.malformed",
            Rule::SystemCeiling => "marking.system_ceiling",
            Rule::RouteCeiling => "marking.route_ceiling",
            Rule::NzeoExternal => "marking.nzeo_external",
            Rule::RelTo => "marking.rel_to",
            Rule::SeemailRoute => "marking.seemail_route",
            Rule::NoTls => "marking.no_tls",
            Rule::RestrictedNoTls => "marking.restricted_no_tls",
        }
    }

    /// The NZISM controls a finding cites.
    pub fn nzism(self, d: Direction) -> &'static str {
        match (self, d) {
            (Rule::Missing, _) => "NZISM 15.1.11.C.01, 15.2.39.C.03",
            (Rule::Conflict | Rule::Unknown | Rule::Malformed, _) => "NZISM 15.2.39.C.03",
            (Rule::Understated, _) => "NZISM 15.1.11.C.02",
            (Rule::SystemCeiling, Direction::Outbound) => "NZISM 15.1.10.C.01",
            (Rule::SystemCeiling, Direction::Inbound) => "NZISM 15.2.41.C.01",
            (Rule::RouteCeiling | Rule::SeemailRoute, _) => "NZISM 15.2.40.C.01",
            (Rule::NzeoExternal | Rule::RelTo, _) => "NZISM 15.1.8.C.01, 15.2.40.C.01",
            (Rule::NoTls | Rule::RestrictedNoTls, _) => "NZISM 15.2.48.C.02",
        }
    }

    pub fn actions(self, a: &ActionsSpec) -> DirectionActions {
        match self {
            Rule::Missing => a.missing,
            Rule::Conflict => a.conflict,
            Rule::Understated => a.understated,
            Rule::Unknown => a.unknown,
            Rule::Malformed => a.malformed,
            Rule::SystemCeiling => a.system_ceiling,
            Rule::RouteCeiling => a.route_ceiling,
            Rule::NzeoExternal => a.nzeo_external,
            Rule::RelTo => a.rel_to,
            Rule::SeemailRoute => a.seemail_route,
            Rule::NoTls => a.no_tls,
            Rule::RestrictedNoTls => a.restricted_no_tls,
        }
    }

    /// Route rules name recipients; the rest judge the marking itself.
    pub fn kind(self) -> crate::policy::FindingKind {
        match self {
            Rule::RouteCeiling
            | Rule::NzeoExternal
            | Rule::RelTo
            | Rule::SeemailRoute
            | Rule::NoTls
            | Rule::RestrictedNoTls => crate::policy::FindingKind::Route,
            _ => crate::policy::FindingKind::Marking,
        }
    }
}
