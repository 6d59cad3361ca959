//! Streaming DKIM "relaxed" body canonicalization (RFC 6376 §3.4.4) feeding a hash.
//!
//! Hand-written because it runs over every byte of every inbound signed body, and
//! mail-auth 0.13's `BodyHasher` stops at every space to look at the next byte (one
//! loop turn per word, ≈3–8% of the milter's CPU under load). This is the same state
//! machine as mail-auth's `CanonicalState::write_relaxed` (so the hashes are the
//! ones mail-auth computes over the whole body, which `body_hash`'s tests check over
//! generated bodies and every chunking); only the search for where a verbatim run
//! ends differs: it looks at 8 bytes per step and stops only where the relaxed rules
//! change something (a tab, a space before white space or a line break, an empty
//! line, a line break split from what follows), so ordinary text is hashed in runs
//! spanning many lines. Simple canonicalization stays with mail-auth (it already
//! searches for line breaks with memchr).

use mail_auth::common::crypto::HashContext;

/// Relaxed body canonicalization into `hasher`, chunk by chunk, with mail-auth's
/// `l=` semantics (the first `limit` bytes as received; 0: the whole body).
pub struct RelaxedBody<H> {
    hasher: H,
    limit: u64,
    seen: u64,
    /// Line breaks held back: trailing empty lines are dropped at the end.
    crlf_seq: usize,
    /// The last byte looked at (a held-back space or tab becomes one space).
    last_ch: u8,
    is_empty: bool,
}

impl<H: HashContext> RelaxedBody<H> {
    pub fn new(hasher: H, limit: u64) -> RelaxedBody<H> {
        RelaxedBody {
            hasher,
            limit,
            seen: 0,
            crlf_seq: 0,
            last_ch: 0,
            is_empty: true,
        }
    }

    /// The next body bytes, as received (a CRLF or a white-space run may be split
    /// across chunks).
    pub fn write(&mut self, chunk: &[u8]) {
        let chunk = if self.limit > 0 {
            let left = self.limit.saturating_sub(self.seen);
            &chunk[..left.min(chunk.len() as u64) as usize]
        } else {
            chunk
        };
        self.seen += chunk.len() as u64;
        let mut rest = chunk;
        while !rest.is_empty() {
            let (run, tail) = rest.split_at(run_end(rest));
            if let Some(&last) = run.last() {
                self.flush_breaks();
                if self.last_ch == b' ' || self.last_ch == b'\t' {
                    self.hasher.write(b" ");
                }
                self.hasher.write(run);
                self.is_empty = false;
                self.last_ch = last;
            }
            rest = &tail[self.white_space(tail)..];
        }
    }

    /// Consumes the white space and line breaks at the start of `tail` (up to the
    /// next other byte): a line break followed by white space is written (the
    /// white space will be one space before the next run), breaks after the last
    /// white space are held back. Returns how many bytes it consumed.
    fn white_space(&mut self, tail: &[u8]) -> usize {
        let mut consumed = 0;
        let mut last_ch = self.last_ch;
        let mut breaks = self.crlf_seq;
        let mut pending = 0;
        let mut has_wsp = false;
        for &ch in tail {
            match ch {
                b'\n' => pending += 1,
                b' ' | b'\t' => {
                    breaks += pending;
                    pending = 0;
                    has_wsp = true;
                }
                // A CR is only ever part of a line break here (as in mail-auth).
                b'\r' => {}
                _ => break,
            }
            consumed += 1;
            last_ch = ch;
        }
        if consumed != 0 {
            if has_wsp {
                self.write_breaks(breaks);
                self.crlf_seq = pending;
                self.is_empty = false;
            } else {
                self.crlf_seq = breaks + pending;
            }
            self.last_ch = last_ch;
        }
        consumed
    }

    fn flush_breaks(&mut self) {
        if self.crlf_seq != 0 {
            self.write_breaks(self.crlf_seq);
            self.crlf_seq = 0;
        }
    }

    fn write_breaks(&mut self, count: usize) {
        const RUN: &[u8; 64] = b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\
            \r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";
        let mut left = count;
        while left != 0 {
            let take = left.min(RUN.len() / 2);
            self.hasher.write(&RUN[..take * 2]);
            left -= take;
        }
    }

    /// The finished hash: held-back empty lines dropped, a non-empty body ending
    /// with one CRLF.
    pub fn finish(mut self) -> H {
        if !self.is_empty {
            self.hasher.write(b"\r\n");
        }
        self.hasher
    }
}

/// Where the verbatim run at the start of `chunk` ends (the contract of mail-auth's
/// `relaxed_run_end`): at the first tab, CR or LF, or space followed by a byte
/// `<= b' '` (or ending the chunk), except that a CRLF followed by a byte `> b' '`
/// stays in the run when something precedes it; a run never starts with white space
/// or a line break. Other control bytes are copied.
fn run_end(chunk: &[u8]) -> usize {
    if matches!(chunk.first(), Some(b'\t' | b'\n' | b'\r' | b' ')) {
        return 0;
    }
    let mut from = 1;
    while let Some(at) = next_candidate(chunk, from) {
        match &chunk[at..] {
            [b'\r', b'\n', next, ..] if *next > b' ' => from = at + 2,
            [b'\t' | b'\n' | b'\r' | b' ', ..] => return at,
            _ => from = at + 1,
        }
    }
    chunk.len()
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// High bit of each byte lane of `w` that is `< n` (exact: no carry between lanes).
fn lanes_below(w: u64, n: u8) -> u64 {
    !(((w & LOW7) + ONES * u64::from(0x80 - n)) | w) & HIGH
}

/// High bit of each byte lane of `w` that is zero (exact).
fn lanes_zero(w: u64) -> u64 {
    !(((w & LOW7) + LOW7) | w) & HIGH
}

fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The first index `>= from` where the run may end: a byte `< b' '`, or a space
/// followed by a byte `<= b' '` or by the end of `chunk`.
fn next_candidate(chunk: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    // Eight bytes per step, reading one byte beyond them for the space rule.
    while i + 9 <= chunk.len() {
        let w = word(chunk, i);
        let next = word(chunk, i + 1);
        let space = lanes_zero(w ^ (ONES * u64::from(b' ')));
        let found = lanes_below(w, b' ') | (space & lanes_below(next, b' ' + 1));
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    (i..chunk.len()).find(|&p| match chunk[p] {
        b' ' => chunk.get(p + 1).is_none_or(|&n| n <= b' '),
        c => c < b' ',
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_masks_are_exact() {
        for b in 0..=255u8 {
            let w = u64::from_le_bytes([b'x', b, 0xff, b, 0, b, 0x80, b]);
            let below = lanes_below(w, b' ');
            let zero = lanes_zero(w ^ (ONES * u64::from(b' ')));
            for lane in [1, 3, 5, 7] {
                let bit = 0x80u64 << (lane * 8);
                assert_eq!(below & bit != 0, b < b' ', "{b}");
                assert_eq!(zero & bit != 0, b == b' ', "{b}");
            }
        }
    }

    #[test]
    fn runs_end_where_the_rules_change_something() {
        assert_eq!(run_end(b"ab cd\r\nef gh"), 12);
        assert_eq!(run_end(b"ab  cd"), 2);
        assert_eq!(run_end(b"abcdefghij \r\nx"), 10);
        assert_eq!(run_end(b"abcdefghijkl\tx"), 12);
        assert_eq!(run_end(b"abcdefghijkl\r\n\r\n"), 12);
        assert_eq!(run_end(b"abcdefghijkl\r\n"), 12);
        assert_eq!(run_end(b"abcdefghijkl "), 12);
        assert_eq!(run_end(b"abcdefghijkl\x01\x02m"), 15);
        assert_eq!(run_end(b" abc"), 0);
        assert_eq!(run_end(b"\r\nabc"), 0);
    }
}
