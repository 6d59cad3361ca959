//! Reading markings from their carriers: the marking header, the subject and body
//! or attachment banners, folded into the declared [`Classification`].

use super::MarkingScanner;
use super::banner::{MAX_BANNER_LINE, PartLines, banner_text};
use super::keyvalue;
use super::rules::Rule;
use super::vocab::{Parsed, Vocabulary};
use crate::message::{ContentSink, PartInfo};
use crate::policy::Classification;
use crate::policy::classification::{
    SOURCE_ATTACHMENT, SOURCE_BODY, SOURCE_HEADER, SOURCE_SUBJECT,
};
use std::sync::Arc;

/// Markings read from one kind of carrier.
#[derive(Clone, Debug, Default)]
pub(super) struct Found {
    /// The highest level read (vocabulary index).
    pub(super) level: Option<usize>,
    pub(super) endorsements: Vec<usize>,
    pub(super) nzeo: bool,
    pub(super) rel_to: Vec<String>,
}

impl Found {
    pub(super) fn absorb(&mut self, vocab: &Vocabulary, p: &Parsed, level: Option<usize>) {
        if let Some(l) = level {
            let higher = self
                .level
                .is_none_or(|cur| vocab.level(l).rank > vocab.level(cur).rank);
            if higher {
                self.level = Some(l);
            }
        }
        self.absorb_caveats(p);
    }

    fn absorb_caveats(&mut self, p: &Parsed) {
        for &e in &p.endorsements {
            if !self.endorsements.contains(&e) {
                self.endorsements.push(e);
            }
        }
        self.nzeo |= p.nzeo;
        for c in &p.rel_to {
            if !self.rel_to.contains(c) {
                self.rel_to.push(c.clone());
            }
        }
    }

    pub(super) fn merge(&mut self, vocab: &Vocabulary, other: &Found) {
        let p = Parsed {
            endorsements: other.endorsements.clone(),
            nzeo: other.nzeo,
            rel_to: other.rel_to.clone(),
            ..Default::default()
        };
        self.absorb(vocab, &p, other.level);
    }
}

pub(super) fn highest(vocab: &Vocabulary, levels: &[usize]) -> Option<usize> {
    levels.iter().copied().max_by_key(|&l| vocab.level(l).rank)
}

/// Where a key=value marking was read, for finding texts.
#[derive(Clone, Copy)]
enum Carrier {
    Header,
    Subject,
}

/// One message's marking state.
pub(super) struct MarkingState {
    pub(super) scanner: Arc<MarkingScanner>,
    pub(super) header: Found,
    pub(super) header_count: u32,
    pub(super) subject: Found,
    pub(super) seemail: bool,
    /// Broken or unknown markings seen in the headers.
    pub(super) problems: Vec<(Rule, String)>,
    /// Trace headers already present (forged or from an earlier hop): removed.
    pub(super) trace_count: u32,
    pub(super) banner: Found,
    pub(super) banner_source: &'static str,
    pub(super) lines: PartLines,
    pub(super) html: bool,
    /// Rules already reported, so end of message does not repeat end of headers.
    pub(super) emitted: Vec<Rule>,
    pub(super) declared: Option<Classification>,
}

impl MarkingState {
    pub(super) fn new(scanner: Arc<MarkingScanner>) -> Self {
        MarkingState {
            scanner,
            header: Found::default(),
            header_count: 0,
            subject: Found::default(),
            seemail: false,
            problems: Vec::new(),
            trace_count: 0,
            banner: Found::default(),
            banner_source: SOURCE_BODY,
            lines: PartLines::default(),
            html: false,
            emitted: Vec::new(),
            declared: None,
        }
    }

    fn read_marking_header(&mut self, value: &str) {
        self.header_count += 1;
        let name = self.scanner.carriers.header_name.clone();
        let kv = keyvalue::parse(value, true);
        for p in &kv.problems {
            self.problems
                .push((Rule::Malformed, format!("{name}: {p}")));
        }
        let namespaces = &self.scanner.carriers.namespaces;
        if let Some(ns) = &kv.ns
            && !namespaces.is_empty()
            && !namespaces.iter().any(|n| n.eq_ignore_ascii_case(ns))
        {
            self.problems.push((
                Rule::Malformed,
                format!("{name}: namespace NS={ns:?} is not accepted"),
            ));
        }
        if let Some(sec) = &kv.sec {
            self.read_sec(sec, &kv.caveats, Carrier::Header);
        }
    }

    fn read_sec(&mut self, sec: &str, caveats: &[String], carrier: Carrier) {
        let vocab = Arc::clone(&self.scanner.vocab);
        let p = vocab.parse(sec, true);
        if p.levels.is_empty() || !p.unknown.is_empty() {
            let what = match carrier {
                Carrier::Header => self.scanner.carriers.header_name.as_str(),
                Carrier::Subject => "subject",
            };
            let sec: String = sec.chars().take(60).collect();
            self.problems.push((
                Rule::Unknown,
                format!("{what}: SEC={sec:?} is not a known classification level"),
            ));
        }
        let target = match carrier {
            Carrier::Header => &mut self.header,
            Carrier::Subject => &mut self.subject,
        };
        target.absorb(&vocab, &p, highest(&vocab, &p.levels));
        for c in caveats {
            target.absorb_caveats(&vocab.parse(strip_caveat_prefix(c), true));
        }
    }

    fn read_subject(&mut self, subject: &str) {
        let vocab = Arc::clone(&self.scanner.vocab);
        for (content, terminated) in brackets(subject) {
            if keyvalue::looks_like_key_value(content) {
                let kv = keyvalue::parse(content, false);
                if !terminated {
                    self.problems.push((
                        Rule::Malformed,
                        "subject: unterminated [SEC=... bracket".into(),
                    ));
                }
                for p in &kv.problems {
                    self.problems
                        .push((Rule::Malformed, format!("subject [SEC=...]: {p}")));
                }
                if let Some(sec) = &kv.sec {
                    self.read_sec(sec, &kv.caveats, Carrier::Subject);
                }
                continue;
            }
            let p = vocab.parse(content, true);
            if p.unknown.is_empty() && p.seemail {
                self.seemail = true;
            }
            if terminated && p.is_marking() {
                self.subject.absorb(&vocab, &p, highest(&vocab, &p.levels));
            } else if !terminated && p.leading_level.is_some() {
                let level = p.leading_level.map(|l| vocab.level(l).name.clone());
                self.problems.push((
                    Rule::Malformed,
                    format!(
                        "subject: unterminated marking bracket [{}",
                        level.unwrap_or_default()
                    ),
                ));
                let lead = Parsed {
                    endorsements: p.endorsements.clone(),
                    ..Default::default()
                };
                self.subject.absorb(&vocab, &lead, p.leading_level);
            }
        }
    }

    fn banner_line(&mut self, line: &str, source: &'static str) {
        let text = banner_text(line, self.html);
        if text.is_empty() || text.len() > MAX_BANNER_LINE {
            return;
        }
        let vocab = &self.scanner.vocab;
        if !vocab.may_be_banner(&text) {
            return;
        }
        let p = vocab.parse(&text, false);
        if !p.is_marking() {
            return;
        }
        let level = highest(vocab, &p.levels);
        let before = self.banner.level;
        self.banner.absorb(vocab, &p, level);
        if self.banner.level != before {
            self.banner_source = source;
        }
    }

    /// The declared marking: the header wins over the subject; caveats of both count.
    pub(super) fn declare(&mut self) -> Classification {
        let vocab = Arc::clone(&self.scanner.vocab);
        if let (Some(h), Some(s)) = (self.header.level, self.subject.level)
            && h != s
        {
            self.problems.push((
                Rule::Conflict,
                format!(
                    "{} says {} but the subject says {}; the header wins",
                    self.scanner.carriers.header_name,
                    vocab.level(h).name,
                    vocab.level(s).name
                ),
            ));
        }
        if self.header_count > 1 {
            self.problems.push((
                Rule::Malformed,
                format!(
                    "{} {} headers (at most one allowed); the highest is used",
                    self.header_count, self.scanner.carriers.header_name
                ),
            ));
        }
        let (mut found, source) = if self.header.level.is_some() {
            (self.header.clone(), Some(SOURCE_HEADER))
        } else if self.subject.level.is_some() {
            (self.subject.clone(), Some(SOURCE_SUBJECT))
        } else {
            (Found::default(), None)
        };
        // Caveats restrict wherever they appear.
        let mut caveats = self.header.clone();
        caveats.level = None;
        caveats.merge(
            &vocab,
            &Found {
                level: None,
                ..self.subject.clone()
            },
        );
        found.merge(&vocab, &caveats);
        self.classification(&found, source)
    }

    pub(super) fn classification(&self, found: &Found, source: Option<&str>) -> Classification {
        let vocab = &self.scanner.vocab;
        let mut c = Classification {
            level: found.level.map(|l| vocab.level(l).name.clone()),
            rank: found.level.map_or(0, |l| vocab.level(l).rank),
            source: found.level.and(source).map(str::to_string),
            seemail: self.seemail,
            ..Default::default()
        };
        for &e in &found.endorsements {
            c.add_endorsement(vocab.endorsement(e));
        }
        if found.nzeo {
            c.add_releasability(vocab.nzeo_name());
        }
        if !found.rel_to.is_empty() {
            c.add_releasability(&format!("REL TO {}", found.rel_to.join(", ")));
        }
        c
    }
}

/// `CAVEAT=SH:NZEO` -> `NZEO`: drops a short category prefix.
pub(super) fn strip_caveat_prefix(c: &str) -> &str {
    match c.split_once(':') {
        Some((p, rest))
            if (1..=3).contains(&p.trim().len())
                && p.trim().bytes().all(|b| b.is_ascii_alphabetic()) =>
        {
            rest
        }
        _ => c,
    }
}

/// The `[...]` groups of a subject: `(content, terminated)`. A `[` before the `]`
/// leaves the first bracket unterminated.
pub(super) fn brackets(s: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        match after.find(['[', ']']) {
            Some(i) if after.as_bytes()[i] == b']' => {
                out.push((&after[..i], true));
                rest = &after[i + 1..];
            }
            Some(i) => {
                out.push((&after[..i], false));
                rest = &after[i..];
            }
            None => {
                out.push((after, false));
                break;
            }
        }
    }
    out
}

impl ContentSink for MarkingState {
    fn header(&mut self, part: Option<&PartInfo>, name: &str, value: &str) {
        if part.is_some() {
            return;
        }
        let c = &self.scanner.carriers;
        if c.header && name.eq_ignore_ascii_case(&c.header_name) {
            self.read_marking_header(value);
        } else if c.subject && name.eq_ignore_ascii_case("Subject") {
            self.read_subject(value);
        } else if self
            .scanner
            .trace_header
            .as_deref()
            .is_some_and(|t| name.eq_ignore_ascii_case(t))
        {
            self.trace_count += 1;
        }
    }

    fn part_start(&mut self, part: &PartInfo) {
        self.lines.reset();
        self.html = part.content_type == "text/html";
    }

    fn text(&mut self, part: &PartInfo, text: &str) {
        let n = self.scanner.carriers.banner_lines;
        if !self.scanner.carriers.banners || n == 0 {
            return;
        }
        let source = if part.is_attachment() {
            SOURCE_ATTACHMENT
        } else {
            SOURCE_BODY
        };
        let mut lines = std::mem::take(&mut self.lines);
        let mut heads: Vec<String> = Vec::new();
        lines.push(text, n, self.html, &mut |l| heads.push(l.to_string()));
        self.lines = lines;
        for l in heads {
            self.banner_line(&l, source);
        }
    }

    fn part_end(&mut self, part: &PartInfo) {
        let n = self.scanner.carriers.banner_lines;
        if !self.scanner.carriers.banners || n == 0 || !part.is_text {
            return;
        }
        let source = if part.is_attachment() {
            SOURCE_ATTACHMENT
        } else {
            SOURCE_BODY
        };
        let lines = std::mem::take(&mut self.lines);
        for l in lines.last_lines(n, self.html) {
            self.banner_line(l, source);
        }
        self.lines = lines;
        self.lines.reset();
    }
}
