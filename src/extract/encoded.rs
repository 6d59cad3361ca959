//! Encoded runs in raw text: the preamble and epilogue of a multipart and the
//! remainder of a message past a structure limit are delivered undecoded, so
//! base64 or quoted-printable content in them would stay hidden. This finds runs of
//! base64 lines and of quoted-printable lines and decodes them; the router types
//! each decoded run by content, like any part.

use crate::message::decode::{Base64Decoder, QpDecoder};

/// Lines longer than this are never encoded lines (base64 and QP lines are at
/// most 76 characters; generous for broken senders).
const MAX_LINE: usize = 1024;
/// Shortest line that starts a base64 run.
const MIN_BASE64_LINE: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    Base64,
    QuotedPrintable,
}

impl RunKind {
    pub fn name(self) -> &'static str {
        match self {
            RunKind::Base64 => "base64",
            RunKind::QuotedPrintable => "quoted-printable",
        }
    }
}

/// Streaming run finder over raw text, fed in chunks of any size.
#[derive(Default)]
pub struct EncodedRuns {
    line: Vec<u8>,
    line_too_long: bool,
    run: Option<RunKind>,
    base64: Base64Decoder,
    qp: QpDecoder,
    decoded: Vec<u8>,
    tmp: Vec<u8>,
    /// Completed runs, waiting to be routed.
    done: Vec<(RunKind, Vec<u8>)>,
    /// Decoded bytes held in total, and the bound on them.
    held: u64,
    max_held: u64,
    /// Runs dropped because `max_held` was reached.
    pub overflow: bool,
}

impl EncodedRuns {
    pub fn new(max_held: u64) -> Self {
        EncodedRuns {
            max_held,
            ..EncodedRuns::default()
        }
    }

    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let (seg, ended) = match memchr::memchr(b'\n', data) {
                Some(i) => (&data[..i], Some(i + 1)),
                None => (data, None),
            };
            if self.line.len() + seg.len() > MAX_LINE {
                self.line_too_long = true;
            } else {
                self.line.extend_from_slice(seg);
            }
            let Some(next) = ended else { return };
            data = &data[next..];
            self.end_line();
        }
    }

    /// Ends the text; completed runs are then available from [`Self::take_runs`].
    pub fn finish(&mut self) {
        if !self.line.is_empty() || self.line_too_long {
            self.end_line();
        }
        self.end_run();
    }

    pub fn take_runs(&mut self) -> Vec<(RunKind, Vec<u8>)> {
        self.held = 0;
        std::mem::take(&mut self.done)
    }

    fn end_line(&mut self) {
        let mut line = std::mem::take(&mut self.line);
        let too_long = std::mem::take(&mut self.line_too_long);
        let text = line.strip_suffix(b"\r").unwrap_or(&line);
        let kind = if too_long {
            None
        } else {
            classify(text, self.run)
        };
        if kind != self.run {
            self.end_run();
            self.run = kind;
        }
        match kind {
            Some(RunKind::Base64) => {
                self.base64.decode(text, &mut self.tmp);
                self.hold();
            }
            Some(RunKind::QuotedPrintable) => {
                let mut with_eol = text.to_vec();
                with_eol.push(b'\n');
                self.qp.decode(&with_eol, &mut self.tmp);
                self.hold();
            }
            None => {}
        }
        line.clear();
        self.line = line;
    }

    fn hold(&mut self) {
        self.held += self.tmp.len() as u64;
        if self.held > self.max_held {
            self.overflow = true;
            return;
        }
        self.decoded.extend_from_slice(&self.tmp);
    }

    fn end_run(&mut self) {
        let Some(kind) = self.run.take() else { return };
        match kind {
            RunKind::Base64 => self.base64.finish(&mut self.tmp),
            RunKind::QuotedPrintable => self.qp.finish(&mut self.tmp),
        }
        self.hold();
        self.base64.reset();
        self.qp.reset();
        let bytes = std::mem::take(&mut self.decoded);
        if !bytes.is_empty() {
            self.done.push((kind, bytes));
        }
    }
}

fn is_base64_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'/'
}

/// What kind of encoded line `line` is, given the run it may continue.
fn classify(line: &[u8], run: Option<RunKind>) -> Option<RunKind> {
    let body = line.trim_ascii_end();
    let unpadded = body
        .strip_suffix(b"==")
        .or_else(|| body.strip_suffix(b"="))
        .unwrap_or(body);
    let base64ish = !unpadded.is_empty() && unpadded.iter().all(|&c| is_base64_char(c));
    // A base64 line has letters and digits mixed (not a word, not a number).
    let has = |f: fn(&u8) -> bool| unpadded.iter().any(f);
    let case_changes = unpadded
        .windows(2)
        .filter(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
        .count();
    let mixed = (has(u8::is_ascii_digit) && has(u8::is_ascii_alphabetic))
        || has(|&c| c == b'+' || c == b'/')
        || case_changes >= 2;
    if base64ish && (run == Some(RunKind::Base64) || (body.len() >= MIN_BASE64_LINE && mixed)) {
        return Some(RunKind::Base64);
    }
    let escaped = body.ends_with(b"=")
        || body
            .windows(3)
            .any(|w| w[0] == b'=' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit());
    let continues =
        run == Some(RunKind::QuotedPrintable) && !body.is_empty() && !body.starts_with(b"--");
    (escaped || continues).then_some(RunKind::QuotedPrintable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(text: &[u8], cut: usize) -> Vec<(RunKind, Vec<u8>)> {
        let mut r = EncodedRuns::new(1 << 20);
        r.feed(&text[..cut]);
        r.feed(&text[cut..]);
        r.finish();
        r.take_runs()
    }

    #[test]
    fn finds_base64_and_qp_runs_in_raw_text() {
        let text = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nSVJEIG51bWJlciA0OTA5MTg1MCBh\r\nbmQgbW9yZQ==\r\n\r\n--b\r\nIRD =\r\nnumber =3D 49091850\r\n";
        for cut in [0, 7, 70, text.len()] {
            let r = runs(text, cut);
            assert_eq!(r.len(), 2, "cut {cut}: {r:?}");
            assert_eq!(
                r[0],
                (RunKind::Base64, b"IRD number 49091850 and more".to_vec())
            );
            assert_eq!(
                r[1],
                (
                    RunKind::QuotedPrintable,
                    b"IRD number = 49091850\n".to_vec()
                )
            );
        }
    }

    #[test]
    fn words_and_numbers_are_not_base64() {
        assert!(runs(b"Supercalifragilistic\n1234567890123456789\n", 0).is_empty());
    }

    #[test]
    fn decoded_bytes_are_bounded() {
        let mut r = EncodedRuns::new(10);
        r.feed(b"SVJEIG51bWJlciA0OTA5MTg1MCBh\n");
        r.finish();
        assert!(r.overflow);
    }
}
