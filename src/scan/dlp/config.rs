//! `dlp.toml`: detectors, corroborating keywords, attachment limits and rules,
//! compiled once per configuration.

use super::identify::{Builtin, Confidence};
use crate::config::{ByteSize, ConfigError, ConfigErrors, RuleFile, line_containing, parse_toml};
use crate::policy::Action;
use crate::scan::keywords::RuleDirection;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DlpFile {
    #[serde(default)]
    settings: SettingsSpec,
    /// Corroborating keywords per built-in detector.
    #[serde(default)]
    keywords: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    attachments: AttachmentSpec,
    #[serde(default)]
    uninspectable: UninspectableSpec,
    #[serde(default, rename = "detector")]
    detectors: Vec<DetectorSpec>,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SettingsSpec {
    /// Characters (bytes of UTF-8 text) either side of a hit searched for keywords.
    proximity: usize,
    /// Recipient domains that are not external (subdomains included), in addition
    /// to `[policy] local_domains` of the main configuration.
    local_domains: Vec<String>,
    /// Distinct check-digit-valid values of one detector that make a bulk list
    /// (high without a keyword); 0 turns bulk lists off.
    bulk_min_count: usize,
}

/// Largest `bulk_min_count`: the distinct values are kept per message until then.
const MAX_BULK_MIN_COUNT: usize = 1000;

impl Default for SettingsSpec {
    fn default() -> Self {
        SettingsSpec {
            proximity: 300,
            local_domains: Vec::new(),
            bulk_min_count: 5,
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
enum DetectorKind {
    Keywords,
    Regex,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetectorSpec {
    id: String,
    kind: DetectorKind,
    /// `keywords`: the terms; `regex`: none.
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    case_sensitive: bool,
    #[serde(default = "yes")]
    whole_word: bool,
    /// `regex`: the pattern (Rust `regex` syntax: linear time, no backtracking).
    #[serde(default)]
    pattern: Option<String>,
    /// `regex`: literals every match contains; the regex runs only around them.
    #[serde(default)]
    anchors: Vec<String>,
    /// `regex`: bytes either side of an anchor the regex may see.
    #[serde(default = "default_window")]
    window: usize,
    #[serde(default = "default_confidence")]
    confidence: Confidence,
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
struct RuleSpec {
    id: String,
    detectors: Vec<String>,
    #[serde(default = "default_confidence")]
    min_confidence: Confidence,
    #[serde(default = "one")]
    min_count: u64,
    #[serde(default)]
    direction: RuleDirection,
    #[serde(default)]
    recipients: Recipients,
    /// The rule applies when the message is marked at or below this level
    /// (unmarked included).
    #[serde(default)]
    max_classification: Option<String>,
    /// The rule applies when the message is marked at or above this level.
    #[serde(default)]
    min_classification: Option<String>,
    action: Action,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

fn one() -> u64 {
    1
}

/// Rank of a classification level in the default NZ vocabulary (0 = unmarked),
/// the same ranks as the embedded `markings.toml`. The engine passes the configured
/// markings vocabulary instead (`DlpContext::rank_of`); this is the fallback for
/// standalone use.
pub fn level_rank(level: &str) -> Option<u32> {
    let l = level.trim().to_ascii_uppercase().replace('_', " ");
    let rank = match l.as_str() {
        "UNMARKED" | "NONE" => 0,
        "UNCLASSIFIED" | "PERSONAL" | "UNOFFICIAL" => 1,
        "IN-CONFIDENCE" | "IN CONFIDENCE" => 2,
        "SENSITIVE" => 3,
        "RESTRICTED" => 4,
        "CONFIDENTIAL" => 5,
        "SECRET" => 6,
        "TOP SECRET" | "TOP-SECRET" => 7,
        _ => return None,
    };
    Some(rank)
}

/// A compiled custom detector.
#[derive(Debug)]
pub enum Custom {
    Keywords {
        ac: AhoCorasick,
        whole_word: bool,
        max_len: usize,
        confidence: Confidence,
    },
    Regex {
        regex: regex::bytes::Regex,
        anchors: AhoCorasick,
        window: usize,
        max_anchor: usize,
        confidence: Confidence,
    },
}

#[derive(Debug)]
pub struct Rule {
    pub id: String,
    /// Detector indices (built-ins first, then custom detectors in file order).
    pub detectors: Vec<usize>,
    pub min_confidence: Confidence,
    pub min_count: u64,
    pub direction: RuleDirection,
    pub recipients: Recipients,
    pub max_rank: Option<u32>,
    pub min_rank: Option<u32>,
    pub action: Action,
    pub reason: String,
}

/// Everything compiled from `dlp.toml`.
#[derive(Debug)]
pub struct Compiled {
    /// Detector names by index: built-ins (in `Builtin::ALL` order), then custom.
    pub names: Vec<String>,
    pub custom: Vec<Custom>,
    /// Corroborating keywords of every built-in; pattern -> bit mask of built-ins.
    pub keyword_ac: Option<AhoCorasick>,
    /// The same patterns with overlapping matches, to find a shorter keyword where
    /// the longest one at a place is not a whole word (`IRD numbers`).
    pub keyword_ac_all: Option<AhoCorasick>,
    pub keyword_mask: Vec<u8>,
    pub max_keyword: usize,
    /// Which built-ins have keywords at all (others never reach high).
    pub has_keywords: u8,
    pub proximity: usize,
    /// Distinct valid values of one built-in that count as a bulk list (0: off).
    pub bulk_min_count: usize,
    pub local_domains: Vec<String>,
    pub attachments: AttachmentSpec,
    pub uninspectable: UninspectableSpec,
    pub rules: Vec<Rule>,
}

/// What DLP takes from the rest of the configuration.
pub struct DlpContext<'a> {
    /// Rank of a classification level name or spelling (the markings vocabulary).
    pub rank_of: &'a dyn Fn(&str) -> Option<u32>,
    /// `[policy] local_domains` of the main configuration.
    pub local_domains: &'a [String],
}

impl DlpContext<'_> {
    /// The default NZ vocabulary and no local domains (tests, benches, tools).
    pub fn standalone() -> DlpContext<'static> {
        DlpContext {
            rank_of: &level_rank,
            local_domains: &[],
        }
    }
}

impl Compiled {
    pub fn compile(file: &RuleFile, ctx: &DlpContext<'_>) -> Result<Compiled, ConfigErrors> {
        let spec: DlpFile = parse_toml(&file.origin, &file.text)?;
        let mut errors = ConfigErrors::default();
        let err = |needle: &str, msg: String| {
            let line = line_containing(&file.text, needle);
            ConfigError::new(file.origin.clone(), line, msg)
        };

        let mut names: Vec<String> = Builtin::ALL.iter().map(|b| b.name().to_string()).collect();
        let mut custom = Vec::new();
        for d in spec.detectors {
            let quoted = format!("\"{}\"", d.id);
            if names.contains(&d.id) {
                errors.push(err(&quoted, format!("duplicate detector id {:?}", d.id)));
                continue;
            }
            match compile_custom(&d) {
                Ok(c) => {
                    names.push(d.id);
                    custom.push(c);
                }
                Err(msg) => errors.push(err(&quoted, format!("detector {:?}: {msg}", d.id))),
            }
        }

        let mut patterns: Vec<String> = Vec::new();
        let mut keyword_mask: Vec<u8> = Vec::new();
        let mut has_keywords = 0u8;
        for (name, words) in &spec.keywords {
            let Some(b) = Builtin::from_name(name) else {
                errors.push(err(
                    &format!("{name} ="),
                    format!("[keywords] {name:?} is not a built-in detector"),
                ));
                continue;
            };
            for w in words {
                let w = w.trim().to_ascii_lowercase();
                if w.is_empty() {
                    errors.push(err(name, format!("[keywords] {name}: empty keyword")));
                    continue;
                }
                has_keywords |= 1 << b.index();
                match patterns.iter().position(|p| *p == w) {
                    Some(i) => keyword_mask[i] |= 1 << b.index(),
                    None => {
                        patterns.push(w);
                        keyword_mask.push(1 << b.index());
                    }
                }
            }
        }
        let max_keyword = patterns.iter().map(String::len).max().unwrap_or(0);
        let keyword_ac_all = if patterns.is_empty() {
            None
        } else {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&patterns)
                .map_err(|e| {
                    errors.push(ConfigError::new(file.origin.clone(), None, e.to_string()))
                })
                .ok()
        };
        let keyword_ac = if patterns.is_empty() {
            None
        } else {
            // Leftmost-longest (not overlapping) lets aho-corasick use its prefilter;
            // a keyword hidden inside a longer one at the same place is not needed.
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .map_err(|e| {
                    errors.push(ConfigError::new(file.origin.clone(), None, e.to_string()))
                })
                .ok()
        };

        let mut rules: Vec<Rule> = Vec::new();
        for r in spec.rules {
            let quoted = format!("\"{}\"", r.id);
            let _ = r.description;
            if r.id.trim().is_empty() {
                errors.push(err("id", "rule id must not be empty".into()));
                continue;
            }
            if rules.iter().any(|x| x.id == r.id) {
                errors.push(err(&quoted, format!("duplicate rule id {:?}", r.id)));
                continue;
            }
            let mut detectors = Vec::new();
            for d in &r.detectors {
                match names.iter().position(|n| n == d) {
                    Some(i) => detectors.push(i),
                    None => errors.push(err(
                        &quoted,
                        format!("rule {:?}: unknown detector {d:?}", r.id),
                    )),
                }
            }
            if r.detectors.is_empty() {
                errors.push(err(
                    &quoted,
                    format!("rule {:?}: detectors must not be empty", r.id),
                ));
            }
            if r.min_count == 0 {
                errors.push(err(
                    &quoted,
                    format!("rule {:?}: min_count must be at least 1", r.id),
                ));
            }
            let mut rank = |level: &Option<String>, key: &str| -> Option<u32> {
                let l = level.as_ref()?;
                let rank = (ctx.rank_of)(l);
                if rank.is_none() {
                    errors.push(err(
                        &quoted,
                        format!("rule {:?}: {key} {l:?} is not a classification level", r.id),
                    ));
                }
                rank
            };
            let max_rank = rank(&r.max_classification, "max_classification");
            let min_rank = rank(&r.min_classification, "min_classification");
            rules.push(Rule {
                reason: r
                    .reason
                    .unwrap_or_else(|| "message contains sensitive identifiers".into()),
                id: r.id,
                detectors,
                min_confidence: r.min_confidence,
                min_count: r.min_count,
                direction: r.direction,
                recipients: r.recipients,
                max_rank,
                min_rank,
                action: r.action,
            });
        }
        if spec.settings.bulk_min_count > MAX_BULK_MIN_COUNT {
            errors.push(err(
                "bulk_min_count",
                format!("[settings] bulk_min_count must be at most {MAX_BULK_MIN_COUNT}"),
            ));
        }
        let a = &spec.attachments;
        if a.max_ratio == 0 || a.max_entries == 0 {
            errors.push(err(
                "[attachments]",
                "[attachments] max_ratio and max_entries must be at least 1".into(),
            ));
        }
        errors.into_result(Compiled {
            names,
            custom,
            keyword_ac,
            keyword_ac_all,
            keyword_mask,
            max_keyword,
            has_keywords,
            proximity: spec.settings.proximity,
            bulk_min_count: spec.settings.bulk_min_count,
            local_domains: spec
                .settings
                .local_domains
                .iter()
                .chain(ctx.local_domains)
                .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
                .collect(),
            attachments: spec.attachments,
            uninspectable: spec.uninspectable,
            rules,
        })
    }

    /// Whether a recipient domain is outside the organisation.
    pub fn is_external(&self, domain: &str) -> bool {
        !self.local_domains.iter().any(|l| {
            domain == l
                || domain
                    .strip_suffix(l.as_str())
                    .is_some_and(|p| p.ends_with('.'))
        })
    }
}

fn compile_custom(d: &DetectorSpec) -> Result<Custom, String> {
    let build = |words: &[String], case_sensitive: bool| -> Result<(AhoCorasick, usize), String> {
        if words.is_empty() || words.iter().any(|w| w.is_empty()) {
            return Err("needs a non-empty list of non-empty strings".into());
        }
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(!case_sensitive)
            .match_kind(MatchKind::Standard)
            .build(words)
            .map_err(|e| e.to_string())?;
        Ok((ac, words.iter().map(String::len).max().unwrap_or(1)))
    };
    match d.kind {
        DetectorKind::Keywords => {
            let (ac, max_len) = build(&d.keywords, d.case_sensitive)?;
            Ok(Custom::Keywords {
                ac,
                whole_word: d.whole_word,
                max_len,
                confidence: d.confidence,
            })
        }
        DetectorKind::Regex => {
            let pattern = d
                .pattern
                .as_deref()
                .ok_or("regex detector needs `pattern`")?;
            let regex = regex::bytes::RegexBuilder::new(pattern)
                .case_insensitive(!d.case_sensitive)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| e.to_string())?;
            let (anchors, max_anchor) = build(&d.anchors, d.case_sensitive)
                .map_err(|e| format!("anchors: {e} (every regex needs literal anchors)"))?;
            if d.window == 0 || d.window > 4096 {
                return Err("window must be between 1 and 4096".into());
            }
            Ok(Custom::Regex {
                regex,
                anchors,
                window: d.window,
                max_anchor,
                confidence: d.confidence,
            })
        }
    }
}
