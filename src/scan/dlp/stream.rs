//! One text stream (a text part, an attachment entry, the Subject): candidates,
//! keyword proximity and custom detectors, chunk by chunk.
//!
//! Keyword proximity is lazy: the keyword automaton only runs over a chunk (plus
//! the text just before it) while some hit is waiting for its window to close, so
//! text without candidate identifiers costs only the digit scan.

use super::candidates::{Candidate, CandidateSink, Tokenizer};
use super::config::{Compiled, Custom};
use super::identify::{Builtin, Confidence, identify, masked};
use super::tally::Tally;

/// Longest token the tokenizer can hand over (5 groups of 19 digits and separators).
const MAX_TOKEN: usize = 128;

/// A hit waiting for the text after it, to look for a corroborating keyword.
#[derive(Clone, Debug)]
struct Pending {
    builtin: Builtin,
    confidence: Confidence,
    start: u64,
    end: u64,
    sample: Option<String>,
    high_sample: Option<String>,
}

/// Per-custom-detector progress through the stream.
#[derive(Clone, Debug, Default)]
struct CustomProgress {
    /// Matches (keywords) or anchors (regex) ending at or before this offset have
    /// been handled.
    done_upto: u64,
    /// End of the last counted regex match, so overlapping windows count it once.
    last_match_end: u64,
}

#[derive(Default)]
pub struct Stream {
    tokenizer: Tokenizer,
    /// The last bytes before the current chunk (for keyword windows and custom
    /// detectors' left context).
    history: Vec<u8>,
    history_cap: usize,
    pending: Vec<Pending>,
    scratch: Vec<u8>,
    keyword_hits: Vec<(u64, u64, u8)>,
    custom: Vec<CustomProgress>,
}

impl Stream {
    pub fn new(c: &Compiled) -> Self {
        let custom_context = c
            .custom
            .iter()
            .map(|d| match d {
                Custom::Keywords { max_len, .. } => max_len + 2,
                Custom::Regex {
                    window, max_anchor, ..
                } => 2 * window + max_anchor + 2,
            })
            .max()
            .unwrap_or(0);
        Stream {
            history_cap: (c.proximity + c.max_keyword + MAX_TOKEN + 2).max(custom_context),
            custom: vec![CustomProgress::default(); c.custom.len()],
            ..Stream::default()
        }
    }

    /// Starts a new stream (a new part); nothing carries over.
    pub fn reset(&mut self) {
        self.tokenizer = Tokenizer::default();
        self.history.clear();
        self.pending.clear();
        self.custom
            .iter_mut()
            .for_each(|p| *p = CustomProgress::default());
    }

    pub fn feed(&mut self, c: &Compiled, tally: &mut Tally, chunk: &[u8]) {
        let chunk_start = self.tokenizer.position();
        let mut sink = HitSink {
            compiled: c,
            tally,
            pending: &mut self.pending,
        };
        self.tokenizer.feed(chunk, &mut sink);
        if !self.pending.is_empty() || !c.custom.is_empty() {
            self.scratch.clear();
            self.scratch.extend_from_slice(&self.history);
            self.scratch.extend_from_slice(chunk);
            let scratch_start = chunk_start - self.history.len() as u64;
            self.resolve(c, tally, scratch_start, false);
            self.run_custom(c, tally, scratch_start, false);
        }
        self.remember(chunk);
    }

    /// End of the stream: open tokens end, every pending hit is decided.
    pub fn finish(&mut self, c: &Compiled, tally: &mut Tally) {
        let end = self.tokenizer.position();
        let mut sink = HitSink {
            compiled: c,
            tally,
            pending: &mut self.pending,
        };
        self.tokenizer.finish(&mut sink);
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.history);
        let scratch_start = end - self.history.len() as u64;
        self.resolve(c, tally, scratch_start, true);
        self.run_custom(c, tally, scratch_start, true);
        self.reset();
    }

    fn remember(&mut self, chunk: &[u8]) {
        let cap = self.history_cap;
        if chunk.len() >= cap {
            self.history.clear();
            self.history.extend_from_slice(&chunk[chunk.len() - cap..]);
        } else {
            self.history.extend_from_slice(chunk);
            let excess = self.history.len().saturating_sub(cap);
            self.history.drain(..excess);
        }
    }

    /// Looks for corroborating keywords around pending hits in `scratch` and
    /// settles every hit whose window is complete.
    fn resolve(&mut self, c: &Compiled, tally: &mut Tally, scratch_start: u64, last: bool) {
        if self.pending.is_empty() {
            return;
        }
        let scratch_end = scratch_start + self.scratch.len() as u64;
        self.keyword_hits.clear();
        if let (Some(ac), Some(all)) = (&c.keyword_ac, &c.keyword_ac_all) {
            let s = &self.scratch;
            let word_end = |e: usize| e == s.len() || !s[e].is_ascii_alphanumeric();
            for m in ac.find_iter(s) {
                let left_ok = m.start() == 0 || !s[m.start() - 1].is_ascii_alphanumeric();
                if !left_ok {
                    continue;
                }
                let at = |start: usize, end: usize, pattern: usize| {
                    (
                        scratch_start + start as u64,
                        scratch_start + end as u64,
                        c.keyword_mask[pattern],
                    )
                };
                if word_end(m.end()) {
                    self.keyword_hits
                        .push(at(m.start(), m.end(), m.pattern().as_usize()));
                    continue;
                }
                // The longest keyword here runs into a word (`IRD numbers`): a
                // shorter one starting at the same place may still be whole.
                for short in all.find_overlapping_iter(&s[m.start()..m.end()]) {
                    let end = m.start() + short.end();
                    if short.start() == 0 && word_end(end) {
                        self.keyword_hits
                            .push(at(m.start(), end, short.pattern().as_usize()));
                    }
                }
            }
        }
        let w = c.proximity as u64;
        let settled_before = scratch_end.saturating_sub(w + c.max_keyword as u64);
        let keyword_hits = &self.keyword_hits;
        self.pending.retain_mut(|p| {
            let bit = 1u8 << p.builtin.index();
            let near = keyword_hits
                .iter()
                .any(|&(ks, ke, mask)| mask & bit != 0 && ke + w >= p.start && ks <= p.end + w);
            if near {
                tally.add(p.builtin.index(), Confidence::High, p.high_sample.take());
                return false;
            }
            if last || p.end <= settled_before {
                tally.add(p.builtin.index(), p.confidence, p.sample.take());
                return false;
            }
            true
        });
    }

    /// Custom keyword and regex detectors over `scratch`, each match counted once:
    /// a match is handled when its right context is in hand, and the context kept in
    /// `history` lets the next chunk see any match that was not.
    fn run_custom(&mut self, c: &Compiled, tally: &mut Tally, scratch_start: u64, last: bool) {
        let s = &self.scratch;
        let scratch_end = scratch_start + s.len() as u64;
        let base = Builtin::ALL.len();
        for (i, (det, progress)) in c.custom.iter().zip(&mut self.custom).enumerate() {
            match det {
                Custom::Keywords {
                    ac,
                    whole_word,
                    confidence,
                    ..
                } => {
                    let limit = if last {
                        scratch_end
                    } else {
                        scratch_end.saturating_sub(1)
                    };
                    for m in ac.find_overlapping_iter(s) {
                        let end = scratch_start + m.end() as u64;
                        if end <= progress.done_upto || end > limit {
                            continue;
                        }
                        let ok = !whole_word
                            || ((m.start() == 0 || !s[m.start() - 1].is_ascii_alphanumeric())
                                && (m.end() == s.len() || !s[m.end()].is_ascii_alphanumeric()));
                        if ok {
                            tally.add(base + i, *confidence, None);
                        }
                    }
                    progress.done_upto = progress.done_upto.max(limit);
                }
                Custom::Regex {
                    regex,
                    anchors,
                    window,
                    confidence,
                    ..
                } => {
                    let limit = if last {
                        scratch_end
                    } else {
                        scratch_end.saturating_sub(*window as u64)
                    };
                    for m in anchors.find_overlapping_iter(s) {
                        let end = scratch_start + m.end() as u64;
                        if end <= progress.done_upto || end > limit {
                            continue;
                        }
                        let lo = m.start().saturating_sub(*window);
                        let hi = (m.end() + window).min(s.len());
                        for r in regex.find_iter(&s[lo..hi]) {
                            let (rs, re) = (lo + r.start(), lo + r.end());
                            let (abs_s, abs_e) =
                                (scratch_start + rs as u64, scratch_start + re as u64);
                            let overlaps_anchor = rs < m.end() && re > m.start();
                            if overlaps_anchor && abs_s >= progress.last_match_end {
                                progress.last_match_end = abs_e;
                                tally.add(base + i, *confidence, None);
                            }
                        }
                    }
                    progress.done_upto = progress.done_upto.max(limit);
                }
            }
        }
    }
}

/// Turns candidates into hits: settled at once when no keyword could change them,
/// pending otherwise.
struct HitSink<'a> {
    compiled: &'a Compiled,
    tally: &'a mut Tally,
    pending: &'a mut Vec<Pending>,
}

impl CandidateSink for HitSink<'_> {
    fn candidate(&mut self, cand: &Candidate<'_>) -> bool {
        let (compiled, tally, pending) = (self.compiled, &mut *self.tally, &mut *self.pending);
        identify(cand, |builtin, confidence| {
            let det = builtin.index();
            let can_rise = compiled.has_keywords & (1 << det) != 0
                && (confidence == Confidence::Medium || !builtin.has_check_digit());
            let sample = |conf| tally.wants_sample(det, conf).then(|| masked(cand));
            if can_rise {
                pending.push(Pending {
                    builtin,
                    confidence,
                    start: cand.start,
                    end: cand.end,
                    sample: sample(confidence),
                    high_sample: sample(Confidence::High),
                });
            } else {
                let s = sample(confidence);
                tally.add(det, confidence, s);
            }
        })
    }
}
