//! RTF text extraction: the text of the document body, headers and footers, with
//! control words dropped; groups that hold no text (font, colour, style and list
//! tables, document info, pictures, embedded object data, `\*` destinations) are
//! skipped, `\bin N` data too. `\'hh` is decoded in the `\ansicpgN` code page
//! (cp1252 by default), `\uN` as Unicode with its `\ucN` fallback skipped.
//! Paragraph, line, cell and row ends become newlines, so table cells never glue.
//!
//! Hand-written: the crates that parse RTF build a whole document tree in memory;
//! this is one pass over the bytes with a bounded group stack.

use encoding_rs::Encoding;

use super::{Budget, Uninspectable};

/// Groups nested deeper than this share the state of the deepest one kept.
const MAX_DEPTH: usize = 256;

/// Text passed to `out` in pieces of about this size.
const FLUSH_AT: usize = 16 * 1024;

/// Destinations whose group holds no document text.
const SKIP: &[&[u8]] = &[
    b"fonttbl",
    b"colortbl",
    b"stylesheet",
    b"info",
    b"pict",
    b"objdata",
    b"listtable",
    b"listoverridetable",
    b"revtbl",
    b"rsidtbl",
    b"generator",
    b"xmlnstbl",
    b"themedata",
    b"colorschememapping",
    b"datastore",
    b"latentstyles",
    b"fontemb",
    b"fontfile",
    b"filetbl",
    b"pgdsctbl",
    b"shppict",
    b"nonshppict",
    b"mmathPr",
    b"wgrffmtfilter",
    b"fldinst",
];

#[derive(Clone, Copy)]
struct Group {
    skip: bool,
    uc: usize,
}

struct Parser<'a, 'o> {
    budget: &'a mut Budget,
    out: &'o mut dyn FnMut(&str),
    encoding: &'static Encoding,
    stack: Vec<Group>,
    /// Groups opened past [`MAX_DEPTH`] and not closed yet.
    overflow: usize,
    cur: Group,
    /// Fallback characters still to skip after a `\uN`.
    skip_chars: usize,
    high_surrogate: Option<u16>,
    /// Code-page bytes (`\'hh` or raw 8-bit) not decoded yet: a DBCS character is two.
    bytes: Vec<u8>,
    buf: String,
}

/// The text of an RTF document, without control words and non-text groups.
pub fn extract(
    data: &[u8],
    budget: &mut Budget,
    out: &mut dyn FnMut(&str),
) -> Result<(), Uninspectable> {
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(data.len());
    if !data[start..].starts_with(b"{\\rtf") {
        return Err(Uninspectable::Damaged("RTF without {\\rtf".into()));
    }
    let mut p = Parser {
        budget,
        out,
        encoding: encoding_rs::WINDOWS_1252,
        stack: Vec::new(),
        overflow: 0,
        cur: Group { skip: false, uc: 1 },
        skip_chars: 0,
        high_surrogate: None,
        bytes: Vec::new(),
        buf: String::new(),
    };
    p.run(&data[start..])?;
    p.decode_bytes();
    p.flush()
}

impl Parser<'_, '_> {
    fn run(&mut self, data: &[u8]) -> Result<(), Uninspectable> {
        let mut i = 0;
        let mut walked = 0;
        while let Some(&b) = data.get(i) {
            if i - walked >= 64 * 1024 {
                self.budget.spend(0)?;
                walked = i;
            }
            i += 1;
            match b {
                b'{' => self.open(),
                b'}' => self.close(),
                b'\\' => i = self.control(data, i)?,
                b'\r' | b'\n' => {}
                _ => self.byte(b)?,
            }
        }
        Ok(())
    }

    fn open(&mut self) {
        self.skip_chars = 0;
        if self.stack.len() < MAX_DEPTH {
            self.stack.push(self.cur);
        } else {
            self.overflow += 1;
        }
    }

    fn close(&mut self) {
        self.skip_chars = 0;
        if self.overflow > 0 {
            self.overflow -= 1;
        } else if let Some(g) = self.stack.pop() {
            self.cur = g;
        }
    }

    /// A text byte of the body.
    fn byte(&mut self, b: u8) -> Result<(), Uninspectable> {
        if self.skip_chars > 0 {
            self.skip_chars -= 1;
        } else if !self.cur.skip {
            if b.is_ascii() {
                self.decode_bytes();
                self.buf.push(char::from(b));
            } else {
                self.bytes.push(b);
            }
        }
        self.maybe_flush()
    }

    /// Handles the control word or symbol after the `\` at `i - 1`; returns where parsing resumes.
    fn control(&mut self, data: &[u8], mut i: usize) -> Result<usize, Uninspectable> {
        let Some(&c) = data.get(i) else { return Ok(i) };
        i += 1;
        if !c.is_ascii_alphabetic() {
            self.symbol(c, data, &mut i)?;
            return Ok(i);
        }
        let start = i - 1;
        while i < data.len() && data[i].is_ascii_alphabetic() && i - start < 32 {
            i += 1;
        }
        let word = &data[start..i];
        let num_start = i;
        if data.get(i) == Some(&b'-') {
            i += 1;
        }
        while i < data.len() && data[i].is_ascii_digit() && i - num_start < 11 {
            i += 1;
        }
        let param = std::str::from_utf8(&data[num_start..i])
            .ok()
            .and_then(|s| s.parse::<i64>().ok());
        if data.get(i) == Some(&b' ') {
            i += 1;
        }
        if word == b"bin" {
            // Binary data: skipped whatever the state, never read as text.
            let n = usize::try_from(param.unwrap_or(0)).unwrap_or(0);
            return Ok(i.saturating_add(n).min(data.len()));
        }
        self.word(word, param)?;
        Ok(i)
    }

    fn symbol(&mut self, c: u8, data: &[u8], i: &mut usize) -> Result<(), Uninspectable> {
        match c {
            b'\'' => {
                let hex = data
                    .get(*i..*i + 2)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) else {
                    return Ok(());
                };
                *i += 2;
                if self.skip_chars > 0 {
                    self.skip_chars -= 1;
                } else if !self.cur.skip {
                    self.bytes.push(v);
                }
                Ok(())
            }
            b'*' => {
                self.cur.skip = true;
                Ok(())
            }
            b'\\' | b'{' | b'}' => self.byte(c),
            b'~' => self.text(" "),
            b'_' => self.text("-"),
            b'\r' | b'\n' => self.text("\n"),
            _ => Ok(()), // \- optional hyphen, \| \: formula and index marks
        }
    }

    fn word(&mut self, word: &[u8], param: Option<i64>) -> Result<(), Uninspectable> {
        if SKIP.contains(&word) {
            self.cur.skip = true;
            return Ok(());
        }
        if self.skip_chars > 0 && word != b"u" {
            self.skip_chars -= 1;
            return Ok(());
        }
        match word {
            b"ansicpg" => self.encoding = codepage(param.unwrap_or(1252)),
            b"mac" => self.encoding = encoding_rs::MACINTOSH,
            b"uc" => self.cur.uc = param.unwrap_or(1).clamp(0, 16) as usize,
            b"u" => {
                let n = param.unwrap_or(0);
                let unit = if n < 0 { n + 65536 } else { n };
                self.unicode(u16::try_from(unit).unwrap_or(0xfffd))?;
                self.skip_chars = self.cur.uc;
            }
            b"par" | b"line" | b"sect" | b"page" | b"row" | b"cell" | b"nestcell" | b"nestrow" => {
                self.text("\n")?
            }
            b"tab" => self.text("\t")?,
            b"emdash" => self.text("\u{2014}")?,
            b"endash" => self.text("\u{2013}")?,
            b"lquote" | b"rquote" => self.text("'")?,
            b"ldblquote" | b"rdblquote" => self.text("\"")?,
            b"bullet" => self.text("\u{2022}")?,
            b"emspace" | b"enspace" | b"qmspace" => self.text(" ")?,
            _ => {}
        }
        Ok(())
    }

    fn unicode(&mut self, unit: u16) -> Result<(), Uninspectable> {
        if self.cur.skip {
            return Ok(());
        }
        if (0xd800..0xdc00).contains(&unit) {
            self.high_surrogate = Some(unit);
            return Ok(());
        }
        let units = match self.high_surrogate.take() {
            Some(high) => vec![high, unit],
            None => vec![unit],
        };
        let s: String = char::decode_utf16(units)
            .map(|c| c.unwrap_or('\u{fffd}'))
            .collect();
        self.text(&s)
    }

    fn text(&mut self, s: &str) -> Result<(), Uninspectable> {
        if !self.cur.skip {
            self.decode_bytes();
            self.buf.push_str(s);
        }
        self.maybe_flush()
    }

    fn decode_bytes(&mut self) {
        if !self.bytes.is_empty() {
            let (text, _) = self.encoding.decode_without_bom_handling(&self.bytes);
            self.buf.push_str(&text);
            self.bytes.clear();
        }
    }

    fn maybe_flush(&mut self) -> Result<(), Uninspectable> {
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Uninspectable> {
        if !self.buf.is_empty() {
            self.budget.spend(self.buf.len())?;
            (self.out)(&self.buf);
            self.buf.clear();
        }
        Ok(())
    }
}

/// The encoding of a Windows code page number; cp1252 for those encoding_rs lacks.
fn codepage(cp: i64) -> &'static Encoding {
    use encoding_rs::*;
    match cp {
        874 => WINDOWS_874,
        932 => SHIFT_JIS,
        936 => GBK,
        949 => EUC_KR,
        950 => BIG5,
        1250 => WINDOWS_1250,
        1251 => WINDOWS_1251,
        1253 => WINDOWS_1253,
        1254 => WINDOWS_1254,
        1255 => WINDOWS_1255,
        1256 => WINDOWS_1256,
        1257 => WINDOWS_1257,
        1258 => WINDOWS_1258,
        10000 => MACINTOSH,
        20866 => KOI8_R,
        65001 => UTF_8,
        _ => WINDOWS_1252,
    }
}

#[cfg(test)]
mod tests;
