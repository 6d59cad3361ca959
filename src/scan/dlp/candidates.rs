//! Streaming candidate finder: turns decoded text into identifier-shaped tokens
//! (digit groups joined by the separators people type, optionally with a letter
//! prefix or suffix), chunk by chunk, without buffering the text.
//!
//! This is the DLP hot path, so it is hand-written rather than a regex: text without
//! digits is skipped eight bytes at a time (SWAR), and the byte-by-byte state machine
//! only runs inside digit runs. Its state survives chunk boundaries, so a token split
//! across chunks is seen exactly once, whole.
//!
//! Its memory is bounded whatever the text: a token with more groups than any
//! identifier shape stops storing them (`dead`), and a space-separated run keeps at
//! most `MAX_SHAPE_GROUPS` groups plus one too long to be part of a match.

use super::identify;

/// Longest digit group that can belong to an identifier (a 19-digit card).
pub const MAX_GROUP: usize = 19;
/// Most groups any identifier shape has (`4111 1111 1111 1111 123`).
pub const MAX_SHAPE_GROUPS: usize = 5;
/// Most letters before the digits (NHI: 3).
const MAX_LETTERS: usize = 3;

/// One run of digits inside a token.
#[derive(Clone, Copy, Debug)]
pub struct Group {
    digits: [u8; MAX_GROUP],
    /// True length, which may exceed `MAX_GROUP` (then no shape accepts it).
    pub len: usize,
    /// Absolute offset (within the part) of the first digit.
    pub start: u64,
    /// Glued to something on the outside (`INV-123`, `1.5`): never part of a match.
    pub glued: bool,
}

impl Group {
    fn new(start: u64) -> Self {
        Group {
            digits: [0; MAX_GROUP],
            len: 0,
            start,
            glued: false,
        }
    }

    pub fn digits(&self) -> &[u8] {
        &self.digits[..self.len.min(MAX_GROUP)]
    }

    pub fn end(&self) -> u64 {
        self.start + self.len as u64
    }

    /// Never part of a candidate: glued to a word, or longer than any identifier's
    /// group (so a long group splits a space-separated run, see `group_too_long`).
    fn excluded(&self) -> bool {
        self.glued || self.len > MAX_GROUP
    }

    fn push(&mut self, b: u8) {
        if self.len < MAX_GROUP {
            self.digits[self.len] = b;
        }
        self.len += 1;
    }

    fn push_slice(&mut self, digits: &[u8]) {
        // A run already longer than MAX_GROUP (continued in a later chunk) keeps
        // counting; only the first MAX_GROUP digits are stored (found by fuzzing).
        let at = self.len.min(MAX_GROUP);
        let room = (MAX_GROUP - at).min(digits.len());
        self.digits[at..at + room].copy_from_slice(&digits[..room]);
        self.len += digits.len();
    }
}

/// A token handed to the evaluator.
#[derive(Debug)]
pub struct Candidate<'a> {
    /// Letters typed before the digits, as typed (empty for numeric tokens).
    pub letters: &'a [u8],
    pub groups: &'a [Group],
    /// Letters typed after the digits (the 2022 NHI format).
    pub suffix: &'a [u8],
    /// `b' '` or `b'-'` between groups, 0 for a single group.
    pub sep: u8,
    /// Absolute offsets of the token within the part.
    pub start: u64,
    pub end: u64,
}

/// Receives candidates as the tokenizer completes them.
pub trait CandidateSink {
    /// Returns whether the candidate was an identifier (so a space-separated run
    /// continues after it rather than inside it).
    fn candidate(&mut self, c: &Candidate<'_>) -> bool;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    /// In the digits of the last group.
    Digits,
    /// A separator followed a group: a digit continues the run, anything else ends it.
    AfterSep,
    /// Letters after the digits of a letter-prefixed token.
    Suffix,
    /// The token ended on a joiner (`-`, `.`, `/`, `_`): the next byte decides
    /// whether it was glued to a following word (`1.5`, `123-abc`).
    RightCheck,
    /// Inside an alphanumeric run that cannot be an identifier.
    Skip,
}

/// The streaming tokenizer for one text part.
pub struct Tokenizer {
    state: State,
    /// Absolute offset of the next byte.
    pos: u64,
    /// The last few bytes before the current chunk, for looking back at letters.
    back: [u8; 8],
    back_len: usize,
    letters: [u8; MAX_LETTERS],
    nletters: usize,
    suffix: [u8; MAX_LETTERS],
    nsuffix: usize,
    groups: Vec<Group>,
    sep: u8,
    start: u64,
    /// The token follows `+` or `#` (a phone or reference number): every group of
    /// it is out, however it splits.
    marked: bool,
    /// The token has more groups than any shape (`1-1-1-1-1-1`): it is read to its
    /// end but nothing of it is kept, and it yields no candidate.
    dead: bool,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer {
            state: State::Idle,
            pos: 0,
            back: [0; 8],
            back_len: 0,
            letters: [0; MAX_LETTERS],
            nletters: 0,
            suffix: [0; MAX_LETTERS],
            nsuffix: 0,
            groups: Vec::with_capacity(2 * MAX_SHAPE_GROUPS),
            sep: 0,
            start: 0,
            marked: false,
            dead: false,
        }
    }
}

/// Bytes that glue a number to a neighbouring word: `INV-2024`, `1.5`, `a/123`.
fn is_joiner(b: u8) -> bool {
    matches!(b, b'-' | b'.' | b'/' | b'_' | b'@' | b'\\')
}

/// Bytes that make the following number something else: `+64 21 ...` (phone),
/// `#12345678` (invoice or ticket).
fn is_prefix_mark(b: u8) -> bool {
    matches!(b, b'+' | b'#')
}

impl Tokenizer {
    /// Absolute offset of the next byte (total bytes seen in this part).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Feeds one chunk of the part.
    pub fn feed(&mut self, chunk: &[u8], sink: &mut impl CandidateSink) {
        let base = self.pos;
        let mut i = 0;
        while i < chunk.len() {
            if self.state == State::Idle {
                match find_digit(&chunk[i..]) {
                    Some(off) => i += off,
                    None => break,
                }
                self.begin_token(chunk, i, base);
                i += 1;
                continue;
            }
            if self.state == State::Digits {
                // The rest of a digit run in one go: digit-dense text (CSV, tables)
                // spends most of its time here.
                let rest = &chunk[i..];
                let n = rest
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .unwrap_or(rest.len());
                if n > 0 {
                    self.push_digits(&rest[..n], sink);
                    i += n;
                    continue;
                }
            }
            let b = chunk[i];
            if self.step(b, base + i as u64, sink) {
                i += 1;
            }
        }
        self.pos = base + chunk.len() as u64;
        self.remember_tail(chunk);
    }

    /// Start of the earliest text that may still be part of a candidate not yet
    /// handed over; `None` when every candidate so far has been. Every later
    /// candidate starts at or after it (or after `position()` when `None`).
    pub fn pending_start(&self) -> Option<u64> {
        if matches!(self.state, State::Idle | State::Skip) || self.dead || self.marked {
            return None;
        }
        if self.sep == b' ' {
            return self
                .groups
                .iter()
                .find(|g| g.len <= MAX_GROUP)
                .map(|g| g.start);
        }
        let live = !self.groups.is_empty() && self.groups.iter().all(|g| g.len <= MAX_GROUP);
        live.then_some(self.start)
    }

    /// End of the part: whatever token is open ends here.
    pub fn finish(&mut self, sink: &mut impl CandidateSink) {
        match self.state {
            State::Digits | State::Suffix | State::RightCheck => self.emit(sink),
            State::AfterSep => self.emit(sink),
            State::Idle | State::Skip => {}
        }
        self.reset();
    }

    /// Back to the start of a part, any open token dropped. The group storage is
    /// kept: every header field is scanned as a part of its own.
    pub fn reset(&mut self) {
        self.reset_token();
        self.state = State::Idle;
        self.back_len = 0;
        self.pos = 0;
    }

    fn remember_tail(&mut self, chunk: &[u8]) {
        let keep = self.back.len();
        if chunk.len() >= keep {
            self.back.copy_from_slice(&chunk[chunk.len() - keep..]);
            self.back_len = keep;
        } else {
            let total = (self.back_len + chunk.len()).min(keep);
            let old_keep = total - chunk.len();
            let mut nb = [0u8; 8];
            nb[..old_keep].copy_from_slice(&self.back[self.back_len - old_keep..self.back_len]);
            nb[old_keep..total].copy_from_slice(chunk);
            self.back = nb;
            self.back_len = total;
        }
    }

    /// The byte `k` positions before `chunk[i]`, looking into earlier chunks.
    fn byte_before(&self, chunk: &[u8], i: usize, k: usize) -> Option<u8> {
        if k <= i {
            Some(chunk[i - k])
        } else {
            let from_back = k - i;
            (from_back <= self.back_len).then(|| self.back[self.back_len - from_back])
        }
    }

    /// A digit at `chunk[i]` starts a token: look back for a letter prefix and
    /// decide whether the token is glued to what precedes it.
    fn begin_token(&mut self, chunk: &[u8], i: usize, base: u64) {
        self.reset_token();
        let mut n = 0;
        while n <= MAX_LETTERS {
            match self.byte_before(chunk, i, n + 1) {
                Some(b) if b.is_ascii_alphabetic() => n += 1,
                _ => break,
            }
        }
        let at = base + i as u64;
        if n > MAX_LETTERS {
            // A word glued to digits (`Passport123456`, `abcd1234`): not an identifier.
            self.state = State::Skip;
            return;
        }
        for k in 0..n {
            self.letters[k] = self.byte_before(chunk, i, n - k).unwrap_or(b'?');
        }
        self.nletters = n;
        let before = self.byte_before(chunk, i, n + 1);
        let before2 = self.byte_before(chunk, i, n + 2);
        self.marked = before.is_some_and(is_prefix_mark);
        let glued = match before {
            Some(b) if b.is_ascii_digit() => true,
            Some(b) if is_prefix_mark(b) => true,
            Some(b) if is_joiner(b) => before2.is_some_and(|c| c.is_ascii_alphanumeric()),
            _ => false,
        };
        if glued && n > 0 {
            self.state = State::Skip;
            return;
        }
        let mut g = Group::new(at);
        g.glued = glued;
        g.push(chunk[i]);
        self.groups.push(g);
        self.start = at - n as u64;
        self.state = State::Digits;
    }

    fn reset_token(&mut self) {
        self.nletters = 0;
        self.nsuffix = 0;
        self.groups.clear();
        self.sep = 0;
        self.marked = false;
        self.dead = false;
    }

    /// More digits of the last group.
    fn push_digits(&mut self, digits: &[u8], sink: &mut impl CandidateSink) {
        if let Some(g) = self.groups.last_mut() {
            let was = g.len;
            g.push_slice(digits);
            if was <= MAX_GROUP && g.len > MAX_GROUP {
                self.group_too_long(sink);
            }
        }
    }

    /// The last group just grew past `MAX_GROUP` digits: no candidate can contain
    /// it. In a space-separated run it splits the run, so the groups before it are
    /// decided now (what they give does not depend on anything after); this bounds
    /// how long a candidate waits to be handed over.
    fn group_too_long(&mut self, sink: &mut impl CandidateSink) {
        if self.nletters == 0 && self.sep == b' ' && self.groups.len() > 1 {
            self.offer_sub_runs(self.groups.len() - 1, true, sink);
        }
    }

    /// One byte in a non-idle state. Returns false when the byte must be looked at
    /// again in the new state (it ended a token).
    fn step(&mut self, b: u8, at: u64, sink: &mut impl CandidateSink) -> bool {
        match self.state {
            State::Idle => false,
            State::Skip => {
                if b.is_ascii_alphanumeric() {
                    true
                } else {
                    self.state = State::Idle;
                    false
                }
            }
            State::Digits => {
                if b.is_ascii_digit() {
                    self.push_digits(&[b], sink);
                    return true;
                }
                if b.is_ascii_alphabetic() {
                    if self.nletters > 0 && self.groups.len() == 1 {
                        self.suffix[0] = b;
                        self.nsuffix = 1;
                        self.state = State::Suffix;
                    } else {
                        self.glue_last_and_emit(sink);
                        self.state = State::Skip;
                    }
                    return true;
                }
                if (b == b' ' || b == b'-')
                    && self.nletters == 0
                    && (self.sep == 0 || self.sep == b)
                {
                    self.sep = b;
                    self.state = State::AfterSep;
                    return true;
                }
                self.end_on(b, sink)
            }
            State::AfterSep => {
                if b.is_ascii_digit() {
                    if self.sep == b' ' {
                        if self.groups.len() >= MAX_SHAPE_GROUPS {
                            self.drain_space_run(false, sink);
                        }
                    } else if self.dead || self.groups.len() >= MAX_SHAPE_GROUPS {
                        // More groups than any shape: read on, keep nothing.
                        self.dead = true;
                        self.groups.clear();
                        self.state = State::Digits;
                        return true;
                    }
                    let mut g = Group::new(at);
                    g.push(b);
                    self.groups.push(g);
                    self.state = State::Digits;
                    return true;
                }
                if self.sep == b'-' && b.is_ascii_alphanumeric() {
                    // `123-456-abc`: a compound code, not an identifier.
                    self.glue_last_and_emit(sink);
                } else {
                    self.emit(sink);
                }
                self.state = State::Idle;
                false
            }
            State::Suffix => {
                if b.is_ascii_alphabetic() {
                    if self.nsuffix < MAX_LETTERS {
                        self.suffix[self.nsuffix] = b;
                        self.nsuffix += 1;
                        return true;
                    }
                    self.reset_token();
                    self.state = State::Skip;
                    return true;
                }
                if b.is_ascii_digit() {
                    self.reset_token();
                    self.state = State::Skip;
                    return true;
                }
                self.end_on(b, sink)
            }
            State::RightCheck => {
                if b.is_ascii_alphanumeric() {
                    self.glue_last_and_emit(sink);
                } else {
                    self.emit(sink);
                }
                self.state = State::Idle;
                false
            }
        }
    }

    /// The token's last character is followed by `b` (not a digit or letter).
    fn end_on(&mut self, b: u8, sink: &mut impl CandidateSink) -> bool {
        if is_joiner(b) {
            // Decide at the next byte; `b` itself is consumed.
            self.state = State::RightCheck;
            return true;
        }
        self.emit(sink);
        self.state = State::Idle;
        false
    }

    /// The last group is glued to a following word: drop it (space runs keep the
    /// groups before it; other tokens are dropped whole).
    fn glue_last_and_emit(&mut self, sink: &mut impl CandidateSink) {
        if let Some(g) = self.groups.last_mut() {
            g.glued = true;
        }
        self.emit(sink);
    }

    fn emit(&mut self, sink: &mut impl CandidateSink) {
        if self.groups.is_empty() {
            return;
        }
        if self.sep == b' ' {
            self.drain_space_run(true, sink);
        } else if !self.groups.iter().any(Group::excluded) && self.groups.len() <= MAX_SHAPE_GROUPS
        {
            let last = self.groups[self.groups.len() - 1];
            let end = if self.nsuffix > 0 {
                last.end() + self.nsuffix as u64
            } else {
                last.end()
            };
            let _ = sink.candidate(&Candidate {
                letters: &self.letters[..self.nletters],
                groups: &self.groups,
                suffix: &self.suffix[..self.nsuffix],
                sep: self.sep,
                start: self.start,
                end,
            });
        }
        self.reset_token();
    }

    /// Space-separated digit groups (`4111 1111 1111 1111`, but also table columns
    /// `3 49091850 12`): offer sub-runs of up to `MAX_SHAPE_GROUPS` groups, longest
    /// first, left to right. The sink answers whether a sub-run was an identifier.
    /// Not final: only complete runs of `MAX_SHAPE_GROUPS` at the front are decided,
    /// which keeps the buffer bounded on endless tables.
    fn drain_space_run(&mut self, last: bool, sink: &mut impl CandidateSink) {
        self.offer_sub_runs(self.groups.len(), last, sink);
    }

    /// `drain_space_run` over the first `n` groups only.
    fn offer_sub_runs(&mut self, n: usize, last: bool, sink: &mut impl CandidateSink) {
        if self.marked {
            self.groups.drain(..n);
            return;
        }
        let mut s = 0;
        while s < n {
            let avail = n - s;
            if !last && avail < MAX_SHAPE_GROUPS {
                break;
            }
            let mut taken = 1;
            // Most runs (`1 1 1`, table columns) start with a group no numeric
            // identifier starts with: nothing to offer from here.
            let max_k = if identify::may_start_numeric(self.groups[s].len) {
                avail.min(MAX_SHAPE_GROUPS)
            } else {
                0
            };
            for k in (1..=max_k).rev() {
                let run = &self.groups[s..s + k];
                if run.iter().any(Group::excluded) {
                    continue;
                }
                let c = Candidate {
                    letters: &[],
                    groups: run,
                    suffix: &[],
                    sep: if k > 1 { b' ' } else { 0 },
                    start: run[0].start,
                    end: run[k - 1].end(),
                };
                if sink.candidate(&c) {
                    taken = k;
                    break;
                }
            }
            s += taken;
        }
        self.groups.drain(..s);
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in every byte of `w` that is an ASCII digit (exact for the lowest
/// set byte; higher bytes may be false positives, which callers never rely on).
#[inline]
fn digit_mask(w: u64) -> u64 {
    let t = w ^ (LO * 0x30);
    t.wrapping_sub(LO * 10) & !t & HI
}

/// Index of the first ASCII digit, eight bytes at a time.
#[inline]
pub fn find_digit(hay: &[u8]) -> Option<usize> {
    let mut chunks = hay.chunks_exact(16);
    let mut at = 0;
    for c in &mut chunks {
        let (a, b) = c.split_at(8);
        let wa = u64::from_le_bytes(a.try_into().unwrap_or_default());
        let wb = u64::from_le_bytes(b.try_into().unwrap_or_default());
        let (ma, mb) = (digit_mask(wa), digit_mask(wb));
        if ma | mb != 0 {
            return Some(if ma != 0 {
                at + (ma.trailing_zeros() / 8) as usize
            } else {
                at + 8 + (mb.trailing_zeros() / 8) as usize
            });
        }
        at += 16;
    }
    chunks
        .remainder()
        .iter()
        .position(u8::is_ascii_digit)
        .map(|p| at + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Vec<String>);
    impl CandidateSink for Collect {
        fn candidate(&mut self, c: &Candidate<'_>) -> bool {
            let mut s = String::from_utf8_lossy(c.letters).into_owned();
            for (i, g) in c.groups.iter().enumerate() {
                if i > 0 {
                    s.push(c.sep as char);
                }
                s.push_str(std::str::from_utf8(g.digits()).unwrap_or("?"));
            }
            s.push_str(&String::from_utf8_lossy(c.suffix));
            s.push_str(&format!("@{}..{}", c.start, c.end));
            // Accept lettered tokens and runs of long groups, so space runs split visibly.
            let take =
                !c.letters.is_empty() || c.sep == b'-' || c.groups.iter().all(|g| g.len >= 4);
            if take {
                self.0.push(s);
            }
            take
        }
    }

    fn tokens(text: &str) -> Vec<String> {
        let mut t = Tokenizer::default();
        let mut c = Collect::default();
        t.feed(text.as_bytes(), &mut c);
        t.finish(&mut c);
        c.0
    }

    #[test]
    fn finds_digit_fast_path() {
        for n in 0..40 {
            let mut s = "x".repeat(n);
            s.push('7');
            s.push_str("yyyy");
            assert_eq!(find_digit(s.as_bytes()), Some(n));
        }
        assert_eq!(find_digit(b"no digits here at all, none"), None);
        assert_eq!(find_digit("é/:\u{ff}0".as_bytes()), Some(6));
    }

    #[test]
    fn shapes_and_boundaries() {
        assert_eq!(tokens("IRD 123-456-789."), ["123-456-789@4..15"]);
        assert_eq!(tokens("nhi ZSC21TN ok"), ["ZSC21TN@4..11"]);
        assert_eq!(tokens("pp LA123456"), ["LA123456@3..11"]);
        assert!(tokens("INV-123456789").is_empty());
        assert!(tokens("+64 211234567").is_empty());
        assert!(tokens("#49091850").is_empty());
        assert!(tokens("1.123456789").is_empty());
        assert!(tokens("123456789.5").is_empty());
        assert!(tokens("123-456-789-abc").is_empty());
        assert!(tokens("Passport123456").is_empty());
        assert!(tokens("123456789abc").is_empty());
        assert_eq!(tokens("a,49091850,b"), ["49091850@2..10"]);
    }

    #[test]
    fn space_runs_split_into_sub_runs() {
        assert_eq!(tokens("qty 3 49091850 12"), ["49091850@6..14"]);
        assert_eq!(tokens("4111 1111 1111 1111"), ["4111 1111 1111 1111@0..19"]);
    }

    #[test]
    fn every_split_point_gives_the_same_tokens() {
        let text = "ab 01-0902-0068389-00, ZSC21TN; 4111 1111 1111 1111 x 49091850 LA123456";
        let whole = tokens(text);
        for split in 0..=text.len() {
            let (a, b) = text.split_at(split);
            let mut t = Tokenizer::default();
            let mut c = Collect::default();
            t.feed(a.as_bytes(), &mut c);
            t.feed(b.as_bytes(), &mut c);
            t.finish(&mut c);
            assert_eq!(c.0, whole, "split at {split}");
        }
        let mut t = Tokenizer::default();
        let mut c = Collect::default();
        for b in text.as_bytes() {
            t.feed(std::slice::from_ref(b), &mut c);
        }
        t.finish(&mut c);
        assert_eq!(c.0, whole, "byte by byte");
    }

    /// A run of more digits than any group holds, fed in pieces, and runs that a
    /// long group splits, give the same tokens however the text is cut.
    #[test]
    fn long_runs_in_pieces() {
        let long = "7".repeat(45);
        let text = format!("x {long} 4111 1111 1111 1111 {long}-49091850 49091850 {long}");
        let whole = tokens(&text);
        assert_eq!(
            whole,
            ["4111 1111 1111 1111@48..67", "49091850@123..131"],
            "{text}"
        );
        for piece in [1, 2, 7, 19, 20, 64] {
            let mut t = Tokenizer::default();
            let mut c = Collect::default();
            for p in text.as_bytes().chunks(piece) {
                t.feed(p, &mut c);
            }
            t.finish(&mut c);
            assert_eq!(c.0, whole, "pieces of {piece}");
        }
    }

    /// A token with more groups than any shape keeps no groups, and yields nothing.
    #[test]
    fn endless_dash_runs_keep_nothing() {
        let mut t = Tokenizer::default();
        let mut c = Collect::default();
        for _ in 0..10_000 {
            t.feed(b"12-", &mut c);
            assert!(t.groups.len() <= MAX_SHAPE_GROUPS);
        }
        t.feed(b"34 ok 049-091-850", &mut c);
        t.finish(&mut c);
        assert_eq!(c.0, ["049-091-850@30006..30017"]);
    }
}
