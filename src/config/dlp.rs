//! `rules/dlp.toml`, as written by the admin: settings, corroborating keywords,
//! custom detectors and rules. The DLP scanner
//! (`scan/dlp/config.rs`) compiles it against the markings vocabulary and
//! `[policy] local_domains`.

use super::Action;
use super::keywords::RuleDirection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How sure a hit is: the pattern alone, a valid check digit, or a valid check digit
/// with a corroborating keyword nearby.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub const ALL: [Confidence; 3] = [Confidence::Low, Confidence::Medium, Confidence::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlpFile {
    #[serde(default)]
    pub settings: SettingsSpec,
    /// Corroborating keywords per built-in detector.
    #[serde(default)]
    pub keywords: BTreeMap<String, Vec<String>>,
    /// Moved to `[content]` of sge-milter.toml; kept only to say so.
    #[serde(default)]
    pub attachments: Option<toml::Value>,
    #[serde(default)]
    pub uninspectable: Option<toml::Value>,
    #[serde(default, rename = "detector")]
    pub detectors: Vec<DetectorSpec>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SettingsSpec {
    /// Characters (bytes of UTF-8 text) either side of a hit searched for keywords.
    pub proximity: usize,
    /// No longer read: local domains are `[policy] local_domains` of sge-milter.toml.
    /// Kept in the model only so `check-rules` can name the line that still sets it.
    pub local_domains: Option<toml::Value>,
    /// Distinct check-digit-valid values of one detector that make a bulk list
    /// (high without a keyword); 0 turns bulk lists off.
    pub bulk_min_count: usize,
}

impl Default for SettingsSpec {
    fn default() -> Self {
        SettingsSpec {
            proximity: 300,
            local_domains: None,
            bulk_min_count: 5,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectorKind {
    Keywords,
    Regex,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorSpec {
    pub id: String,
    pub kind: DetectorKind,
    /// `keywords`: the terms; `regex`: none.
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub case_sensitive: bool,
    #[serde(default = "yes")]
    pub whole_word: bool,
    /// `regex`: the pattern (Rust `regex` syntax: linear time, no backtracking).
    #[serde(default)]
    pub pattern: Option<String>,
    /// `regex`: literals every match contains; the regex runs only around them.
    #[serde(default)]
    pub anchors: Vec<String>,
    /// `regex`: bytes either side of an anchor the regex may see.
    #[serde(default = "default_window")]
    pub window: usize,
    #[serde(default = "default_confidence")]
    pub confidence: Confidence,
}

fn yes() -> bool {
    true
}
fn default_window() -> usize {
    64
}
fn default_confidence() -> Confidence {
    Confidence::Medium
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recipients {
    #[default]
    Any,
    /// At least one recipient outside `local_domains`.
    External,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub detectors: Vec<String>,
    #[serde(default = "default_confidence")]
    pub min_confidence: Confidence,
    #[serde(default = "one")]
    pub min_count: u64,
    #[serde(default)]
    pub direction: RuleDirection,
    #[serde(default)]
    pub recipients: Recipients,
    /// The rule applies when the message is marked at or below this level
    /// (unmarked included).
    #[serde(default)]
    pub max_classification: Option<String>,
    /// The rule applies when the message is marked at or above this level.
    #[serde(default)]
    pub min_classification: Option<String>,
    pub action: Action,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

fn one() -> u64 {
    1
}
