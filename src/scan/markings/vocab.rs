//! The marking vocabulary (levels, endorsements, releasability) compiled from
//! `rules/markings.toml`, and the phrase parser every carrier shares.
//!
//! A marking expression is a run of words: endorsements, one level, releasability
//! (`NZEO`, `REL TO NZL, AUS`), separated by spaces, hyphens, colons or `//`. Inside
//! brackets and headers words compare case-insensitively; in body banners they compare
//! exactly as spelled in the vocabulary, so "restricted area" never counts.

use crate::config::{ConfigError, line_containing};

/// One classification level.
#[derive(Clone, Debug)]
pub struct Level {
    /// Canonical name, as reported (`IN-CONFIDENCE`).
    pub name: String,
    pub rank: u32,
}

/// What a vocabulary phrase stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PhraseKind {
    Level(usize),
    Endorsement(usize),
    /// NZEO and its spellings: releasable to New Zealand only.
    Nzeo,
    /// `REL TO`, followed by country codes.
    RelTo,
    /// `SEEMAIL`: secure route only.
    Seemail,
}

#[derive(Clone, Debug)]
struct Phrase {
    words: Vec<String>,
    kind: PhraseKind,
}

/// The compiled vocabulary. Shared by every message; no allocation on lookup.
#[derive(Clone, Debug)]
pub struct Vocabulary {
    levels: Vec<Level>,
    endorsements: Vec<String>,
    nzeo_name: String,
    /// Longest phrase first, so `TOP SECRET` wins over `SECRET`.
    phrases: Vec<Phrase>,
    /// No vocabulary word holds a lower-case letter: a case-sensitive line that
    /// holds one cannot be a complete marking (the banner fast path).
    all_upper: bool,
}

/// What one marking expression contained.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Level indices, in order of appearance.
    pub levels: Vec<usize>,
    pub endorsements: Vec<usize>,
    pub nzeo: bool,
    /// Country codes after `REL TO` (upper-cased).
    pub rel_to: Vec<String>,
    pub seemail: bool,
    /// Words that are not in the vocabulary.
    pub unknown: Vec<String>,
    /// The first level, when it came before any unknown word (an unterminated
    /// `[SENSITIVE rest of subject` still declares SENSITIVE).
    pub leading_level: Option<usize>,
}

impl Parsed {
    /// A complete marking: a level and nothing foreign.
    pub fn is_marking(&self) -> bool {
        !self.levels.is_empty() && self.unknown.is_empty()
    }
}

/// Input to [`Vocabulary::compile`]: level list and word lists as written in the file.
pub struct VocabularySpec<'a> {
    pub levels: &'a [(String, u32, Vec<String>)],
    pub endorsements: &'a [String],
    pub nzeo: &'a [String],
    pub rel_to: &'a [String],
    pub seemail: &'a [String],
}

impl Vocabulary {
    pub fn compile(
        spec: &VocabularySpec<'_>,
        origin: &str,
        text: &str,
    ) -> Result<Vocabulary, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let err = |needle: &str, msg: String| {
            ConfigError::new(
                origin.to_string(),
                line_containing(text, &format!("\"{needle}\"")),
                msg,
            )
        };
        let mut levels: Vec<Level> = Vec::new();
        let mut phrases: Vec<Phrase> = Vec::new();
        let mut add = |spelling: &str, kind: PhraseKind, errors: &mut Vec<ConfigError>| {
            let words = words_of(spelling);
            if words.is_empty() {
                errors.push(err(spelling, format!("{spelling:?} holds no word")));
                return;
            }
            let clash = phrases.iter().find(|p| {
                p.kind != kind
                    && p.words.len() == words.len()
                    && p.words
                        .iter()
                        .zip(&words)
                        .all(|(a, b)| a.eq_ignore_ascii_case(b))
            });
            if clash.is_some() {
                errors.push(err(
                    spelling,
                    format!("{spelling:?} is already used by another marking word"),
                ));
                return;
            }
            phrases.push(Phrase { words, kind });
        };
        for (name, rank, spellings) in spec.levels {
            if levels.iter().any(|l| l.name.eq_ignore_ascii_case(name)) {
                errors.push(err(name, format!("level {name:?} is defined twice")));
                continue;
            }
            if *rank == 0 {
                errors.push(err(
                    name,
                    format!("level {name:?}: rank must be 1 or more (0 means unmarked)"),
                ));
            }
            let idx = levels.len();
            levels.push(Level {
                name: name.clone(),
                rank: *rank,
            });
            add(name, PhraseKind::Level(idx), &mut errors);
            for s in spellings.iter().filter(|s| !words_eq(s, name)) {
                add(s, PhraseKind::Level(idx), &mut errors);
            }
        }
        for (i, e) in spec.endorsements.iter().enumerate() {
            add(e, PhraseKind::Endorsement(i), &mut errors);
        }
        for n in spec.nzeo {
            add(n, PhraseKind::Nzeo, &mut errors);
        }
        for r in spec.rel_to {
            add(r, PhraseKind::RelTo, &mut errors);
        }
        for s in spec.seemail {
            add(s, PhraseKind::Seemail, &mut errors);
        }
        if levels.is_empty() {
            errors.push(ConfigError::new(
                origin.to_string(),
                None,
                "at least one [[level]] is required".into(),
            ));
        }
        phrases.sort_by_key(|p| std::cmp::Reverse(p.words.len()));
        if !errors.is_empty() {
            return Err(errors);
        }
        let all_upper = phrases
            .iter()
            .flat_map(|p| &p.words)
            .all(|w| !w.bytes().any(|b| b.is_ascii_lowercase()));
        Ok(Vocabulary {
            all_upper,
            levels,
            endorsements: spec.endorsements.to_vec(),
            nzeo_name: spec.nzeo.first().cloned().unwrap_or_else(|| "NZEO".into()),
            phrases,
        })
    }

    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    pub fn level(&self, idx: usize) -> &Level {
        &self.levels[idx]
    }

    pub fn endorsement(&self, idx: usize) -> &str {
        &self.endorsements[idx]
    }

    /// The canonical NZEO caveat as reported.
    pub fn nzeo_name(&self) -> &str {
        &self.nzeo_name
    }

    /// Index of the level with this name or spelling (case, hyphens and spacing ignored).
    pub fn find_level(&self, name: &str) -> Option<usize> {
        let p = self.parse(name, true);
        match (
            p.levels.as_slice(),
            p.unknown.is_empty(),
            p.endorsements.is_empty(),
        ) {
            ([one], true, true) => Some(*one),
            _ => None,
        }
    }

    /// The rank of a level given by name or spelling; `None` when it is not a level.
    /// This is the public lookup for other scanners (DLP thresholds).
    pub fn rank_of(&self, name: &str) -> Option<u32> {
        self.find_level(name).map(|i| self.levels[i].rank)
    }

    /// Cheap pre-check for case-sensitive (banner) matching: `false` when `text` cannot
    /// be a complete marking, so prose lines skip the parser.
    pub fn may_be_banner(&self, text: &str) -> bool {
        !(self.all_upper && text.bytes().any(|b| b.is_ascii_lowercase()))
    }

    /// Parses one marking expression. `fold`: compare words ignoring ASCII case.
    pub fn parse(&self, text: &str, fold: bool) -> Parsed {
        let mut out = Parsed::default();
        let words = Words::new(text);
        let toks: Vec<Token<'_>> = words.collect();
        let mut i = 0;
        while i < toks.len() {
            let Token::Word(w) = toks[i] else {
                i += 1;
                continue;
            };
            let Some(phrase) = self.match_at(&toks[i..], fold) else {
                out.unknown.push(w.to_string());
                i += 1;
                continue;
            };
            i += phrase.words.len();
            match phrase.kind {
                PhraseKind::Level(l) => {
                    if out.levels.is_empty() && out.unknown.is_empty() {
                        out.leading_level = Some(l);
                    }
                    out.levels.push(l)
                }
                PhraseKind::Endorsement(e) => {
                    if !out.endorsements.contains(&e) {
                        out.endorsements.push(e);
                    }
                }
                PhraseKind::Nzeo => out.nzeo = true,
                PhraseKind::Seemail => out.seemail = true,
                PhraseKind::RelTo => {
                    // Country codes up to the next `//` or non-code word.
                    while let Some(tok) = toks.get(i) {
                        match tok {
                            Token::Comma => i += 1,
                            Token::Word(c)
                                if is_country_code(c, fold)
                                    && self.match_at(&toks[i..], fold).is_none() =>
                            {
                                let c = c.to_ascii_uppercase();
                                if !out.rel_to.contains(&c) {
                                    out.rel_to.push(c);
                                }
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                }
            }
        }
        out
    }

    fn match_at(&self, toks: &[Token<'_>], fold: bool) -> Option<&Phrase> {
        self.phrases.iter().find(|p| {
            p.words.len() <= toks.len()
                && p.words.iter().zip(toks).all(|(pw, t)| match t {
                    Token::Word(w) => {
                        if fold {
                            pw.eq_ignore_ascii_case(w)
                        } else {
                            pw == w
                        }
                    }
                    _ => false,
                })
        })
    }
}

/// A country code after `REL TO`: 2 to 4 ASCII letters (NZL, AUS, GBR, FVEY), upper
/// case unless folding.
fn is_country_code(w: &str, fold: bool) -> bool {
    (2..=4).contains(&w.len())
        && w.bytes()
            .all(|b| b.is_ascii_uppercase() || (fold && b.is_ascii_lowercase()))
}

fn words_of(s: &str) -> Vec<String> {
    Words::new(s)
        .filter_map(|t| match t {
            Token::Word(w) => Some(w.to_string()),
            _ => None,
        })
        .collect()
}

fn words_eq(a: &str, b: &str) -> bool {
    let (a, b) = (words_of(a), words_of(b));
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    Word(&'a str),
    /// `//` or `,`: ends a country list, otherwise ignored.
    Comma,
    Slashes,
}

/// Splits an expression into words. Word characters are ASCII alphanumerics, `&` and
/// any non-ASCII character (so a foreign word stays one unknown word); everything
/// else separates.
struct Words<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Words<'a> {
    fn new(s: &'a str) -> Self {
        Words { s, pos: 0 }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '&' || !c.is_ascii()
}

impl<'a> Iterator for Words<'a> {
    type Item = Token<'a>;
    fn next(&mut self) -> Option<Token<'a>> {
        let rest = &self.s[self.pos..];
        let mut chars = rest.char_indices().peekable();
        while let Some(&(i, c)) = chars.peek() {
            if is_word_char(c) {
                let end = rest[i..]
                    .char_indices()
                    .find(|&(_, c)| !is_word_char(c))
                    .map_or(rest.len(), |(j, _)| i + j);
                self.pos += end;
                return Some(Token::Word(&rest[i..end]));
            }
            chars.next();
            if c == ',' {
                self.pos += i + 1;
                return Some(Token::Comma);
            }
            if c == '/' && rest[i + 1..].starts_with('/') {
                self.pos += i + 2;
                return Some(Token::Slashes);
            }
        }
        self.pos = self.s.len();
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn nz() -> Vocabulary {
        let levels: Vec<(String, u32, Vec<String>)> = [
            ("UNCLASSIFIED", 1, vec![]),
            ("IN-CONFIDENCE", 2, vec!["IN CONFIDENCE"]),
            ("SENSITIVE", 3, vec![]),
            ("RESTRICTED", 4, vec![]),
            ("CONFIDENTIAL", 5, vec![]),
            ("SECRET", 6, vec![]),
            ("TOP SECRET", 7, vec!["TOP-SECRET"]),
        ]
        .into_iter()
        .map(|(n, r, s)| (n.to_string(), r, s.into_iter().map(String::from).collect()))
        .collect();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Vocabulary::compile(
            &VocabularySpec {
                levels: &levels,
                endorsements: &s(&[
                    "BUDGET",
                    "MEDICAL",
                    "COMMERCIAL",
                    "SPECIAL HANDLING REQUIRED",
                ]),
                nzeo: &s(&["NZEO"]),
                rel_to: &s(&["REL TO"]),
                seemail: &s(&["SEEMAIL"]),
            },
            "t",
            "",
        )
        .unwrap()
    }

    fn level_of(v: &Vocabulary, p: &Parsed) -> Vec<String> {
        p.levels.iter().map(|&l| v.level(l).name.clone()).collect()
    }

    #[test]
    fn parses_levels_with_endorsements_and_caveats() {
        let v = nz();
        let p = v.parse("BUDGET: SENSITIVE", false);
        assert!(p.is_marking());
        assert_eq!(level_of(&v, &p), ["SENSITIVE"]);
        assert_eq!(v.endorsement(p.endorsements[0]), "BUDGET");
        let p = v.parse("TOP SECRET//REL TO NZL, AUS, gbr", true);
        assert_eq!(level_of(&v, &p), ["TOP SECRET"]);
        assert_eq!(p.rel_to, ["NZL", "AUS", "GBR"]);
        let p = v.parse("SECRET//NZEO", false);
        assert!(p.nzeo && p.is_marking());
        let p = v.parse("in confidence", true);
        assert_eq!(level_of(&v, &p), ["IN-CONFIDENCE"]);
    }

    #[test]
    fn case_sensitive_mode_ignores_prose() {
        let v = nz();
        assert!(!v.parse("restricted area", false).is_marking());
        assert!(!v.parse("RESTRICTED AREA", false).is_marking());
        assert!(!v.parse("trade secret", false).is_marking());
        assert!(!v.parse("Secret", false).is_marking());
        assert!(v.parse("SECRET", false).is_marking());
    }

    #[test]
    fn banner_precheck_skips_prose_only() {
        let v = nz();
        assert!(!v.may_be_banner("Regards, Alice"));
        assert!(v.may_be_banner("*** BUDGET: SENSITIVE ***"));
        assert!(v.may_be_banner("SECRET//REL TO NZL, AUS"));
    }

    #[test]
    fn rank_lookup_accepts_spellings() {
        let v = nz();
        assert_eq!(v.rank_of("in confidence"), Some(2));
        assert_eq!(v.rank_of("TOP-SECRET"), Some(7));
        assert_eq!(v.rank_of("PROTECTED"), None);
        assert_eq!(v.rank_of("BUDGET SENSITIVE"), None);
    }
}
