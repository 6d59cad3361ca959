//! DLP: validated identifiers (IRD, NHI, bank account, passport, driver licence,
//! payment card), custom keyword and regex detectors, attachment text, and rules
//! that weigh hit counts, confidence, direction, recipients and the message's
//! classification. Findings never carry an identifier, only masked samples.

pub mod attachments;
pub mod candidates;
pub mod config;
pub mod identify;
mod stream;
mod tally;
pub mod validators;

use super::{MessageFacts, ScanState, Scanner};
use crate::config::{ConfigErrors, RuleFile};
use crate::envelope::{Direction, Envelope};
use crate::message::{ContentSink, PartInfo};
use crate::policy::{Action, Finding, FindingKind};
use attachments::{Container, EntryText, Uninspectable, ZipLimits};
use config::{Compiled, Recipients, Rule};
use identify::Confidence;
use std::sync::Arc;
use stream::Stream;
use tally::Tally;

pub use config::{DlpContext, level_rank};

/// Rule id of the finding for content that cannot be inspected (NZISM 15.2.37).
pub const UNINSPECTABLE_RULE: &str = "content.uninspectable";

/// Compiled `dlp.toml`, shared by every message.
#[derive(Debug)]
pub struct DlpScanner {
    compiled: Compiled,
}

impl DlpScanner {
    /// Compiles `dlp.toml` on its own: default classification vocabulary, local
    /// domains only from the file.
    pub fn compile(file: &RuleFile) -> Result<DlpScanner, ConfigErrors> {
        DlpScanner::compile_with(file, &DlpContext::standalone())
    }

    /// Compiles `dlp.toml` with the level ranks and local domains of the rest of
    /// the configuration.
    pub fn compile_with(file: &RuleFile, ctx: &DlpContext<'_>) -> Result<DlpScanner, ConfigErrors> {
        Ok(DlpScanner {
            compiled: Compiled::compile(file, ctx)?,
        })
    }

    fn uninspectable_action(&self, d: Direction) -> Action {
        match d {
            Direction::Inbound => self.compiled.uninspectable.inbound,
            Direction::Outbound => self.compiled.uninspectable.outbound,
        }
    }
}

impl Scanner for Arc<DlpScanner> {
    fn name(&self) -> &'static str {
        "dlp"
    }

    fn begin(&self, envelope: &Envelope) -> Option<Box<dyn ScanState>> {
        let direction = envelope.direction();
        let active: Vec<bool> = self
            .compiled
            .rules
            .iter()
            .map(|r| r.direction.applies_to(direction))
            .collect();
        let inspect_attachments = self.uninspectable_action(direction) != Action::Accept;
        if !active.contains(&true) && !inspect_attachments {
            return None;
        }
        Some(Box::new(DlpState {
            tally: Tally::new(self.compiled.names.len()),
            stream: Stream::new(&self.compiled),
            scanner: Arc::clone(self),
            active,
            binary: None,
            uninspectable: Vec::new(),
        }))
    }
}

/// A binary part being received.
struct BinaryPart {
    container: Container,
    /// Whether the part is kept (zip and compound files, up to `max_buffer`).
    buffer: Option<Vec<u8>>,
    size: u64,
    ignored_type: bool,
    label: String,
}

struct DlpState {
    scanner: Arc<DlpScanner>,
    active: Vec<bool>,
    tally: Tally,
    stream: Stream,
    binary: Option<BinaryPart>,
    /// Why some content could not be inspected (no content, only the reason).
    uninspectable: Vec<String>,
}

impl DlpState {
    fn compiled(&self) -> &Compiled {
        &self.scanner.compiled
    }

    fn scan_whole(&mut self, text: &[u8]) {
        let c = &self.scanner.compiled;
        self.stream.reset();
        self.stream.feed(c, &mut self.tally, text);
        self.stream.finish(c, &mut self.tally);
    }

    fn end_binary(&mut self, part: BinaryPart) {
        let a = &self.scanner.compiled.attachments;
        let result = match (part.container, part.buffer) {
            (_, None) if part.container != Container::Other => {
                Err(Uninspectable::BufferLimit(a.max_buffer.0))
            }
            (Container::Zip, Some(data)) => {
                let limits = ZipLimits {
                    max_entries: a.max_entries,
                    max_uncompressed: a.max_uncompressed.0,
                    max_ratio: a.max_ratio,
                };
                let mut out = EntrySink {
                    scanner: Arc::clone(&self.scanner),
                    stream: &mut self.stream,
                    tally: &mut self.tally,
                };
                attachments::extract_zip(&data, limits, &mut out)
            }
            (Container::Compound, Some(data)) if attachments::is_encrypted_office(&data) => {
                Err(Uninspectable::EncryptedOffice)
            }
            _ if part.ignored_type || part.size <= a.opaque_min_size.0 => Ok(()),
            _ => Err(Uninspectable::Opaque(part.size)),
        };
        if let Err(why) = result {
            self.uninspectable.push(format!("{}: {why}", part.label));
        }
    }

    fn rule_applies(&self, rule: &Rule, env: &Envelope, rank: u32) -> bool {
        if rule.max_rank.is_some_and(|max| rank > max)
            || rule.min_rank.is_some_and(|min| rank < min)
        {
            return false;
        }
        match rule.recipients {
            Recipients::Any => true,
            Recipients::External => env
                .rcpt_domains()
                .any(|(_, d)| self.compiled().is_external(&d)),
        }
    }

    fn finding(&self, rule: &Rule, count: u64) -> Finding {
        let c = self.compiled();
        let mut names = Vec::new();
        let mut samples = Vec::new();
        let mut best = rule.min_confidence;
        let mut by_detector = Vec::new();
        let mut bulk = false;
        for &d in &rule.detectors {
            let n = self.tally.at_least(d, rule.min_confidence);
            if n == 0 {
                continue;
            }
            let t = &self.tally.by_detector[d];
            let top = Confidence::ALL
                .into_iter()
                .rev()
                .find(|&conf| t.counts[conf as usize] > 0)
                .unwrap_or(rule.min_confidence);
            best = best.max(top);
            let det_samples: Vec<&String> = Confidence::ALL[rule.min_confidence as usize..]
                .iter()
                .rev()
                .flat_map(|&conf| t.samples[conf as usize].iter())
                .take(tally::MAX_SAMPLES)
                .collect();
            samples.extend(det_samples.iter().map(|s| s.to_string()));
            names.push(c.names[d].clone());
            bulk |= t.bulk;
            by_detector.push(serde_json::json!({
                "detector": c.names[d],
                "count": n,
                "confidence": top.as_str(),
                "samples": det_samples,
                "bulk": t.bulk,
            }));
        }
        samples.truncate(tally::MAX_SAMPLES);
        let detector = names.join(",");
        let detail = format!(
            "{} ({} x{count}, {} confidence{})",
            rule.reason,
            detector,
            best.as_str(),
            if bulk { ", bulk list" } else { "" }
        );
        Finding::new(&rule.id, FindingKind::Dlp, rule.action, detail).with_data(serde_json::json!({
            "detector": detector,
            "count": count,
            "confidence": best.as_str(),
            "min_confidence": rule.min_confidence.as_str(),
            "samples": samples,
            "by_detector": by_detector,
        }))
    }
}

/// Feeds each archive entry's text to the DLP stream.
struct EntrySink<'a> {
    scanner: Arc<DlpScanner>,
    stream: &'a mut Stream,
    tally: &'a mut Tally,
}

impl EntryText for EntrySink<'_> {
    fn entry_start(&mut self) {
        self.stream.reset();
    }
    fn entry_text(&mut self, text: &[u8]) {
        self.stream.feed(&self.scanner.compiled, self.tally, text);
    }
    fn entry_end(&mut self) {
        self.stream.finish(&self.scanner.compiled, self.tally);
    }
}

impl ContentSink for DlpState {
    fn header(&mut self, part: Option<&PartInfo>, name: &str, value: &str) {
        // The Subject is user text; other headers are addresses, ids and dates.
        if part.is_none() && name.eq_ignore_ascii_case("subject") {
            self.scan_whole(value.as_bytes());
        }
    }

    fn part_start(&mut self, part: &PartInfo) {
        self.stream.reset();
        self.binary = None;
        if !part.is_text {
            let a = &self.compiled().attachments;
            let ignored_type = a
                .ignore_types
                .iter()
                .any(|t| part.content_type.starts_with(t.as_str()));
            self.binary = Some(BinaryPart {
                container: Container::Other,
                buffer: None,
                size: 0,
                ignored_type,
                label: match &part.filename {
                    Some(f) => format!("part {} ({})", part.index, sanitize_label(f)),
                    None => format!("part {} ({})", part.index, part.content_type),
                },
            });
        }
    }

    fn text(&mut self, _part: &PartInfo, text: &str) {
        let c = &self.scanner.compiled;
        self.stream.feed(c, &mut self.tally, text.as_bytes());
    }

    fn binary(&mut self, _part: &PartInfo, data: &[u8]) {
        let max = self.compiled().attachments.max_buffer.0;
        let Some(b) = self.binary.as_mut() else {
            return;
        };
        if b.size == 0 && !data.is_empty() {
            b.container = attachments::sniff(data);
            if b.container != Container::Other {
                b.buffer = Some(Vec::new());
            }
        }
        b.size += data.len() as u64;
        if let Some(buf) = b.buffer.as_mut() {
            if b.size > max {
                // Past the limit: stop buffering; the part ends up uninspectable.
                b.buffer = None;
            } else {
                buf.extend_from_slice(data);
            }
        }
    }

    fn part_end(&mut self, _part: &PartInfo) {
        let c = &self.scanner.compiled;
        self.stream.finish(c, &mut self.tally);
        if let Some(b) = self.binary.take() {
            self.end_binary(b);
        }
    }
}

/// File names come from the sender: keep them printable and short in findings.
fn sanitize_label(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(80).collect()
}

impl ScanState for DlpState {
    fn finish(&mut self, env: &Envelope, facts: &mut MessageFacts, out: &mut Vec<Finding>) {
        // A walker that ended without part_end still has text in flight.
        let c = &self.scanner.compiled;
        self.stream.finish(c, &mut self.tally);
        if let Some(b) = self.binary.take() {
            self.end_binary(b);
        }
        self.tally
            .promote_bulk(self.scanner.compiled.bulk_min_count);
        let rank = facts.classification.as_ref().map_or(0, |c| c.rank);
        for (rule, &active) in self.compiled().rules.iter().zip(&self.active) {
            if !active || !self.rule_applies(rule, env, rank) {
                continue;
            }
            let count: u64 = rule
                .detectors
                .iter()
                .map(|&d| self.tally.at_least(d, rule.min_confidence))
                .sum();
            if count >= rule.min_count {
                out.push(self.finding(rule, count));
            }
        }
        if !self.uninspectable.is_empty() {
            let action = self.scanner.uninspectable_action(env.direction());
            out.push(
                Finding::new(
                    UNINSPECTABLE_RULE,
                    FindingKind::Content,
                    action,
                    format!(
                        "content cannot be inspected (NZISM 15.2.37): {}",
                        self.uninspectable.join("; ")
                    ),
                )
                .with_data(serde_json::json!({ "reasons": self.uninspectable })),
            );
        }
    }
}

#[cfg(test)]
mod tests;
