//! OLE2 compound files (.doc, .xls, .ppt, .msg): the text runs of every stream,
//! UTF-16LE and 8-bit, read without parsing each format's record structure —
//! layout does not matter, identifiers do. Excel's number cells (NUMBER, RK,
//! MULRK records), which hold no text, are written out as integers, so a column
//! of IRD numbers typed as numbers is read too.
//!
//! Encrypted documents are [`Uninspectable::EncryptedOffice`]: a password-protected
//! OOXML file (EncryptionInfo / EncryptedPackage streams), Word's FIB fEncrypted
//! bit, Excel's FILEPASS record, PowerPoint's encrypted CurrentUser token or
//! EncryptedSummary stream.

use std::io::{Cursor, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::{Budget, Uninspectable};

/// A compound file with more streams than this is not read (hostile input).
const MAX_STREAMS: usize = 4096;

/// Runs shorter than this many characters are noise in binary data, not text.
const MIN_RUN: usize = 4;

/// Text passed to `out` in pieces of about this size.
const FLUSH_AT: usize = 16 * 1024;

/// The text runs of every stream of an OLE2 compound file (.doc, .xls, .ppt, .msg).
pub fn extract(
    data: &[u8],
    budget: &mut Budget,
    out: &mut dyn FnMut(&str),
) -> Result<(), Uninspectable> {
    // cfb parses the container's allocation tables; a panic on a hostile table is
    // a damaged file, not a crash.
    catch_unwind(AssertUnwindSafe(|| extract_streams(data, budget, out)))
        .unwrap_or_else(|_| Err(Uninspectable::Damaged("OLE2 compound file".into())))
}

fn extract_streams(
    data: &[u8],
    budget: &mut Budget,
    out: &mut dyn FnMut(&str),
) -> Result<(), Uninspectable> {
    let damaged = |e: std::io::Error| Uninspectable::Damaged(format!("OLE2 compound file: {e}"));
    let mut cf = cfb::CompoundFile::open(Cursor::new(data)).map_err(damaged)?;
    let mut paths = Vec::new();
    for entry in cf.walk() {
        if entry.is_stream() {
            if paths.len() == MAX_STREAMS {
                return Err(Uninspectable::TooManyEntries(MAX_STREAMS));
            }
            paths.push(entry.path().to_path_buf());
        }
    }
    let mut text = String::new();
    for path in paths {
        budget.spend(0)?;
        let mut stream = cf.open_stream(&path).map_err(damaged)?;
        let mut bytes = Vec::new();
        // A stream is never longer than the file that holds it.
        (&mut stream)
            .take(data.len() as u64)
            .read_to_end(&mut bytes)
            .map_err(damaged)?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if encrypted(name, &bytes) {
            return Err(Uninspectable::EncryptedOffice);
        }
        if name == "Workbook" || name == "Book" {
            biff_numbers(&bytes, &mut text);
        }
        runs(&bytes, budget, &mut text, out)?;
    }
    flush(&mut text, budget, out)
}

/// Whether stream `name` says that the document is encrypted.
fn encrypted(name: &str, bytes: &[u8]) -> bool {
    let u16_at = |i: usize| {
        bytes
            .get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |i: usize| {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    match name {
        "EncryptionInfo" | "EncryptedPackage" | "EncryptedSummary" => true,
        // FIB: wIdent 0xA5EC, then the flags word at 0x0A; bit 0x0100 is fEncrypted.
        "WordDocument" => {
            u16_at(0) == Some(0xa5ec) && u16_at(0x0a).is_some_and(|f| f & 0x0100 != 0)
        }
        // CurrentUserAtom: headerToken 0xF3D1C4DF marks an encrypted presentation.
        "Current User" => u32_at(12) == Some(0xf3d1_c4df),
        // BIFF: a FILEPASS record among the first records of the globals substream.
        "Workbook" | "Book" => {
            let mut i = 0;
            for _ in 0..64 {
                let (Some(kind), Some(len)) = (u16_at(i), u16_at(i + 2)) else {
                    return false;
                };
                match kind {
                    0x002f => return true,
                    0x0085 | 0x000a => return false, // BOUNDSHEET, EOF: past where FILEPASS goes
                    _ => i += 4 + usize::from(len),
                }
            }
            false
        }
        _ => false,
    }
}

/// The integral values of Excel number cells, one per line.
fn biff_numbers(bytes: &[u8], text: &mut String) {
    let mut i = 0;
    while let Some(head) = bytes.get(i..i + 4) {
        let kind = u16::from_le_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
        let body = bytes.get(i + 4..i + 4 + len).unwrap_or_default();
        i += 4 + len;
        match kind {
            0x0203 if body.len() >= 14 => {
                let raw: [u8; 8] = body[6..14].try_into().unwrap_or_default();
                push_number(f64::from_le_bytes(raw), text);
            }
            0x027e if body.len() >= 10 => push_number(rk(&body[6..10]), text),
            0x00bd if body.len() >= 6 => {
                for cell in body[4..body.len() - 2].chunks_exact(6) {
                    push_number(rk(&cell[2..6]), text);
                }
            }
            _ => {}
        }
    }
}

/// An RK value: a 30-bit integer or the top of a double, maybe divided by 100.
fn rk(b: &[u8]) -> f64 {
    let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let n = if v & 2 != 0 {
        f64::from(v as i32 >> 2)
    } else {
        f64::from_bits(u64::from(v & !3) << 32)
    };
    if v & 1 != 0 { n / 100.0 } else { n }
}

fn push_number(v: f64, text: &mut String) {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        text.push_str(&format!("{}\n", v as i64));
    }
}

/// The character a UTF-16 unit stands for in a text run, if it can be in one;
/// Word's paragraph, cell and page marks end lines.
fn run_char(u: u16) -> Option<char> {
    match u {
        0x09 => Some('\t'),
        0x07 | 0x0a | 0x0b | 0x0c | 0x0d => Some('\n'),
        0x20..=0x7e | 0xa0..=0x24f | 0x2010..=0x2027 | 0x20ac => char::from_u32(u32::from(u)),
        _ => None,
    }
}

/// Appends the UTF-16LE runs (both alignments) and the 8-bit ASCII runs of `bytes`.
fn runs(
    bytes: &[u8],
    budget: &mut Budget,
    text: &mut String,
    out: &mut dyn FnMut(&str),
) -> Result<(), Uninspectable> {
    for align in 0..2 {
        let units = bytes.get(align..).unwrap_or_default().chunks_exact(2);
        let chars = units.map(|u| run_char(u16::from_le_bytes([u[0], u[1]])));
        collect_runs(chars, budget, text, out)?;
    }
    let chars = bytes.iter().map(|&b| {
        if b < 0x80 {
            run_char(u16::from(b))
        } else {
            None
        }
    });
    collect_runs(chars, budget, text, out)
}

fn collect_runs(
    chars: impl Iterator<Item = Option<char>>,
    budget: &mut Budget,
    text: &mut String,
    out: &mut dyn FnMut(&str),
) -> Result<(), Uninspectable> {
    let mut run_start = text.len();
    let mut graphic = 0usize;
    for (i, c) in chars.enumerate() {
        if i % (64 * 1024) == 0 {
            budget.spend(0)?;
        }
        match c {
            Some(c) => {
                text.push(c);
                graphic += usize::from(!c.is_whitespace());
            }
            None if graphic >= MIN_RUN => {
                text.push('\n');
                if text.len() >= FLUSH_AT {
                    flush(text, budget, out)?;
                }
                (run_start, graphic) = (text.len(), 0);
            }
            None => {
                text.truncate(run_start);
                graphic = 0;
            }
        }
    }
    if graphic >= MIN_RUN {
        text.push('\n');
    } else {
        text.truncate(run_start);
    }
    Ok(())
}

fn flush(
    text: &mut String,
    budget: &mut Budget,
    out: &mut dyn FnMut(&str),
) -> Result<(), Uninspectable> {
    if !text.is_empty() {
        budget.spend(text.len())?;
        out(text);
        text.clear();
    }
    Ok(())
}

#[cfg(test)]
mod tests;
