//! The marking rules: their ids, NZISM references and configured actions.

use crate::config::markings::{ActionsSpec, DirectionActions};
use crate::envelope::Direction;
use crate::policy::FindingKind;

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
            (Rule::NoTls, _) => "NZISM 15.2.48.C.02",
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
        }
    }

    /// Route rules name recipients; the rest judge the marking itself.
    pub fn kind(self) -> FindingKind {
        match self {
            Rule::RouteCeiling
            | Rule::NzeoExternal
            | Rule::RelTo
            | Rule::SeemailRoute
            | Rule::NoTls => FindingKind::Route,
            _ => FindingKind::Marking,
        }
    }
}
