//! DLP: validated identifiers (IRD, NHI, bank account, passport, driver licence,
//! payment card), custom keyword and regex detectors, and rules that weigh hit
//! counts, confidence, direction, recipients and the message's classification.
//! It reads every header field and all text the content router delivers (body,
//! attachments, archive members, extracted document text). Findings never carry
//! an identifier, only masked samples.

pub mod candidates;
pub mod config;
pub mod identify;
mod stream;
mod tally;
pub mod validators;

use super::{MessageFacts, ScanState, Scanner};
use crate::config::{ConfigErrors, RuleFile};
use crate::envelope::Envelope;
use crate::message::{ContentSink, PartInfo};
use crate::policy::{Detection, Finding, FindingKind};
use config::{Compiled, Recipients, Rule};
use identify::Confidence;
use std::sync::Arc;
use stream::Stream;
use tally::Tally;

pub use config::DlpContext;

/// Compiled `dlp.toml`, shared by every message.
#[derive(Debug)]
pub struct DlpScanner {
    compiled: Compiled,
}

impl DlpScanner {
    /// Compiles `dlp.toml` on its own: the embedded markings vocabulary, no local
    /// domains (every recipient is external).
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
        if !active.contains(&true) {
            return None;
        }
        Some(Box::new(DlpState {
            tally: Tally::new(self.compiled.names.len()),
            stream: Stream::new(&self.compiled),
            scanner: Arc::clone(self),
            active,
            field: String::new(),
        }))
    }
}

struct DlpState {
    scanner: Arc<DlpScanner>,
    active: Vec<bool>,
    tally: Tally,
    stream: Stream,
    /// One header field as scanned (`Name: value`), reused.
    field: String,
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
        let mut detections = Vec::new();
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
            detections.push(Detection {
                detector: c.names[d].clone(),
                confidence: top.as_str(),
                count: n,
            });
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
        Finding::new(&rule.id, FindingKind::Dlp, rule.action, detail)
            .with_data(serde_json::json!({
                "detector": detector,
                "count": count,
                "confidence": best.as_str(),
                "min_confidence": rule.min_confidence.as_str(),
                "samples": samples,
                "by_detector": by_detector,
            }))
            .with_detections(detections)
    }
}

impl ContentSink for DlpState {
    /// Every header field, of the message and of each part, is scanned on its own
    /// as `Name: value` (the name can be the corroborating keyword: `X-IRD: ...`).
    /// Values arrive decoded (RFC 2047 words, RFC 2231 parameters such as file
    /// names). Machine-made fields (Received, Message-ID, DKIM-Signature, Date) are
    /// scanned too: a sender can write anything in them, and their digits rarely
    /// form a valid identifier next to a keyword (docs/dlp.md).
    fn header(&mut self, _part: Option<&PartInfo>, name: &str, value: &str) {
        let mut field = std::mem::take(&mut self.field);
        field.clear();
        field.push_str(name);
        field.push_str(": ");
        field.push_str(value);
        self.scan_whole(field.as_bytes());
        self.field = field;
    }

    fn part_start(&mut self, _part: &PartInfo) {
        self.stream.reset();
    }

    fn text(&mut self, _part: &PartInfo, text: &str) {
        let c = &self.scanner.compiled;
        self.stream.feed(c, &mut self.tally, text.as_bytes());
    }

    fn part_end(&mut self, _part: &PartInfo) {
        let c = &self.scanner.compiled;
        self.stream.finish(c, &mut self.tally);
    }
}

impl ScanState for DlpState {
    fn finish(&mut self, env: &Envelope, facts: &mut MessageFacts, out: &mut Vec<Finding>) {
        // A walker that ended without part_end still has text in flight.
        let c = &self.scanner.compiled;
        self.stream.finish(c, &mut self.tally);
        self.tally.promote_bulk(c.bulk_min_count);
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
    }
}

#[cfg(test)]
mod tests;
