//! `dlp.toml` compiled once per configuration: detectors, corroborating keywords,
//! attachment limits and rules, against the markings vocabulary and
//! `[policy] local_domains`. The file model is `config::dlp`.

use super::identify::{Builtin, Confidence};
pub use crate::config::dlp::Recipients;
use crate::config::dlp::{DetectorKind, DetectorSpec, DlpFile, RuleSpec};
use crate::config::keywords::RuleDirection;
use crate::config::{
    ConfigError, ConfigErrors, RuleFile, line_containing, line_of_key, parse_toml,
};
use crate::domain::DomainSet;
use crate::policy::Action;
use crate::scan::markings::embedded_vocabulary;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use std::collections::BTreeMap;

/// Largest `bulk_min_count`: the distinct values are kept per message until then.
const MAX_BULK_MIN_COUNT: usize = 1000;

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
    /// `[policy] local_domains`: recipients outside them are external.
    pub local_domains: DomainSet,
    pub rules: Vec<Rule>,
    /// Per detector, bit `1 << confidence` set when a rule can report samples of
    /// that confidence: only those hits are masked (a mask is a string per hit).
    pub reported: Vec<u8>,
}

/// What DLP takes from the rest of the configuration.
pub struct DlpContext<'a> {
    /// Rank of a classification level name or spelling (the markings vocabulary).
    pub rank_of: &'a dyn Fn(&str) -> Option<u32>,
    /// `[policy] local_domains` of the main configuration.
    pub local_domains: &'a [String],
}

impl DlpContext<'_> {
    /// The vocabulary of the embedded `markings.toml` and no local domains (tests,
    /// benches, tools).
    pub fn standalone() -> DlpContext<'static> {
        DlpContext {
            rank_of: &embedded_rank,
            local_domains: &[],
        }
    }
}

fn embedded_rank(level: &str) -> Option<u32> {
    embedded_vocabulary().rank_of(level)
}

/// Errors of one rule file, each with the line of the text it names.
struct FileErrors<'a> {
    file: &'a RuleFile,
    errors: ConfigErrors,
}

impl FileErrors<'_> {
    /// An error on the first line holding `needle`.
    fn at(&mut self, needle: &str, msg: String) {
        let line = line_containing(&self.file.text, needle);
        self.errors
            .push(ConfigError::new(self.file.origin.clone(), line, msg));
    }

    /// An error on a given line (`None`: the whole file).
    fn on_line(&mut self, line: Option<usize>, msg: String) {
        self.errors
            .push(ConfigError::new(self.file.origin.clone(), line, msg));
    }
}

/// The corroborating keywords of the built-in detectors, compiled.
struct KeywordSets {
    leftmost_longest: Option<AhoCorasick>,
    overlapping: Option<AhoCorasick>,
    mask: Vec<u8>,
    max_len: usize,
    has_keywords: u8,
}

impl Compiled {
    pub fn compile(file: &RuleFile, ctx: &DlpContext<'_>) -> Result<Compiled, ConfigErrors> {
        let spec: DlpFile = parse_toml(&file.origin, &file.text)?;
        let mut errors = FileErrors {
            file,
            errors: ConfigErrors::default(),
        };
        if spec.settings.local_domains.is_some() {
            errors.on_line(
                line_of_key(&file.text, "local_domains"),
                "[settings] local_domains is no longer read from dlp.toml: list this \
                 agency's domains once, in [policy] local_domains of sge-milter.toml, \
                 and delete this line"
                    .into(),
            );
        }
        if spec.settings.bulk_min_count > MAX_BULK_MIN_COUNT {
            errors.on_line(
                line_of_key(&file.text, "bulk_min_count"),
                format!("[settings] bulk_min_count must be at most {MAX_BULK_MIN_COUNT}"),
            );
        }
        let (names, custom) = compile_detectors(spec.detectors, &mut errors);
        let keywords = compile_keywords(&spec.keywords, &mut errors);
        let rules = compile_rules(spec.rules, &names, ctx, &mut errors);
        // Content limits are not DLP rules: they moved to sge-milter.toml.
        if spec.attachments.is_some() {
            errors.at(
                "[attachments]",
                "[attachments] was replaced by [content] in sge-milter.toml (max_buffer, \
                 max_entries, max_ratio, opaque_min_size, ignore_types; max_uncompressed \
                 is now max_decompressed, a per-message budget)"
                    .into(),
            );
        }
        if spec.uninspectable.is_some() {
            errors.at(
                "[uninspectable]",
                "[uninspectable] was replaced by [content] uninspectable_action = \
                 { inbound = \"...\", outbound = \"...\" } in sge-milter.toml"
                    .into(),
            );
        }
        let reported = reported_confidences(&rules, names.len(), spec.settings.bulk_min_count);
        errors.errors.into_result(Compiled {
            reported,
            names,
            custom,
            keyword_ac: keywords.leftmost_longest,
            keyword_ac_all: keywords.overlapping,
            keyword_mask: keywords.mask,
            max_keyword: keywords.max_len,
            has_keywords: keywords.has_keywords,
            proximity: spec.settings.proximity,
            bulk_min_count: spec.settings.bulk_min_count,
            local_domains: DomainSet::from_names(ctx.local_domains),
            rules,
        })
    }

    /// Whether some rule reports samples of detector `det` at confidence `conf`.
    pub fn reports(&self, det: usize, conf: Confidence) -> bool {
        self.reported
            .get(det)
            .is_some_and(|bits| bits & (1 << conf as u8) != 0)
    }

    /// Whether a recipient domain is outside the organisation.
    pub fn is_external(&self, domain: &str) -> bool {
        !self.local_domains.covers(domain)
    }
}

/// [`Compiled::reported`]: the confidences each detector's rules report samples of.
fn reported_confidences(rules: &[Rule], detectors: usize, bulk_min_count: usize) -> Vec<u8> {
    let mut bits = vec![0u8; detectors];
    for rule in rules {
        // A bulk list turns medium hits (and their samples) into high ones.
        let floor = match rule.min_confidence {
            Confidence::High if bulk_min_count > 0 => Confidence::Medium,
            c => c,
        };
        for &d in &rule.detectors {
            for c in &Confidence::ALL[floor as usize..] {
                bits[d] |= 1 << *c as u8;
            }
        }
    }
    bits
}

/// Detector names by index (built-ins, then custom detectors in file order) and
/// the compiled custom detectors.
fn compile_detectors(
    specs: Vec<DetectorSpec>,
    errors: &mut FileErrors<'_>,
) -> (Vec<String>, Vec<Custom>) {
    let mut names: Vec<String> = Builtin::ALL.iter().map(|b| b.name().to_string()).collect();
    let mut custom = Vec::new();
    for d in specs {
        let quoted = format!("\"{}\"", d.id);
        if names.contains(&d.id) {
            errors.at(&quoted, format!("duplicate detector id {:?}", d.id));
            continue;
        }
        match compile_custom(&d) {
            Ok(c) => {
                names.push(d.id);
                custom.push(c);
            }
            Err(msg) => errors.at(&quoted, format!("detector {:?}: {msg}", d.id)),
        }
    }
    (names, custom)
}

/// `[keywords]`: one automaton over every built-in's keywords, each pattern with
/// the bit mask of the built-ins it corroborates.
fn compile_keywords(
    keywords: &BTreeMap<String, Vec<String>>,
    errors: &mut FileErrors<'_>,
) -> KeywordSets {
    let mut patterns: Vec<String> = Vec::new();
    let mut mask: Vec<u8> = Vec::new();
    let mut has_keywords = 0u8;
    for (name, words) in keywords {
        let Some(b) = Builtin::from_name(name) else {
            errors.at(
                &format!("{name} ="),
                format!("[keywords] {name:?} is not a built-in detector"),
            );
            continue;
        };
        for w in words {
            let w = w.trim().to_ascii_lowercase();
            if w.is_empty() {
                errors.at(name, format!("[keywords] {name}: empty keyword"));
                continue;
            }
            has_keywords |= 1 << b.index();
            match patterns.iter().position(|p| *p == w) {
                Some(i) => mask[i] |= 1 << b.index(),
                None => {
                    patterns.push(w);
                    mask.push(1 << b.index());
                }
            }
        }
    }
    let mut automaton = |kind: MatchKind| -> Option<AhoCorasick> {
        if patterns.is_empty() {
            return None;
        }
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(kind)
            .build(&patterns)
            .map_err(|e| errors.on_line(None, e.to_string()))
            .ok()
    };
    // Leftmost-longest (not overlapping) lets aho-corasick use its prefilter; a
    // keyword hidden inside a longer one at the same place is not needed there.
    let leftmost_longest = automaton(MatchKind::LeftmostLongest);
    let overlapping = automaton(MatchKind::Standard);
    KeywordSets {
        leftmost_longest,
        overlapping,
        max_len: patterns.iter().map(String::len).max().unwrap_or(0),
        mask,
        has_keywords,
    }
}

/// `[[rule]]`s, with detector names resolved to indices and classification bounds
/// to ranks of the markings vocabulary.
fn compile_rules(
    specs: Vec<RuleSpec>,
    names: &[String],
    ctx: &DlpContext<'_>,
    errors: &mut FileErrors<'_>,
) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    for r in specs {
        let quoted = format!("\"{}\"", r.id);
        if r.id.trim().is_empty() {
            errors.at("id", "rule id must not be empty".into());
            continue;
        }
        if rules.iter().any(|x| x.id == r.id) {
            errors.at(&quoted, format!("duplicate rule id {:?}", r.id));
            continue;
        }
        let mut detectors = Vec::new();
        for d in &r.detectors {
            match names.iter().position(|n| n == d) {
                Some(i) => detectors.push(i),
                None => errors.at(&quoted, format!("rule {:?}: unknown detector {d:?}", r.id)),
            }
        }
        if r.detectors.is_empty() {
            errors.at(
                &quoted,
                format!("rule {:?}: detectors must not be empty", r.id),
            );
        }
        if r.min_count == 0 {
            errors.at(
                &quoted,
                format!("rule {:?}: min_count must be at least 1", r.id),
            );
        }
        let mut rank = |level: &Option<String>, key: &str| -> Option<u32> {
            let l = level.as_ref()?;
            let rank = (ctx.rank_of)(l);
            if rank.is_none() {
                errors.at(
                    &quoted,
                    format!("rule {:?}: {key} {l:?} is not a classification level", r.id),
                );
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
    rules
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
