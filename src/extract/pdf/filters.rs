//! Stream filters (ISO 32000-1 §7.4): FlateDecode, LZWDecode, ASCIIHexDecode,
//! ASCII85Decode, RunLengthDecode. Every decoder charges its output to the budget
//! as it grows (a decompression bomb ends in a budget error, not in memory), and a
//! damaged or truncated stream yields what was decoded before the damage.

use flate2::{Decompress, FlushDecompress, Status};

use super::lexer::Dict;
use crate::extract::{Budget, Uninspectable};

/// Output is charged to the budget in steps of this size.
const CHUNK: usize = 64 * 1024;

/// One stream never decodes past this, whatever the budget says.
pub const MAX_STREAM: usize = 256 << 20;

/// Decodes `input` through filter `name`. `Ok(None)`: a filter that holds no text
/// (images: DCT, JPX, CCITT, JBIG2), one not known, or a predictor (used only by
/// image and cross-reference data).
pub fn apply(
    name: &[u8],
    parms: Option<&Dict>,
    input: &[u8],
    budget: &mut Budget,
) -> Result<Option<Vec<u8>>, Uninspectable> {
    let predictor = parms
        .and_then(|p| p.get(b"Predictor"))
        .and_then(|p| p.as_int())
        .unwrap_or(1);
    let mut sink = Sink {
        out: Vec::new(),
        charged: 0,
        budget,
    };
    match name {
        b"FlateDecode" | b"Fl" if predictor <= 1 => inflate(input, &mut sink)?,
        b"LZWDecode" | b"LZW" if predictor <= 1 => {
            let early = parms
                .and_then(|p| p.get(b"EarlyChange"))
                .and_then(|e| e.as_int())
                != Some(0);
            lzw(input, early, &mut sink)?
        }
        b"ASCIIHexDecode" | b"AHx" => ascii_hex(input, &mut sink)?,
        b"ASCII85Decode" | b"A85" => ascii85(input, &mut sink)?,
        b"RunLengthDecode" | b"RL" => run_length(input, &mut sink)?,
        _ => return Ok(None),
    }
    sink.settle()?;
    Ok(Some(sink.out))
}

/// The decoded bytes, charged to the budget every [`CHUNK`].
struct Sink<'b> {
    out: Vec<u8>,
    charged: usize,
    budget: &'b mut Budget,
}

impl Sink<'_> {
    fn check(&mut self) -> Result<(), Uninspectable> {
        if self.out.len() - self.charged >= CHUNK {
            self.settle()?;
        }
        Ok(())
    }

    fn settle(&mut self) -> Result<(), Uninspectable> {
        self.budget.spend(self.out.len() - self.charged)?;
        self.charged = self.out.len();
        if self.out.len() > MAX_STREAM {
            return Err(Uninspectable::Damaged(format!(
                "PDF stream expands beyond {MAX_STREAM} bytes"
            )));
        }
        Ok(())
    }

    fn push(&mut self, b: u8) -> Result<(), Uninspectable> {
        self.out.push(b);
        self.check()
    }
}

fn inflate(input: &[u8], sink: &mut Sink) -> Result<(), Uninspectable> {
    // Some writers omit the zlib header: inflate those as raw deflate.
    let zlib = match input {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => true,
    };
    let mut z = Decompress::new(zlib);
    loop {
        sink.out.reserve(CHUNK);
        let (in_before, out_before) = (z.total_in(), z.total_out());
        let rest = input.get(in_before as usize..).unwrap_or_default();
        let status = z.decompress_vec(rest, &mut sink.out, FlushDecompress::None);
        sink.settle()?;
        let progressed = z.total_in() != in_before || z.total_out() != out_before;
        match status {
            Ok(Status::StreamEnd) | Err(_) => return Ok(()),
            Ok(_) if !progressed => return Ok(()),
            Ok(_) => {}
        }
    }
}

fn lzw(input: &[u8], early: bool, sink: &mut Sink) -> Result<(), Uninspectable> {
    const CLEAR: usize = 256;
    const EOD: usize = 257;
    // (prefix code, last byte, length); codes 256 and 257 are never looked up.
    let mut table: Vec<(u16, u8, u32)> = (0..=255u8).map(|b| (0, b, 1)).collect();
    table.extend([(0, 0, 0), (0, 0, 0)]);
    let (mut acc, mut nbits, mut width) = (0u32, 0u32, 9u32);
    let mut prev: Option<usize> = None;
    for &byte in input {
        acc = acc << 8 | u32::from(byte);
        nbits += 8;
        if nbits < width {
            continue;
        }
        nbits -= width;
        let code = (acc >> nbits) as usize & ((1 << width) - 1);
        acc &= (1 << nbits) - 1;
        if code == CLEAR {
            table.truncate(258);
            (width, prev) = (9, None);
            continue;
        }
        if code == EOD {
            break;
        }
        let start = sink.out.len();
        match (code < table.len(), prev) {
            (true, _) => emit(&table, code, &mut sink.out),
            (false, Some(p)) if code == table.len() => {
                emit(&table, p, &mut sink.out);
                let first = sink.out[start];
                sink.out.push(first);
            }
            _ => break, // damaged: a code that is not defined yet
        }
        if let Some(p) = prev
            && table.len() < 4096
        {
            table.push((p as u16, sink.out[start], table[p].2 + 1));
        }
        prev = Some(code);
        let next = table.len() + usize::from(early);
        width = match next {
            n if n >= 2048 => 12,
            n if n >= 1024 => 11,
            n if n >= 512 => 10,
            _ => 9,
        };
        sink.check()?;
    }
    Ok(())
}

/// Appends the string of `code`, written back to front along its prefix chain.
fn emit(table: &[(u16, u8, u32)], code: usize, out: &mut Vec<u8>) {
    let len = table[code].2 as usize;
    let start = out.len();
    out.resize(start + len, 0);
    let mut c = code;
    for slot in out[start..].iter_mut().rev() {
        let (prefix, byte, _) = table[c];
        *slot = byte;
        c = usize::from(prefix);
    }
}

fn ascii_hex(input: &[u8], sink: &mut Sink) -> Result<(), Uninspectable> {
    let mut high: Option<u8> = None;
    for &b in input {
        let v = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            b'>' => break,
            _ => continue,
        };
        match high.take() {
            Some(h) => sink.push(h << 4 | v)?,
            None => high = Some(v),
        }
    }
    if let Some(h) = high {
        sink.push(h << 4)?;
    }
    Ok(())
}

fn ascii85(input: &[u8], sink: &mut Sink) -> Result<(), Uninspectable> {
    let (mut group, mut n) = (0u64, 0usize);
    for &b in input {
        match b {
            b'~' => break,
            b'z' if n == 0 => {
                for _ in 0..4 {
                    sink.push(0)?;
                }
            }
            b'!'..=b'u' => {
                group = group * 85 + u64::from(b - b'!');
                n += 1;
                if n == 5 {
                    for byte in (group as u32).to_be_bytes() {
                        sink.push(byte)?;
                    }
                    (group, n) = (0, 0);
                }
            }
            _ => {}
        }
    }
    if n > 1 {
        // A final partial group is padded with `u` and cut to n - 1 bytes.
        for _ in n..5 {
            group = group * 85 + 84;
        }
        for &byte in &(group as u32).to_be_bytes()[..n - 1] {
            sink.push(byte)?;
        }
    }
    Ok(())
}

fn run_length(input: &[u8], sink: &mut Sink) -> Result<(), Uninspectable> {
    let mut i = 0;
    while let Some(&len) = input.get(i) {
        i += 1;
        match len {
            0..=127 => {
                let end = (i + usize::from(len) + 1).min(input.len());
                sink.out.extend_from_slice(&input[i..end]);
                i = end;
            }
            128 => break,
            _ => {
                let Some(&b) = input.get(i) else { break };
                i += 1;
                sink.out
                    .extend(std::iter::repeat_n(b, 257 - usize::from(len)));
            }
        }
        sink.check()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::samples::deflate;
    use std::time::Duration;

    fn run(name: &[u8], input: &[u8]) -> Vec<u8> {
        apply(name, None, input, &mut Budget::unlimited())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn simple_filters() {
        assert_eq!(run(b"ASCIIHexDecode", b"31 33 3>"), b"130");
        assert_eq!(
            run(b"ASCII85Decode", b"87cURD]i,\"Ebo80~>"),
            b"Hello World!"
        );
        assert_eq!(
            run(b"RunLengthDecode", &[2, b'a', b'b', b'c', 254, b'x', 128]),
            b"abcxxx"
        );
        assert_eq!(
            run(b"FlateDecode", &deflate(b"136-410-132")),
            b"136-410-132"
        );
        assert_eq!(
            apply(b"DCTDecode", None, b"", &mut Budget::unlimited()),
            Ok(None)
        );
    }

    #[test]
    fn lzw_spec_example() {
        // ISO 32000-1 §7.4.4.2: "-----A---B" encodes to 80 0B 60 50 22 0C 0C 85 01.
        let code = [0x80, 0x0B, 0x60, 0x50, 0x22, 0x0C, 0x0C, 0x85, 0x01];
        assert_eq!(run(b"LZWDecode", &code), b"-----A---B");
    }

    #[test]
    fn truncated_flate_keeps_the_start() {
        let z = deflate(&b"136-410-132 ".repeat(1000));
        let out = run(b"FlateDecode", &z[..z.len() / 2]);
        assert!(out.starts_with(b"136-410-132 136"));
        assert!(run(b"FlateDecode", b"garbage!").is_empty());
    }

    #[test]
    fn bomb_runs_into_the_budget() {
        let bomb = deflate(&vec![0u8; 50 << 20]);
        let mut budget = Budget::new(1 << 20, Duration::from_secs(60));
        let err = apply(b"FlateDecode", None, &bomb, &mut budget).unwrap_err();
        assert_eq!(err, Uninspectable::ByteBudget(1 << 20));
        let rle = [129u8, 0].repeat(100_000);
        let mut budget = Budget::new(1 << 20, Duration::from_secs(60));
        assert!(apply(b"RunLengthDecode", None, &rle, &mut budget).is_err());
    }
}
