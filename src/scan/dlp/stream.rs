//! One text stream (a text part, an attachment entry, the Subject): candidates,
//! keyword proximity and custom detectors, slice by slice.
//!
//! Keyword proximity is one forward pass: the keyword automaton runs over each
//! byte at most once (plus a carry of a few hundred bytes after a slice it
//! skipped), keywords and hits are met in text order, and for each built-in only
//! the end of the latest keyword is kept. A hit waits in a queue until every
//! keyword that could start within `proximity` after it has been seen; it is then
//! high if the latest keyword before that point ends within `proximity` before it.
//! Keywords are only searched while some hit waits, so text without candidate
//! identifiers costs only the digit scan.
//!
//! Memory is bounded whatever the text: the tokenizer keeps a bounded token, the
//! queue holds the hits of at most one slice plus a window, and the carried text
//! is `history_cap` bytes.

use super::candidates::{Candidate, CandidateSink, Tokenizer};
use super::config::{Compiled, Custom};
use super::identify::{Builtin, Confidence, identify, masked, value_key};
use super::tally::Tally;
use aho_corasick::Input;
use std::collections::VecDeque;

/// Longest text a candidate can span, from its start until the tokenizer hands it
/// over: 5 groups of up to 19 digits and their separators, plus the group being
/// read when they are handed over.
const MAX_TOKEN: usize = 128;

/// Text is tokenized and matched this many bytes at a time, which bounds the hits
/// waiting at once whatever size of chunk the caller hands over.
const SLICE: usize = 8 * 1024;

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

/// Where the keyword search stands in the stream.
#[derive(Clone, Debug, Default)]
struct KeywordProgress {
    /// Keywords starting before this offset have been seen (and applied).
    from: u64,
    /// Per built-in, the end of the latest keyword seen (keywords are found left
    /// to right without overlap, so the latest also ends last).
    last_end: [Option<u64>; Builtin::ALL.len()],
}

#[derive(Default)]
pub struct Stream {
    tokenizer: Tokenizer,
    /// The last bytes before the current slice (keywords before a hit, custom
    /// detectors' left context).
    history: Vec<u8>,
    history_cap: usize,
    pending: VecDeque<Pending>,
    keywords: KeywordProgress,
    scratch: Vec<u8>,
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
        // Keywords that end within `proximity` before the earliest hit a slice can
        // give, and the keyword cut where a search restarts after skipped slices.
        let keyword_context = c.proximity + 2 * c.max_keyword + MAX_TOKEN + 2;
        Stream {
            history_cap: keyword_context.max(custom_context),
            custom: vec![CustomProgress::default(); c.custom.len()],
            ..Stream::default()
        }
    }

    /// Starts a new stream (a new part); nothing carries over.
    pub fn reset(&mut self) {
        self.tokenizer.reset();
        self.history.clear();
        self.pending.clear();
        self.keywords = KeywordProgress::default();
        self.custom
            .iter_mut()
            .for_each(|p| *p = CustomProgress::default());
    }

    pub fn feed(&mut self, c: &Compiled, tally: &mut Tally, text: &[u8]) {
        for slice in text.chunks(SLICE) {
            self.feed_slice(c, tally, slice);
        }
    }

    fn feed_slice(&mut self, c: &Compiled, tally: &mut Tally, slice: &[u8]) {
        let slice_start = self.tokenizer.position();
        let mut sink = HitSink {
            compiled: c,
            tally,
            pending: &mut self.pending,
        };
        self.tokenizer.feed(slice, &mut sink);
        if !self.pending.is_empty() || !c.custom.is_empty() {
            self.scratch.clear();
            self.scratch.extend_from_slice(&self.history);
            self.scratch.extend_from_slice(slice);
            let scratch_start = slice_start - self.history.len() as u64;
            self.match_keywords(c, tally, scratch_start, false);
            self.run_custom(c, tally, scratch_start, false);
        }
        self.remember(slice);
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
        self.match_keywords(c, tally, scratch_start, true);
        self.run_custom(c, tally, scratch_start, true);
        self.reset();
    }

    fn remember(&mut self, slice: &[u8]) {
        let cap = self.history_cap;
        if slice.len() >= cap {
            self.history.clear();
            self.history.extend_from_slice(&slice[slice.len() - cap..]);
        } else {
            self.history.extend_from_slice(slice);
            let excess = self.history.len().saturating_sub(cap);
            self.history.drain(..excess);
        }
    }

    /// Finds the keywords of `scratch` not seen yet, in order, and settles every
    /// pending hit whose window is complete. With `last`, the stream has ended:
    /// every keyword is final and every hit is settled.
    fn match_keywords(&mut self, c: &Compiled, tally: &mut Tally, scratch_start: u64, last: bool) {
        if self.pending.is_empty() {
            return;
        }
        let w = c.proximity as u64;
        let (Some(ac), Some(all)) = (&c.keyword_ac, &c.keyword_ac_all) else {
            self.settle(tally, w, u64::MAX);
            return;
        };
        let s = &self.scratch;
        let scratch_end = scratch_start + s.len() as u64;
        // Resume where the last search stopped, or (after slices skipped because
        // no hit was waiting) at the oldest byte in hand: the byte before the
        // first searched one is kept for the whole-word test.
        let oldest = if scratch_start == 0 {
            0
        } else {
            scratch_start + 1
        };
        let from = self.keywords.from.max(oldest).min(scratch_end);
        // Decide only keywords whose longest form and the byte after it are in
        // hand, and none past `proximity` after a candidate the tokenizer still
        // holds (a hit it hands over later must see the keywords before it).
        let frontier = if last {
            u64::MAX
        } else {
            let held = self.tokenizer.pending_start().unwrap_or(scratch_end);
            scratch_end
                .saturating_sub(c.max_keyword as u64 + 1)
                .min(held + w + 1)
        };
        let word_end = |e: usize| e == s.len() || !s[e].is_ascii_alphanumeric();
        let input = Input::new(s).span((from - scratch_start) as usize..s.len());
        let mut resume = from;
        for m in ac.find_iter(input) {
            let ks = scratch_start + m.start() as u64;
            if ks >= frontier {
                break;
            }
            resume = scratch_start + m.end() as u64;
            let left_ok = m.start() == 0 || !s[m.start() - 1].is_ascii_alphanumeric();
            if !left_ok {
                continue;
            }
            settle_before(&mut self.pending, tally, &self.keywords, w, ks);
            let mut seen = |end: usize, pattern: usize| {
                let ke = scratch_start + end as u64;
                let mask = c.keyword_mask[pattern];
                for (i, last_end) in self.keywords.last_end.iter_mut().enumerate() {
                    if mask & (1 << i) != 0 {
                        *last_end = Some(last_end.map_or(ke, |e| e.max(ke)));
                    }
                }
            };
            if word_end(m.end()) {
                seen(m.end(), m.pattern().as_usize());
                continue;
            }
            // The longest keyword here runs into a word (`IRD numbers`): a
            // shorter one starting at the same place may still be whole.
            for short in all.find_overlapping_iter(&s[m.start()..m.end()]) {
                let end = m.start() + short.end();
                if short.start() == 0 && word_end(end) {
                    seen(end, short.pattern().as_usize());
                }
            }
        }
        self.keywords.from = if last {
            scratch_end
        } else {
            resume.max(frontier.max(from))
        };
        let settled = if last { u64::MAX } else { self.keywords.from };
        self.settle(tally, w, settled);
    }

    /// Settles the waiting hits whose window closes before `before`.
    fn settle(&mut self, tally: &mut Tally, w: u64, before: u64) {
        settle_before(&mut self.pending, tally, &self.keywords, w, before);
    }

    /// Custom keyword and regex detectors over `scratch`, each match counted once:
    /// a match is handled when its right context is in hand, and the context kept in
    /// `history` lets the next slice see any match that was not.
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

/// Settles, in order, the waiting hits whose window (`w` after their end) closes
/// before `before`: every keyword starting in the window has been applied to
/// `kw`, and none starting after it, so the latest keyword decides.
fn settle_before(
    pending: &mut VecDeque<Pending>,
    tally: &mut Tally,
    kw: &KeywordProgress,
    w: u64,
    before: u64,
) {
    while let Some(p) = pending.front_mut() {
        if p.end.saturating_add(w) >= before {
            break;
        }
        let det = p.builtin.index();
        if kw.last_end[det].is_some_and(|ke| ke + w >= p.start) {
            tally.add(det, Confidence::High, p.high_sample.take());
        } else {
            tally.add(det, p.confidence, p.sample.take());
        }
        pending.pop_front();
    }
}

/// Turns candidates into hits: settled at once when no keyword could change them,
/// pending otherwise.
struct HitSink<'a> {
    compiled: &'a Compiled,
    tally: &'a mut Tally,
    pending: &'a mut VecDeque<Pending>,
}

impl CandidateSink for HitSink<'_> {
    fn candidate(&mut self, cand: &Candidate<'_>) -> bool {
        let (compiled, tally, pending) = (self.compiled, &mut *self.tally, &mut *self.pending);
        identify(cand, |builtin, confidence| {
            let det = builtin.index();
            if confidence == Confidence::Medium {
                tally.note_valid(det, value_key(cand), compiled.bulk_min_count);
            }
            let can_rise = compiled.has_keywords & (1 << det) != 0
                && (confidence == Confidence::Medium || !builtin.has_check_digit());
            // Masked only when a rule could report it (not for every low hit).
            let sample = |conf| {
                (compiled.reports(det, conf) && tally.wants_sample(det, conf)).then(|| masked(cand))
            };
            if can_rise {
                pending.push_back(Pending {
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
