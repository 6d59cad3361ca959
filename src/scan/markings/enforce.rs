//! Enforcing a classification: system and route ceilings, releasability, TLS and
//! missing markings become findings; accepted inbound mail gets its trace header.

use super::read::MarkingState;
use super::rules::Rule;
use crate::config::policy::MarkingEnforcement;
use crate::envelope::{Direction, Envelope};
use crate::policy::routes::RouteKind;
use crate::policy::{Action, Classification, Finding, HeaderEdit};
use crate::scan::{MessageFacts, ScanState};
use std::sync::Arc;

impl MarkingState {
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
