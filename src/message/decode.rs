//! Streaming Content-Transfer-Encoding decoders (base64, quoted-printable).
//!
//! Both carry a few bytes of state across calls, so the decoded output does not depend
//! on where the MTA split the body. They are hand-written around bulk primitives
//! (memchr, the SIMD decoder of `base64-simd`) because the crates' one-shot decoders
//! cannot resume in the middle of a quad or an `=XY` escape, and this is the per-byte
//! hot path.

use base64_simd::{Out, STANDARD_NO_PAD};

/// Value of a base64 alphabet character, or `INVALID`.
const INVALID: u8 = 0xff;
const B64_VALUES: [u8; 256] = {
    let mut t = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Streaming base64 decoder. Line breaks and other whitespace are skipped; other
/// characters outside the alphabet are skipped and reported through [`Self::take_bad`].
#[derive(Debug, Default)]
pub struct Base64Decoder {
    /// Alphabet characters of an incomplete quad (fewer than 4).
    carry: [u8; 4],
    carried: usize,
    /// Stripped input of the current call, reused across calls.
    clean: Vec<u8>,
    bad: bool,
}

impl Base64Decoder {
    pub fn reset(&mut self) {
        self.carried = 0;
        self.bad = false;
    }

    /// Whether bad input was seen since the last call (then clears the flag).
    pub fn take_bad(&mut self) -> bool {
        std::mem::take(&mut self.bad)
    }

    /// Decodes `input`, replacing the contents of `out` with the decoded bytes.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.clean.clear();
        self.clean.extend_from_slice(&self.carry[..self.carried]);
        strip_line_breaks(input, &mut self.clean);
        // Whole quads but the last go to the SIMD decoder, which takes no padding;
        // the last quad (it may hold `=` or non-zero trailing bits, which mail
        // clients send) and an incomplete one take the careful path.
        let bulk = (self.clean.len() / 4 * 4).saturating_sub(4);
        let clean = std::mem::take(&mut self.clean);
        self.carried = 0;
        // `out` is reused from call to call: resized without clearing, so only its
        // growth is zero-filled (the decoder overwrites every byte it keeps).
        let decoded = bulk / 4 * 3;
        if out.len() < decoded {
            out.resize(decoded, 0);
        }
        out.truncate(decoded);
        let rest = match STANDARD_NO_PAD.decode(&clean[..bulk], Out::from_slice(out)) {
            Ok(_) => &clean[bulk..],
            Err(_) => {
                // Padding mid-stream, spaces or junk: the careful path, rare in practice.
                out.clear();
                &clean[..]
            }
        };
        self.decode_slow(rest, out);
        self.clean = clean;
    }

    /// Character by character: whitespace skipped, `=` ends the current quad, any other
    /// non-alphabet character skipped and flagged.
    fn decode_slow(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &c in input {
            let v = B64_VALUES[c as usize];
            if v != INVALID {
                self.carry[self.carried] = c;
                self.carried += 1;
                if self.carried == 4 {
                    self.emit_carry(out);
                }
            } else if c == b'=' {
                if self.carried == 1 {
                    self.bad = true;
                }
                self.emit_carry(out);
            } else if !c.is_ascii_whitespace() {
                self.bad = true;
            }
        }
    }

    /// Emits the bytes of the (possibly partial) quad in `carry` and empties it.
    fn emit_carry(&mut self, out: &mut Vec<u8>) {
        let mut acc: u32 = 0;
        for &c in &self.carry[..self.carried] {
            acc = (acc << 6) | u32::from(B64_VALUES[c as usize]);
        }
        let bytes = match self.carried {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => 0,
        };
        acc <<= 6 * (4 - self.carried as u32);
        let be = acc.to_be_bytes();
        out.extend_from_slice(&be[1..1 + bytes]);
        self.carried = 0;
    }

    /// End of the part: decodes an incomplete final quad (missing padding).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.clear();
        if self.carried == 1 {
            self.bad = true;
        }
        self.emit_carry(out);
    }
}

/// Appends `input` without its line breaks to `out`. Encoded lines nearly always
/// have one length, so the next line break is first looked for where the last
/// line's length puts it, and searched for only when it is not there. A guess that
/// swallows a shorter line, or a line break left in some other place, leaves a `\r`
/// or `\n` in `out`: the SIMD decoder then refuses the input and the careful path
/// skips it as whitespace, so the decoded bytes are the same either way.
fn strip_line_breaks(input: &[u8], out: &mut Vec<u8>) {
    let mut rest = input;
    let mut stride = 0;
    loop {
        let end = if stride > 0 && rest.get(stride - 1) == Some(&b'\n') {
            stride - 1
        } else {
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    stride = i + 1;
                    i
                }
                None => break,
            }
        };
        let line = &rest[..end];
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        rest = &rest[end + 1..];
    }
    // A chunk may end between `\r` and `\n`.
    out.extend_from_slice(rest.strip_suffix(b"\r").unwrap_or(rest));
}

/// Decodes a complete base64 text leniently (for RFC 2047 `B` words).
pub fn base64_lenient(input: &[u8]) -> Vec<u8> {
    let mut d = Base64Decoder::default();
    let mut out = Vec::new();
    d.decode(input, &mut out);
    let mut tail = Vec::new();
    d.finish(&mut tail);
    out.extend_from_slice(&tail);
    out
}

/// Longest `=` escape held back between calls: `=`, optional transport whitespace
/// (bounded like an encoded line), then a line break.
const QP_MAX_PENDING: usize = 80;

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// What an `=` at the start of a slice stands for.
enum QpEscape {
    Byte(u8),
    SoftBreak,
    Literal,
}

/// Resolves the `=` escape at the start of `s`: `(meaning, bytes consumed)`, or `None`
/// when more input is needed to decide (only while `!last`).
fn qp_escape(s: &[u8], last: bool) -> Option<(QpEscape, usize)> {
    if let (Some(&a), Some(&b)) = (s.get(1), s.get(2))
        && let (Some(h), Some(l)) = (hex_value(a), hex_value(b))
    {
        return Some((QpEscape::Byte(h << 4 | l), 3));
    }
    if s.len() == 2 && hex_value(s[1]).is_some() {
        return if last {
            Some((QpEscape::Literal, 1))
        } else {
            None
        };
    }
    let ws = s[1..]
        .iter()
        .take(QP_MAX_PENDING)
        .take_while(|&&c| c == b' ' || c == b'\t')
        .count();
    let after = &s[1 + ws..];
    match after {
        [b'\n', ..] => Some((QpEscape::SoftBreak, 2 + ws)),
        [b'\r', b'\n', ..] => Some((QpEscape::SoftBreak, 3 + ws)),
        [b'\r'] | [] if !last && ws < QP_MAX_PENDING => None,
        _ => Some((QpEscape::Literal, 1)),
    }
}

/// Streaming quoted-printable decoder: soft line breaks removed (also across calls),
/// `=XY` decoded, an invalid `=` kept literally.
#[derive(Debug, Default)]
pub struct QpDecoder {
    /// An unresolved escape from the end of the previous call (starts with `=`).
    pending: Vec<u8>,
}

impl QpDecoder {
    pub fn reset(&mut self) {
        self.pending.clear();
    }

    /// Decodes `input`, replacing the contents of `out` with the decoded bytes.
    pub fn decode(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        out.clear();
        if !self.pending.is_empty() {
            match self.resolve_pending(input, out) {
                Some(used) => input = &input[used..],
                None => return,
            }
        }
        self.decode_run(input, out);
    }

    /// Completes the pending escape with bytes from `input`. Returns how many input
    /// bytes it used, or `None` when all of `input` was absorbed and still undecided.
    fn resolve_pending(&mut self, input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        let old = self.pending.len();
        let room = (QP_MAX_PENDING + 3).saturating_sub(old).min(input.len());
        self.pending.extend_from_slice(&input[..room]);
        match qp_escape(&self.pending, false) {
            // Undecided only when all of `input` fit: `qp_escape` always decides
            // within QP_MAX_PENDING + 3 bytes.
            None => None,
            Some((esc, used)) => {
                match esc {
                    QpEscape::Byte(b) => out.push(b),
                    QpEscape::SoftBreak => {}
                    QpEscape::Literal => out.push(b'='),
                }
                // Bytes of the old pending after the escape are plain (whitespace or
                // one hex digit); input bytes after `used` are decoded normally.
                if used < old {
                    out.extend_from_slice(&self.pending[used..old]);
                }
                self.pending.clear();
                Some(used.saturating_sub(old))
            }
        }
    }

    fn decode_run(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut i = 0;
        while i < input.len() {
            let Some(j) = memchr::memchr(b'=', &input[i..]) else {
                out.extend_from_slice(&input[i..]);
                return;
            };
            out.extend_from_slice(&input[i..i + j]);
            let s = &input[i + j..];
            match qp_escape(s, false) {
                Some((esc, used)) => {
                    match esc {
                        QpEscape::Byte(b) => out.push(b),
                        QpEscape::SoftBreak => {}
                        QpEscape::Literal => out.push(b'='),
                    }
                    i += j + used;
                }
                None => {
                    self.pending.extend_from_slice(s);
                    return;
                }
            }
        }
    }

    /// End of the part: an unresolved escape is kept literally.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.clear();
        let pending = std::mem::take(&mut self.pending);
        let mut rest = &pending[..];
        while !rest.is_empty() {
            if rest[0] != b'=' {
                out.push(rest[0]);
                rest = &rest[1..];
                continue;
            }
            match qp_escape(rest, true) {
                Some((QpEscape::Byte(b), used)) => {
                    out.push(b);
                    rest = &rest[used..];
                }
                Some((QpEscape::SoftBreak, used)) => rest = &rest[used..],
                Some((QpEscape::Literal, _)) | None => {
                    out.push(b'=');
                    rest = &rest[1..];
                }
            }
        }
        self.pending = pending;
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64_chunked(input: &[u8], size: usize) -> (Vec<u8>, bool) {
        let mut d = Base64Decoder::default();
        let mut all = Vec::new();
        let mut out = Vec::new();
        let mut bad = false;
        for c in input.chunks(size) {
            d.decode(c, &mut out);
            all.extend_from_slice(&out);
            bad |= d.take_bad();
        }
        d.finish(&mut out);
        all.extend_from_slice(&out);
        bad |= d.take_bad();
        (all, bad)
    }

    fn qp_chunked(input: &[u8], size: usize) -> Vec<u8> {
        let mut d = QpDecoder::default();
        let mut all = Vec::new();
        let mut out = Vec::new();
        for c in input.chunks(size) {
            d.decode(c, &mut out);
            all.extend_from_slice(&out);
        }
        d.finish(&mut out);
        all.extend_from_slice(&out);
        all
    }

    #[test]
    fn base64_any_chunking() {
        let text = b"SGVsbG8sIFdvcmxkIQ==\r\nSGk=\r\nQUJD\r\nRA\r\n";
        for size in 1..=text.len() {
            let (out, bad) = b64_chunked(text, size);
            assert_eq!(out, b"Hello, World!HiABCD", "size {size}");
            assert!(!bad, "size {size}");
        }
    }

    /// Long input (the SIMD bulk path) split anywhere decodes like a one-shot
    /// decoder; a final quad with non-zero trailing bits is accepted, unflagged.
    #[test]
    fn base64_bulk_path_any_chunking() {
        use base64::Engine as _;
        let data: Vec<u8> = (0..3001u32).map(|i| (i * 7919 % 251) as u8).collect();
        let enc = base64::engine::general_purpose::STANDARD.encode(&data);
        let mut text = Vec::new();
        for line in enc.as_bytes().chunks(76) {
            text.extend_from_slice(line);
            text.extend_from_slice(b"\r\n");
        }
        for size in [1, 2, 3, 5, 64, 77, 78, 1000, 4096, text.len()] {
            let (out, bad) = b64_chunked(&text, size);
            assert!(out == data, "size {size}");
            assert!(!bad, "size {size}");
        }
        // `QR==` ends with bits a strict decoder refuses.
        let (out, bad) = b64_chunked(b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldY\r\nQR==\r\n", 7);
        assert_eq!(out, b"ABCDEFGHIJKLMNOPQRSTUVWXA");
        assert!(!bad);
    }

    /// Line lengths that change (the predicted line break swallows a short line),
    /// bare LF, a stray CR: the same bytes, unflagged, however the input is split.
    #[test]
    fn base64_irregular_lines_any_chunking() {
        use base64::Engine as _;
        let data: Vec<u8> = (0..2000u32).map(|i| (i * 31 % 253) as u8).collect();
        let enc = base64::engine::general_purpose::STANDARD.encode(&data);
        let mut text = Vec::new();
        let lengths = [76, 76, 40, 36, 76, 12, 64, 76, 76, 8, 68];
        let (mut at, mut k) = (0, 0);
        while at < enc.len() {
            let end = (at + lengths[k % lengths.len()]).min(enc.len());
            text.extend_from_slice(&enc.as_bytes()[at..end]);
            text.extend_from_slice(match k % 4 {
                0 | 1 => b"\r\n".as_slice(),
                2 => b"\n",
                _ => b"\r\r\n",
            });
            (at, k) = (end, k + 1);
        }
        for size in [1, 3, 77, 78, 79, 500, 4096, text.len()] {
            let (out, bad) = b64_chunked(&text, size);
            assert!(out == data, "size {size}");
            assert!(!bad, "size {size}");
        }
    }

    #[test]
    fn base64_bad_characters_skipped_and_flagged() {
        for size in 1..8 {
            let (out, bad) = b64_chunked(b"SGV*sbG8 \r\n!", size);
            assert_eq!(out, b"Hello");
            assert!(bad);
        }
    }

    #[test]
    fn qp_any_chunking() {
        let text = b"caf=C3=A9 soft=\r\nbreak =\nx=ZZ end=3D= \r\nq =4";
        for size in 1..=text.len() {
            assert_eq!(
                qp_chunked(text, size),
                b"caf\xc3\xa9 softbreak x=ZZ end=q =4",
                "size {size}"
            );
        }
    }
}
