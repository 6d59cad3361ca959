//! Route ceilings: the highest classification each recipient domain may receive
//! (`[policy]` and `[routes]` of sge-milter.toml), and the releasability map
//! (`[routes.countries]`) that says which domains a `REL TO` country list reaches.

use crate::config::policy::{PolicyConfig, RoutesConfig};
use crate::config::{ConfigError, line_with};
use crate::domain::{DomainMap, DomainSet};
use std::collections::BTreeMap;

/// Why a recipient has the ceiling it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    Local,
    Override,
    RestrictedGroup,
    Default,
}

/// A level as a ceiling: its name (for replies) and rank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ceiling {
    pub level: String,
    pub rank: u32,
}

/// The compiled routes, built against the marking vocabulary.
#[derive(Clone, Debug)]
pub struct RoutePolicy {
    local: DomainSet,
    system: Ceiling,
    default: Ceiling,
    restricted: DomainSet,
    restricted_ceiling: Ceiling,
    overrides: DomainMap<Ceiling>,
    countries: BTreeMap<String, DomainSet>,
}

impl RoutePolicy {
    /// Compiles `[policy]` and `[routes]`; `rank_of` resolves level names. Every
    /// unknown level is reported with the config file and line.
    pub fn compile(
        policy: &PolicyConfig,
        routes: &RoutesConfig,
        rank_of: &dyn Fn(&str) -> Option<(String, u32)>,
        origin: &str,
        text: &str,
    ) -> Result<RoutePolicy, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut ceiling = |key: &str, section: &str, value: &str| -> Ceiling {
            match rank_of(value) {
                Some((level, rank)) => Ceiling { level, rank },
                None => {
                    errors.push(ConfigError::new(
                        origin.to_string(),
                        line_with(text, key, value),
                        format!(
                            "[{section}] {key}: {value:?} is not a level of the marking vocabulary (markings.toml)"
                        ),
                    ));
                    Ceiling {
                        level: value.to_string(),
                        rank: 0,
                    }
                }
            }
        };
        let system = ceiling("system_ceiling", "policy", &policy.system_ceiling);
        let default = ceiling("default_ceiling", "routes", &routes.default_ceiling);
        let restricted_ceiling = ceiling(
            "restricted_group_ceiling",
            "routes",
            &routes.restricted_group_ceiling,
        );
        let overrides: Vec<(&String, Ceiling)> = routes
            .ceilings
            .iter()
            .map(|(d, l)| (d, ceiling(d, "routes.ceilings", l)))
            .collect();
        let countries = routes
            .countries
            .iter()
            .map(|(c, ds)| (c.to_ascii_uppercase(), DomainSet::from_names(ds)))
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RoutePolicy {
            local: DomainSet::from_names(&policy.local_domains),
            system,
            default,
            restricted: DomainSet::from_names(&routes.restricted_group),
            restricted_ceiling,
            overrides: DomainMap::new(overrides),
            countries,
        })
    }

    pub fn system_ceiling(&self) -> &Ceiling {
        &self.system
    }

    /// `[policy] local_domains`: this agency's own domains.
    pub fn local_domains(&self) -> &DomainSet {
        &self.local
    }

    /// The ceiling of a domain listed nowhere (the Internet).
    pub fn default_ceiling(&self) -> &Ceiling {
        &self.default
    }

    pub fn is_local(&self, domain: &str) -> bool {
        self.local.covers(domain)
    }

    pub fn in_restricted_group(&self, domain: &str) -> bool {
        self.restricted.covers(domain)
    }

    /// The ceiling of the route to `domain` (lower-case): local domains get the
    /// system ceiling; then per-domain overrides, the restricted group, the default.
    pub fn route(&self, domain: &str) -> (RouteKind, &Ceiling) {
        if self.is_local(domain) {
            return (RouteKind::Local, &self.system);
        }
        if let Some(c) = self.overrides.get(domain) {
            return (RouteKind::Override, c);
        }
        if self.in_restricted_group(domain) {
            return (RouteKind::RestrictedGroup, &self.restricted_ceiling);
        }
        (RouteKind::Default, &self.default)
    }

    /// Whether `domain` belongs to one of these countries' systems (or is local:
    /// this agency is always in its own releasability).
    pub fn in_countries<'a>(
        &self,
        domain: &str,
        countries: impl IntoIterator<Item = &'a str>,
    ) -> bool {
        self.is_local(domain)
            || countries
                .into_iter()
                .any(|c| self.countries.get(c).is_some_and(|ds| ds.covers(domain)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(name: &str) -> Option<(String, u32)> {
        [
            "UNCLASSIFIED",
            "IN-CONFIDENCE",
            "SENSITIVE",
            "RESTRICTED",
            "SECRET",
        ]
        .iter()
        .position(|l| *l == name)
        .map(|i| (name.to_string(), i as u32 + 1))
    }

    #[test]
    fn routes_by_precedence() {
        let policy = PolicyConfig {
            local_domains: vec!["agency.govt.nz".into()],
            system_ceiling: "RESTRICTED".into(),
            ..Default::default()
        };
        let mut routes = RoutesConfig {
            restricted_group: vec!["partner.govt.nz".into()],
            ..Default::default()
        };
        routes
            .ceilings
            .insert("other.govt.nz".into(), "SENSITIVE".into());
        routes.countries.insert("aus".into(), vec!["gov.au".into()]);
        let p = RoutePolicy::compile(&policy, &routes, &rank, "c", "").unwrap();
        assert_eq!(p.route("mail.agency.govt.nz").0, RouteKind::Local);
        assert_eq!(p.route("partner.govt.nz").1.level, "RESTRICTED");
        assert_eq!(p.route("x.other.govt.nz").1.level, "SENSITIVE");
        assert_eq!(p.route("example.com").1.level, "IN-CONFIDENCE");
        assert_eq!(p.route("xagency.govt.nz").0, RouteKind::Default);
        assert!(p.in_countries("dfat.gov.au", ["AUS"]));
        assert!(!p.in_countries("dfat.gov.au", ["GBR"]));
        assert!(p.in_countries("agency.govt.nz", []));
    }

    #[test]
    fn unknown_level_names_line() {
        let text =
            "[policy]\nsystem_ceiling = \"RESTRICTED\"\n[routes.ceilings]\n\"x.nz\" = \"BOGUS\"\n";
        let mut routes = RoutesConfig::default();
        routes.ceilings.insert("x.nz".into(), "BOGUS".into());
        let errs = RoutePolicy::compile(&PolicyConfig::default(), &routes, &rank, "c.toml", text)
            .unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, Some(4));
        assert!(errs[0].message.contains("BOGUS"));
    }
}
