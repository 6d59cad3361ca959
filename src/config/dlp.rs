//! `rules/dlp.toml`, as written by the admin: settings, corroborating keywords,
//! attachment limits, custom detectors and rules. The DLP scanner
//! (`scan/dlp/config.rs`) compiles it against the markings vocabulary and
//! `[policy] local_domains`.

use super::keywords::RuleDirection;
use super::{Action, ByteSize};
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
    #[serde(default)]
    pub attachments: AttachmentSpec,
    #[serde(default)]
    pub uninspectable: UninspectableSpec,
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
}

impl Default for SettingsSpec {
    fn default() -> Self {
        SettingsSpec {
            proximity: 300,
            local_domains: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttachmentSpec {
    /// Largest archive (zip, docx, xlsx ...) buffered for inspection.
    pub max_buffer: ByteSize,
    pub max_entries: usize,
    /// Total decompressed bytes read from one archive.
    pub max_uncompressed: ByteSize,
    /// Largest decompressed/compressed ratio of one archive entry.
    pub max_ratio: u64,
    /// Binary parts of unknown kind (and PDF) larger than this are uninspectable.
    pub opaque_min_size: ByteSize,
    /// Media type prefixes never treated as uninspectable (pictures, sound, video).
    pub ignore_types: Vec<String>,
}

impl Default for AttachmentSpec {
    fn default() -> Self {
        AttachmentSpec {
            max_buffer: ByteSize(32 * 1024 * 1024),
            max_entries: 2000,
            max_uncompressed: ByteSize(256 * 1024 * 1024),
            max_ratio: 200,
            opaque_min_size: ByteSize(2 * 1024 * 1024),
            ignore_types: vec![
                "image/".into(),
                "audio/".into(),
                "video/".into(),
                "font/".into(),
            ],
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UninspectableSpec {
    pub outbound: Action,
    pub inbound: Action,
}

impl Default for UninspectableSpec {
    fn default() -> Self {
        UninspectableSpec {
            outbound: Action::Quarantine,
            inbound: Action::Tag,
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
