//! Keyword rules: literal terms matched with aho-corasick over decoded header values
//! and decoded body text, chunk-safe.

use super::{MessageFacts, ScanState, Scanner};
pub use crate::config::keywords::RuleDirection;
use crate::config::keywords::{KeywordFile, Scope};
use crate::config::{ConfigError, ConfigErrors, RuleFile, line_containing, parse_toml};
use crate::envelope::Envelope;
use crate::message::{ContentSink, PartInfo};
use crate::policy::{Action, Finding, FindingKind};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use std::sync::Arc;

#[derive(Debug)]
struct KeywordRule {
    id: String,
    direction: RuleDirection,
    action: Action,
    reason: String,
    in_headers: bool,
    in_body: bool,
}

/// One automaton per case mode; pattern index -> rule index.
#[derive(Debug)]
struct Automaton {
    ac: AhoCorasick,
    rule_of_pattern: Vec<usize>,
    max_len: usize,
}

/// Compiled keyword rules.
#[derive(Debug)]
pub struct KeywordScanner {
    rules: Vec<KeywordRule>,
    automata: Vec<Automaton>,
}

impl KeywordScanner {
    /// Compiles `keywords.toml`; every problem is reported with file and line.
    pub fn compile(file: &RuleFile) -> Result<KeywordScanner, ConfigErrors> {
        let spec: KeywordFile = parse_toml(&file.origin, &file.text)?;
        let mut errors = ConfigErrors::default();
        let err = |id: &str, msg: String| {
            let line = line_containing(&file.text, &format!("\"{id}\""));
            ConfigError::new(file.origin.clone(), line, msg)
        };
        let mut rules = Vec::new();
        let mut sensitive: (Vec<String>, Vec<usize>) = Default::default();
        let mut insensitive: (Vec<String>, Vec<usize>) = Default::default();
        for r in spec.rules {
            if r.id.trim().is_empty() {
                errors.push(err("id", "rule id must not be empty".into()));
                continue;
            }
            if rules.iter().any(|k: &KeywordRule| k.id == r.id) {
                errors.push(err(&r.id, format!("duplicate rule id {:?}", r.id)));
                continue;
            }
            if r.patterns.is_empty() || r.patterns.iter().any(|p| p.is_empty()) {
                errors.push(err(
                    &r.id,
                    format!(
                        "rule {:?}: patterns must be a non-empty list of non-empty strings",
                        r.id
                    ),
                ));
                continue;
            }
            if r.scope.is_empty() {
                errors.push(err(
                    &r.id,
                    format!("rule {:?}: scope must not be empty", r.id),
                ));
                continue;
            }
            let _ = r.description;
            let idx = rules.len();
            let target = if r.case_sensitive {
                &mut sensitive
            } else {
                &mut insensitive
            };
            for p in r.patterns {
                target.0.push(p);
                target.1.push(idx);
            }
            rules.push(KeywordRule {
                reason: r
                    .reason
                    .unwrap_or_else(|| "message contains a blocked term".into()),
                in_headers: r.scope.contains(&Scope::Headers),
                in_body: r.scope.contains(&Scope::Body),
                id: r.id,
                direction: r.direction,
                action: r.action,
            });
        }
        let mut automata = Vec::new();
        for ((patterns, rule_of_pattern), case_insensitive) in
            [(sensitive, false), (insensitive, true)]
        {
            if patterns.is_empty() {
                continue;
            }
            let ac = AhoCorasickBuilder::new()
                .ascii_case_insensitive(case_insensitive)
                .match_kind(MatchKind::Standard)
                .build(&patterns)
                .map_err(|e| ConfigError::new(file.origin.clone(), None, e.to_string()))?;
            let max_len = patterns.iter().map(String::len).max().unwrap_or(1);
            automata.push(Automaton {
                ac,
                rule_of_pattern,
                max_len,
            });
        }
        errors.into_result(KeywordScanner { rules, automata })
    }
}

impl Scanner for Arc<KeywordScanner> {
    fn name(&self) -> &'static str {
        "keywords"
    }

    fn begin(&self, envelope: &Envelope) -> Option<Box<dyn ScanState>> {
        let direction = envelope.direction();
        let active: Vec<bool> = self
            .rules
            .iter()
            .map(|r| r.direction.applies_to(direction))
            .collect();
        if !active.contains(&true) {
            return None;
        }
        Some(Box::new(KeywordState {
            counts: vec![0; self.rules.len()],
            tails: vec![Vec::new(); self.automata.len()],
            seam: Vec::new(),
            scanner: Arc::clone(self),
            active,
        }))
    }
}

struct KeywordState {
    scanner: Arc<KeywordScanner>,
    active: Vec<bool>,
    counts: Vec<u32>,
    /// Per automaton: the last `max_len - 1` bytes of the current part's text, so a
    /// match split across two chunks is found once, at the seam.
    tails: Vec<Vec<u8>>,
    /// Reused buffer for the seam between a tail and the next chunk.
    seam: Vec<u8>,
}

impl KeywordState {
    fn count(&mut self, auto: usize, hay: &[u8], body: bool, min_end: usize, max_start: usize) {
        let a = &self.scanner.automata[auto];
        for m in a.ac.find_overlapping_iter(hay) {
            if m.end() <= min_end || m.start() >= max_start {
                continue;
            }
            let rule_idx = a.rule_of_pattern[m.pattern().as_usize()];
            let rule = &self.scanner.rules[rule_idx];
            let in_scope = if body { rule.in_body } else { rule.in_headers };
            if in_scope && self.active[rule_idx] {
                self.counts[rule_idx] += 1;
            }
        }
    }
}

impl ContentSink for KeywordState {
    fn header(&mut self, part: Option<&PartInfo>, _name: &str, value: &str) {
        // Part headers (file names, part subjects) are body content; the top-level
        // header block is the headers scope.
        let body = part.is_some();
        for i in 0..self.scanner.automata.len() {
            self.count(i, value.as_bytes(), body, 0, usize::MAX);
        }
    }

    fn part_start(&mut self, _part: &PartInfo) {
        self.tails.iter_mut().for_each(Vec::clear);
    }

    fn text(&mut self, _part: &PartInfo, text: &str) {
        let chunk = text.as_bytes();
        for i in 0..self.scanner.automata.len() {
            let keep = self.scanner.automata[i].max_len - 1;
            // Matches that straddle the seam: start in the tail, end in the chunk.
            let mut seam = std::mem::take(&mut self.seam);
            if !self.tails[i].is_empty() {
                seam.clear();
                seam.extend_from_slice(&self.tails[i]);
                let tail_len = seam.len();
                seam.extend_from_slice(&chunk[..chunk.len().min(keep)]);
                self.count(i, &seam, true, tail_len, tail_len);
            }
            self.seam = seam;
            self.count(i, chunk, true, 0, usize::MAX);
            let tail = &mut self.tails[i];
            if chunk.len() >= keep {
                tail.clear();
                tail.extend_from_slice(&chunk[chunk.len() - keep..]);
            } else {
                tail.extend_from_slice(chunk);
                let excess = tail.len().saturating_sub(keep);
                tail.drain(..excess);
            }
        }
    }

    fn part_end(&mut self, _part: &PartInfo) {
        self.tails.iter_mut().for_each(Vec::clear);
    }
}

impl ScanState for KeywordState {
    fn finish(&mut self, _env: &Envelope, _facts: &mut MessageFacts, out: &mut Vec<Finding>) {
        for (rule, &count) in self.scanner.rules.iter().zip(&self.counts) {
            if count > 0 {
                out.push(
                    Finding::new(&rule.id, FindingKind::Keyword, rule.action, &rule.reason)
                        .with_data(serde_json::json!({ "count": count })),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Direction;

    fn scanner(toml: &str) -> Arc<KeywordScanner> {
        let file = RuleFile {
            name: "keywords.toml",
            origin: "test.toml".into(),
            text: toml.into(),
        };
        Arc::new(KeywordScanner::compile(&file).unwrap())
    }

    const RULES: &str = r#"
[[rule]]
id = "kw.secret"
patterns = ["project nightjar"]
action = "reject"

[[rule]]
id = "kw.case"
patterns = ["CODEWORD"]
case_sensitive = true
direction = "outbound"
action = "quarantine"
"#;

    fn run(s: &Arc<KeywordScanner>, dir: Direction, chunks: &[&str]) -> Vec<Finding> {
        let env = Envelope {
            direction: Some(dir),
            ..Default::default()
        };
        let mut st = s.begin(&env).unwrap();
        let part = PartInfo::default();
        st.part_start(&part);
        for c in chunks {
            st.text(&part, c);
        }
        st.part_end(&part);
        let mut out = Vec::new();
        st.finish(&env, &mut MessageFacts::default(), &mut out);
        out
    }

    #[test]
    fn finds_pattern_split_across_chunks_exactly_once() {
        let s = scanner(RULES);
        for split in 1.."project nightjar".len() {
            let text = "xx Project Nightjar yy";
            let (a, b) = text.split_at(3 + split);
            let out = run(&s, Direction::Inbound, &[a, b]);
            assert_eq!(out.len(), 1, "split at {split}");
            assert_eq!(
                out[0].data.as_ref().unwrap()["count"],
                1,
                "split at {split}"
            );
        }
        let out = run(
            &s,
            Direction::Inbound,
            &["pro", "j", "ect", " ", "nightjar nightjar"],
        );
        assert_eq!(out[0].data.as_ref().unwrap()["count"], 1);
    }

    #[test]
    fn respects_case_and_direction() {
        let s = scanner(RULES);
        assert!(run(&s, Direction::Outbound, &["codeword"]).is_empty());
        let out = run(&s, Direction::Outbound, &["CODEWORD"]);
        assert_eq!(out[0].rule_id, "kw.case");
        assert!(run(&s, Direction::Inbound, &["CODEWORD"]).is_empty());
    }

    #[test]
    fn reports_duplicate_ids_with_line() {
        let file = RuleFile {
            name: "keywords.toml",
            origin: "k.toml".into(),
            text: "[[rule]]\nid = \"a\"\npatterns = [\"x\"]\naction = \"tag\"\n\n[[rule]]\nid = \"b\"\npatterns = []\naction = \"tag\"\n".into(),
        };
        let errs = KeywordScanner::compile(&file).unwrap_err();
        assert_eq!(errs.0[0].line, Some(7), "{errs}");
    }
}
