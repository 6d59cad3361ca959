//! The `[policy]` and `[routes]` sections of `sge-milter.toml`, as written by the admin.
//! The route policy (`policy/routes.rs`) is compiled from them.

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
    pub marking_enforcement: MarkingEnforcement,
}

/// How marking findings act (`[policy] marking_enforcement`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkingEnforcement {
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
            marking_enforcement: MarkingEnforcement::Enforce,
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
