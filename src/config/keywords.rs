//! `rules/keywords.toml`, as written by the admin; the keyword scanner
//! (`scan/keywords.rs`) is compiled from it. [`RuleDirection`] is shared with `dlp.toml`.

use super::Action;
use crate::envelope::Direction;
use serde::Deserialize;

/// Which messages a rule applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleDirection {
    Inbound,
    Outbound,
    #[default]
    Both,
}

impl RuleDirection {
    pub fn applies_to(self, d: Direction) -> bool {
        matches!(
            (self, d),
            (RuleDirection::Both, _)
                | (RuleDirection::Inbound, Direction::Inbound)
                | (RuleDirection::Outbound, Direction::Outbound)
        )
    }
}

/// Where a keyword rule looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Headers,
    Body,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordFile {
    #[serde(default, rename = "rule")]
    pub rules: Vec<KeywordRuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordRuleSpec {
    pub id: String,
    pub patterns: Vec<String>,
    #[serde(default)]
    pub case_sensitive: bool,
    #[serde(default)]
    pub direction: RuleDirection,
    pub action: Action,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default = "default_scope")]
    pub scope: Vec<Scope>,
    #[serde(default)]
    pub description: Option<String>,
}

fn default_scope() -> Vec<Scope> {
    vec![Scope::Headers, Scope::Body]
}
