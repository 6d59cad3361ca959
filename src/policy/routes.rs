//! Route ceilings: the highest classification each recipient domain may receive
//! (`[policy]` and `[routes]` of sge-milter.toml), and the releasability map
//! (`[routes.countries]`) that says which domains a `REL TO` country list reaches.

use crate::config::ConfigError;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[policy]`: this agency's own domains and accreditation.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// This agency's domains; sub-domains included. Empty: every domain is external.
    pub local_domains: Vec<String>,
    /// Highest level this system is accredited for (NZISM 15.1.10.C.01, 15.2.41.C.01).
    pub system_ceiling: String,
    /// `enforce` applies the marking rules' actions; `monitor` turns every refusal
    /// into a tag (staged roll-out); `off` reads markings but reports nothing.
    pub marking_enforcement: Enforcement,
}

/// How marking findings act (`[policy] marking_enforcement`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    #[default]
    Enforce,
    Monitor,
    Off,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            local_domains: Vec::new(),
            system_ceiling: "IN-CONFIDENCE".into(),
            marking_enforcement: Enforcement::Enforce,
        }
    }
}

/// `[routes]`: ceilings of the paths outbound mail takes (NZISM 15.2.40.C.01).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutesConfig {
    /// Ceiling of any domain not listed elsewhere (the Internet).
    pub default_ceiling: String,
    /// SGE Restricted group agencies (sub-domains included).
    pub restricted_group: Vec<String>,
    /// What the restricted group may receive.
    pub restricted_group_ceiling: String,
    /// Per-domain ceilings (sub-domains included; the longest match wins).
    pub ceilings: BTreeMap<String, String>,
    /// `REL TO` country code -> domains of that country's systems (sub-domains
    /// included). `NZL` also widens NZEO beyond `local_domains`.
    pub countries: BTreeMap<String, Vec<String>>,
}

impl Default for RoutesConfig {
    fn default() -> Self {
        RoutesConfig {
            default_ceiling: "IN-CONFIDENCE".into(),
            restricted_group: Vec::new(),
            restricted_group_ceiling: "RESTRICTED".into(),
            ceilings: BTreeMap::new(),
            countries: BTreeMap::new(),
        }
    }
}

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
    local: Vec<String>,
    system: Ceiling,
    default: Ceiling,
    restricted: Vec<String>,
    restricted_ceiling: Ceiling,
    /// Longest domain first.
    overrides: Vec<(String, Ceiling)>,
    countries: BTreeMap<String, Vec<String>>,
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
        let mut overrides: Vec<(String, Ceiling)> = routes
            .ceilings
            .iter()
            .map(|(d, l)| (normalize(d), ceiling(d, "routes.ceilings", l)))
            .collect();
        overrides.sort_by_key(|o| std::cmp::Reverse(o.0.len()));
        let countries = routes
            .countries
            .iter()
            .map(|(c, ds)| {
                (
                    c.to_ascii_uppercase(),
                    ds.iter().map(|d| normalize(d)).collect(),
                )
            })
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RoutePolicy {
            local: policy.local_domains.iter().map(|d| normalize(d)).collect(),
            system,
            default,
            restricted: routes
                .restricted_group
                .iter()
                .map(|d| normalize(d))
                .collect(),
            restricted_ceiling,
            overrides,
            countries,
        })
    }

    pub fn system_ceiling(&self) -> &Ceiling {
        &self.system
    }

    /// The ceiling of a domain listed nowhere (the Internet).
    pub fn default_ceiling(&self) -> &Ceiling {
        &self.default
    }

    pub fn is_local(&self, domain: &str) -> bool {
        self.local.iter().any(|l| in_domain(domain, l))
    }

    pub fn in_restricted_group(&self, domain: &str) -> bool {
        self.restricted.iter().any(|l| in_domain(domain, l))
    }

    /// The ceiling of the route to `domain` (lower-case): local domains get the
    /// system ceiling; then per-domain overrides, the restricted group, the default.
    pub fn route(&self, domain: &str) -> (RouteKind, &Ceiling) {
        if self.is_local(domain) {
            return (RouteKind::Local, &self.system);
        }
        if let Some((_, c)) = self.overrides.iter().find(|(d, _)| in_domain(domain, d)) {
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
            || countries.into_iter().any(|c| {
                self.countries
                    .get(c)
                    .is_some_and(|ds| ds.iter().any(|d| in_domain(domain, d)))
            })
    }
}

fn normalize(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// `a.agency.govt.nz` is in `agency.govt.nz`; `xagency.govt.nz` is not.
pub fn in_domain(domain: &str, parent: &str) -> bool {
    let domain = domain.trim_end_matches('.');
    domain.eq_ignore_ascii_case(parent)
        || (domain.len() > parent.len()
            && domain.as_bytes()[domain.len() - parent.len() - 1] == b'.'
            && domain[domain.len() - parent.len()..].eq_ignore_ascii_case(parent))
}

/// The line where `key` and the quoted `value` both appear (a `key = "value"` line),
/// else the first line holding the quoted value.
pub fn line_with(text: &str, key: &str, value: &str) -> Option<usize> {
    let quoted = format!("\"{value}\"");
    text.lines()
        .position(|l| l.contains(key) && l.contains(&quoted))
        .or_else(|| text.lines().position(|l| l.contains(&quoted)))
        .map(|i| i + 1)
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
