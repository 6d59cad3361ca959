//! Protective markings (NZISM 15.1, 15.2): reads the marking from the
//! `X-Protective-Marking` header, the subject and body/attachment banners, sets
//! [`MessageFacts::classification`], and enforces the system and route ceilings.
//!
//! Everything decidable from the headers (ceilings, releasability, unmarked outbound,
//! broken markings) is reported at end of headers, so the MTA refuses before the body.
//! Banners can only raise the classification; what they change is reported at the end.

mod banner;
pub mod keyvalue;
pub mod rules;
pub mod vocab;

use super::{MessageFacts, ScanState, Scanner};
use crate::config::policy::MarkingEnforcement;
use crate::config::{ConfigError, ConfigErrors, LoadedConfig, line_with, parse_toml};
use crate::envelope::{Direction, Envelope};
use crate::message::{ContentSink, PartInfo};
use crate::policy::classification::{
    SOURCE_ATTACHMENT, SOURCE_BODY, SOURCE_HEADER, SOURCE_SUBJECT,
};
use crate::policy::routes::{RouteKind, RoutePolicy};
use crate::policy::{Action, Classification, Finding, HeaderEdit};
use banner::{MAX_BANNER_LINE, PartLines, banner_text};
use rules::{ActionsSpec, CarriersSpec, MarkingsFile, Rule};
use std::sync::Arc;
use vocab::{Parsed, Vocabulary, VocabularySpec};

/// The rule file this scanner reads.
pub const RULE_FILE: &str = "markings.toml";

/// Compiled marking rules and routes.
#[derive(Debug)]
pub struct MarkingScanner {
    vocab: Arc<Vocabulary>,
    routes: RoutePolicy,
    carriers: CarriersSpec,
    trace_header: Option<String>,
    default_level: Option<usize>,
    no_tls_rank: u32,
    actions: ActionsSpec,
    enforcement: MarkingEnforcement,
}

impl MarkingScanner {
    /// Compiles `markings.toml` with `[policy]` and `[routes]` of the main config.
    /// Every unknown level (in a ceiling or in the markings file) is reported with
    /// the file and line that names it.
    pub fn compile(loaded: &LoadedConfig) -> Result<MarkingScanner, ConfigErrors> {
        let file = loaded.rule_file(RULE_FILE);
        let spec: MarkingsFile = parse_toml(&file.origin, &file.text)?;
        let mut errors = ConfigErrors::default();
        let levels: Vec<(String, u32, Vec<String>)> = spec
            .levels
            .iter()
            .map(|l| (l.name.clone(), l.rank, l.spellings.clone()))
            .collect();
        let vocab = Vocabulary::compile(
            &VocabularySpec {
                levels: &levels,
                endorsements: &spec.endorsements,
                nzeo: &spec.releasability.nzeo,
                rel_to: &spec.releasability.rel_to,
                seemail: &spec.carriers.seemail,
            },
            &file.origin,
            &file.text,
        )
        .map_err(ConfigErrors)?;
        let file_level = |key: &str, value: &str, errors: &mut ConfigErrors| {
            let found = vocab.find_level(value);
            if found.is_none() {
                errors.push(ConfigError::new(
                    file.origin.clone(),
                    line_with(&file.text, key, value),
                    format!("{key}: {value:?} is not a level defined in this file"),
                ));
            }
            found
        };
        let no_tls = file_level(
            "no_tls_min_level",
            &spec.inbound.no_tls_min_level,
            &mut errors,
        );
        let default_level = spec
            .inbound
            .default_level
            .as_deref()
            .filter(|l| !l.is_empty())
            .and_then(|l| file_level("default_level", l, &mut errors));
        let header_name = &spec.carriers.header_name;
        if header_name.is_empty()
            || !header_name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b':')
        {
            errors.push(ConfigError::new(
                file.origin.clone(),
                line_with(&file.text, "header_name", header_name),
                format!("header_name {header_name:?} is not a valid header field name"),
            ));
        }
        let rank_of = |name: &str| {
            vocab
                .find_level(name)
                .map(|i| (vocab.level(i).name.clone(), vocab.level(i).rank))
        };
        let routes = RoutePolicy::compile(
            &loaded.config.policy,
            &loaded.config.routes,
            &rank_of,
            &loaded.origin,
            &loaded.text,
        )
        .map_err(|e| errors.extend(ConfigErrors(e)))
        .ok();
        let trace_header = Some(spec.inbound.trace_header.clone()).filter(|h| !h.is_empty());
        match routes {
            Some(routes) if errors.is_empty() => Ok(MarkingScanner {
                no_tls_rank: no_tls.map_or(u32::MAX, |i| vocab.level(i).rank),
                vocab: Arc::new(vocab),
                routes,
                carriers: spec.carriers,
                trace_header,
                default_level,
                actions: spec.actions,
                enforcement: loaded.config.policy.marking_enforcement,
            }),
            _ => Err(errors),
        }
    }

    /// The compiled vocabulary: `rank_of("IN-CONFIDENCE")` for thresholds elsewhere.
    pub fn vocabulary(&self) -> &Arc<Vocabulary> {
        &self.vocab
    }

    pub fn routes(&self) -> &RoutePolicy {
        &self.routes
    }
}

impl Scanner for Arc<MarkingScanner> {
    fn name(&self) -> &'static str {
        "markings"
    }

    fn begin(&self, _envelope: &Envelope) -> Option<Box<dyn ScanState>> {
        Some(Box::new(MarkingState::new(Arc::clone(self))))
    }
}

/// Markings read from one kind of carrier.
#[derive(Clone, Debug, Default)]
struct Found {
    /// The highest level read (vocabulary index).
    level: Option<usize>,
    endorsements: Vec<usize>,
    nzeo: bool,
    rel_to: Vec<String>,
}

impl Found {
    fn absorb(&mut self, vocab: &Vocabulary, p: &Parsed, level: Option<usize>) {
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

    fn merge(&mut self, vocab: &Vocabulary, other: &Found) {
        let p = Parsed {
            endorsements: other.endorsements.clone(),
            nzeo: other.nzeo,
            rel_to: other.rel_to.clone(),
            ..Default::default()
        };
        self.absorb(vocab, &p, other.level);
    }
}

fn highest(vocab: &Vocabulary, levels: &[usize]) -> Option<usize> {
    levels.iter().copied().max_by_key(|&l| vocab.level(l).rank)
}

/// Where a key=value marking was read, for finding texts.
#[derive(Clone, Copy)]
enum Carrier {
    Header,
    Subject,
}

/// One message's marking state.
struct MarkingState {
    scanner: Arc<MarkingScanner>,
    header: Found,
    header_count: u32,
    subject: Found,
    seemail: bool,
    /// Broken or unknown markings seen in the headers.
    problems: Vec<(Rule, String)>,
    /// Trace headers already present (forged or from an earlier hop): removed.
    trace_count: u32,
    banner: Found,
    banner_source: &'static str,
    lines: PartLines,
    html: bool,
    /// Rules already reported, so end of message does not repeat end of headers.
    emitted: Vec<Rule>,
    declared: Option<Classification>,
}

impl MarkingState {
    fn new(scanner: Arc<MarkingScanner>) -> Self {
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
    fn declare(&mut self) -> Classification {
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

    fn classification(&self, found: &Found, source: Option<&str>) -> Classification {
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

    fn emit(
        &mut self,
        rule: Rule,
        env: &Envelope,
        class: &Classification,
        detail: String,
        recipients: &[&str],
        out: &mut Vec<Finding>,
    ) {
        let dir = env.direction();
        let action = match (
            self.scanner.enforcement,
            rule.actions(&self.scanner.actions).for_direction(dir),
        ) {
            (MarkingEnforcement::Off, _) => return,
            (MarkingEnforcement::Monitor, a) => a.min(Action::Tag),
            (MarkingEnforcement::Enforce, a) => a,
        };
        if action == Action::Accept || self.emitted.contains(&rule) {
            return;
        }
        self.emitted.push(rule);
        let level = class.level.as_deref().unwrap_or("UNMARKED");
        if action == Action::Reject {
            // NZISM 15.2.40.C.02: every block is logged with what was blocked and for whom.
            tracing::warn!(
                queue_id = env.queue_id.as_deref().unwrap_or("-"),
                direction = %dir,
                rule = rule.id(),
                level,
                recipients = %recipients.join(", "),
                "protective marking block"
            );
        }
        out.push(
            Finding::new(
                rule.id(),
                rule.kind(),
                action,
                format!("{detail} ({})", rule.nzism(dir)),
            )
            .with_data(serde_json::json!({ "level": class.level, "recipients": recipients })),
        );
    }

    fn emit_problems(&mut self, env: &Envelope, class: &Classification, out: &mut Vec<Finding>) {
        for rule in [Rule::Conflict, Rule::Unknown, Rule::Malformed] {
            let details: Vec<String> = self
                .problems
                .iter()
                .filter(|(r, _)| *r == rule)
                .map(|(_, d)| d.clone())
                .collect();
            if !details.is_empty() {
                self.emit(rule, env, class, details.join("; "), &[], out);
            }
        }
    }

    /// Ceiling, releasability, route and TLS checks for one classification.
    fn check(&mut self, env: &Envelope, class: &Classification, out: &mut Vec<Finding>) {
        let scanner = Arc::clone(&self.scanner);
        let routes = &scanner.routes;
        let level = class.level.as_deref().unwrap_or("UNMARKED");
        let system = routes.system_ceiling();
        if class.rank > system.rank {
            self.emit(
                Rule::SystemCeiling,
                env,
                class,
                format!(
                    "{level} mail is above this system's accreditation ({})",
                    system.level
                ),
                &[],
                out,
            );
        }
        let mut over: Vec<&str> = Vec::new();
        let mut over_text: Vec<String> = Vec::new();
        let mut not_nz: Vec<&str> = Vec::new();
        let mut not_rel: Vec<&str> = Vec::new();
        let mut not_secure: Vec<&str> = Vec::new();
        let rel_to: Vec<&str> = class_rel_to(class);
        for (rcpt, domain) in env.rcpt_domains() {
            let (kind, ceiling) = routes.route(&domain);
            // Local recipients have the system ceiling, reported once above.
            if kind != RouteKind::Local && class.rank > ceiling.rank {
                over.push(rcpt);
                over_text.push(format!("{rcpt} (ceiling {})", ceiling.level));
            }
            if class
                .releasability
                .iter()
                .any(|r| r == scanner.vocab.nzeo_name())
                && !routes.in_countries(&domain, ["NZL"])
            {
                not_nz.push(rcpt);
            }
            if !rel_to.is_empty() && !routes.in_countries(&domain, rel_to.iter().copied()) {
                not_rel.push(rcpt);
            }
            if class.seemail && !routes.is_local(&domain) && !routes.in_restricted_group(&domain) {
                not_secure.push(rcpt);
            }
        }
        if !over.is_empty() {
            let d = format!("{level} mail may not be sent to {}", name_list(&over_text));
            self.emit(Rule::RouteCeiling, env, class, d, &over, out);
        }
        if !not_nz.is_empty() {
            let d = format!(
                "{} mail may not leave New Zealand agencies: {}",
                scanner.vocab.nzeo_name(),
                name_list(&not_nz)
            );
            self.emit(Rule::NzeoExternal, env, class, d, &not_nz, out);
        }
        if !not_rel.is_empty() {
            let d = format!(
                "mail releasable to {} may not be sent to {}",
                rel_to.join(", "),
                name_list(&not_rel)
            );
            self.emit(Rule::RelTo, env, class, d, &not_rel, out);
        }
        if !not_secure.is_empty() {
            let d = format!(
                "[SEEMAIL] mail may only go to local or restricted-group domains, not to {}",
                name_list(&not_secure)
            );
            self.emit(Rule::SeemailRoute, env, class, d, &not_secure, out);
        }
        if class.rank >= scanner.no_tls_rank && !env.has_tls() {
            let d = format!("{level} mail arrived without TLS");
            self.emit(Rule::NoTls, env, class, d, &[], out);
        }
        self.restricted_connector(env, class, out);
    }

    /// Inbound connectors: mail from a Restricted-group domain (or any domain that
    /// requires verified TLS) marked above the default ceiling must arrive over TLS.
    fn restricted_connector(
        &mut self,
        env: &Envelope,
        class: &Classification,
        out: &mut Vec<Finding>,
    ) {
        let routes = &self.scanner.routes;
        let Some(sender) = env.mail_from.as_deref().filter(|s| s.contains('@')) else {
            return;
        };
        let domain = crate::envelope::domain_of(sender).to_ascii_lowercase();
        if env.direction() == Direction::Inbound
            && class.rank > routes.default_ceiling().rank
            && routes.requires_verified_tls(&domain)
            && !env.has_tls()
        {
            let level = class.level.as_deref().unwrap_or("UNMARKED");
            let d =
                format!("{level} mail from Restricted-group domain {domain} arrived without TLS");
            self.emit(Rule::RestrictedNoTls, env, class, d, &[], out);
        }
    }

    fn missing(&mut self, env: &Envelope, class: &Classification, out: &mut Vec<Finding>) {
        if !class.is_marked() {
            let d = format!(
                "message carries no protective marking in the subject or {}",
                self.scanner.carriers.header_name
            );
            self.emit(Rule::Missing, env, class, d, &[], out);
        }
    }

    fn header_edits(&self, env: &Envelope, class: &Classification) -> Vec<HeaderEdit> {
        let mut edits = Vec::new();
        if env.direction() != Direction::Inbound {
            return edits;
        }
        if let Some(name) = &self.scanner.trace_header {
            for index in (1..=self.trace_count).rev() {
                edits.push(HeaderEdit::Delete {
                    name: name.clone(),
                    index,
                });
            }
            // Only what was read is traced: unmarked mail passes unchanged.
            if class.is_marked() {
                edits.push(HeaderEdit::Add {
                    name: name.clone(),
                    value: trace_value(class),
                });
            }
        }
        if let Some(l) = self.scanner.default_level
            && self.header_count == 0
            && !class.is_marked()
        {
            let c = &self.scanner.carriers;
            let ns = c
                .namespaces
                .first()
                .map(String::as_str)
                .unwrap_or("govt.nz");
            edits.push(HeaderEdit::Add {
                name: c.header_name.clone(),
                value: format!(
                    "VER={}, NS={ns}, SEC={}",
                    c.header_version,
                    self.scanner.vocab.level(l).name
                ),
            });
        }
        edits
    }
}

/// `CAVEAT=SH:NZEO` -> `NZEO`: drops a short category prefix.
fn strip_caveat_prefix(c: &str) -> &str {
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
fn brackets(s: &str) -> Vec<(&str, bool)> {
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

fn class_rel_to(class: &Classification) -> Vec<&str> {
    class
        .releasability
        .iter()
        .filter_map(|r| r.strip_prefix("REL TO "))
        .flat_map(|codes| codes.split(", "))
        .collect()
}

/// Names recipients in a reply: the first few, then a count.
fn name_list<S: AsRef<str>>(names: &[S]) -> String {
    const SHOWN: usize = 5;
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

/// `RESTRICTED; source=header; endorsements=BUDGET; releasability=NZEO`.
fn trace_value(class: &Classification) -> String {
    let level = class.level.as_deref().unwrap_or("UNMARKED");
    let mut v = format!("{level}; source={}", class.source.as_deref().unwrap_or("-"));
    if !class.endorsements.is_empty() {
        v.push_str(&format!("; endorsements={}", class.endorsements.join(" ")));
    }
    if !class.releasability.is_empty() {
        v.push_str(&format!(
            "; releasability={}",
            class.releasability.join(" ")
        ));
    }
    v
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

impl ScanState for MarkingState {
    fn end_of_headers(&mut self, env: &Envelope, facts: &mut MessageFacts, out: &mut Vec<Finding>) {
        let class = self.declare();
        self.emit_problems(env, &class, out);
        if !self.scanner.carriers.banners_count_as_marking {
            self.missing(env, &class, out);
        }
        self.check(env, &class, out);
        facts.classification = Some(class.clone());
        self.declared = Some(class);
    }

    fn finish(&mut self, env: &Envelope, facts: &mut MessageFacts, out: &mut Vec<Finding>) {
        let declared = match self.declared.take() {
            Some(d) => d,
            None => {
                let mut early = Vec::new();
                self.end_of_headers(env, facts, &mut early);
                out.extend(early);
                self.declared.take().unwrap_or_default()
            }
        };
        let vocab = Arc::clone(&self.scanner.vocab);
        let banner_rank = self.banner.level.map_or(0, |l| vocab.level(l).rank);
        let mut class = declared.clone();
        if banner_rank > declared.rank {
            let banner_level = self.banner.level.map(|l| vocab.level(l).name.clone());
            if declared.is_marked() {
                let d = format!(
                    "a {} banner reads {} but the message is marked {}",
                    self.banner_source,
                    banner_level.as_deref().unwrap_or("-"),
                    declared.level.as_deref().unwrap_or("-")
                );
                self.emit(Rule::Understated, env, &declared, d, &[], out);
            }
            class.level = banner_level;
            class.rank = banner_rank;
            class.source = Some(self.banner_source.to_string());
        }
        for &e in &self.banner.endorsements {
            class.add_endorsement(vocab.endorsement(e));
        }
        if self.banner.nzeo {
            class.add_releasability(vocab.nzeo_name());
        }
        if !self.banner.rel_to.is_empty()
            && !class.releasability.iter().any(|r| r.starts_with("REL TO "))
        {
            class.add_releasability(&format!("REL TO {}", self.banner.rel_to.join(", ")));
        }
        // Otherwise `missing` was decided at end of headers.
        if self.scanner.carriers.banners_count_as_marking {
            self.missing(env, &class, out);
        }
        if class != declared {
            self.check(env, &class, out);
        }
        facts.header_edits.extend(self.header_edits(env, &class));
        facts.classification = Some(class);
    }
}

#[cfg(test)]
mod tests;
