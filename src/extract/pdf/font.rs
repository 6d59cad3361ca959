//! Font byte-to-text decoding: ToUnicode CMaps (bfchar, bfrange scalar and array
//! forms, codespace ranges of 1–4 bytes), and for fonts without one the simple
//! encodings (WinAnsi, MacRoman, /Differences with Adobe Glyph List names).

use std::collections::HashMap;
use std::sync::OnceLock;

use encoding_rs::{Encoding, MACINTOSH, WINDOWS_1252};

use super::lexer::{Dict, Lexer, Obj, Tok};
use super::widths::Widths;

/// A CMap never holds more mappings than this (hostile input).
const MAX_ENTRIES: usize = 200_000;

#[derive(Debug)]
pub struct Font {
    cmap: Option<CMap>,
    /// Composite (Type0) fonts without a CMap: 2-byte codes that name glyphs, not text.
    composite: bool,
    encoding: &'static Encoding,
    /// /Differences: each code's glyph, as text, or `None` for a glyph name that
    /// says nothing about its text (`/g17`, `/glyph5`): such codes cannot be read.
    differences: HashMap<u8, Option<String>>,
    widths: Option<Widths>,
}

/// What one shown string took: its glyph widths (in ems, when the font gives
/// widths), the number of codes, and how many were the single-byte space.
pub struct Shown {
    pub width: Option<f64>,
    pub codes: usize,
    pub spaces: usize,
}

impl Default for Font {
    fn default() -> Font {
        Font {
            cmap: None,
            composite: false,
            encoding: WINDOWS_1252,
            differences: HashMap::new(),
            widths: None,
        }
    }
}

impl Font {
    /// A font from its dictionary, the decoded bytes of its /ToUnicode stream,
    /// and its glyph widths.
    pub fn new(dict: &Dict, to_unicode: Option<&[u8]>, widths: Option<Widths>) -> Font {
        let composite = dict.name_is(b"Subtype", b"Type0");
        let cmap = to_unicode.map(CMap::parse).filter(|c| !c.is_empty());
        let mut font = Font {
            cmap,
            composite,
            widths,
            ..Font::default()
        };
        match dict.get(b"Encoding") {
            Some(Obj::Name(n)) => font.encoding = simple_encoding(n),
            Some(Obj::Dict(d)) => {
                if let Some(base) = d.get(b"BaseEncoding").and_then(Obj::as_name) {
                    font.encoding = simple_encoding(base);
                }
                if let Some(Obj::Array(diffs)) = d.get(b"Differences") {
                    font.differences = differences(diffs);
                }
            }
            _ => {}
        }
        font
    }

    /// Why the text of the shown string `bytes` cannot be read, if it cannot:
    /// a composite font without a ToUnicode CMap shows glyph ids, and a simple font
    /// without one may name its glyphs with names that carry no text.
    pub fn unreadable(&self, bytes: &[u8]) -> Option<&'static str> {
        if self.cmap.is_some() || bytes.is_empty() {
            return None;
        }
        if self.composite {
            return Some("PDF text in a font without a Unicode map");
        }
        let unknown_glyph = |b: &u8| matches!(self.differences.get(b), Some(None));
        (!self.differences.is_empty() && bytes.iter().any(unknown_glyph))
            .then_some("PDF text in glyphs whose names carry no Unicode value")
    }

    /// Appends the text of the shown string `bytes` to `out`.
    pub fn decode(&self, bytes: &[u8], out: &mut String) -> Shown {
        if self.cmap.is_none() && !self.composite {
            return self.decode_simple(bytes, out);
        }
        let mut shown = Shown {
            width: self.widths.as_ref().map(|_| 0.0),
            codes: 0,
            spaces: 0,
        };
        let mut i = 0;
        while i < bytes.len() {
            let n = match &self.cmap {
                Some(cmap) => cmap.code_len(&bytes[i..], self.composite),
                None if self.composite => 2,
                None => 1,
            };
            let code_bytes = &bytes[i..(i + n).min(bytes.len())];
            let code = be(code_bytes);
            match &self.cmap {
                Some(cmap) => {
                    if !cmap.lookup(code, out) && n == 1 && code_bytes[0].is_ascii_graphic() {
                        out.push(char::from(code_bytes[0]));
                    }
                }
                // Glyph ids with no map to text.
                None if self.composite => {}
                None => self.push_simple(code_bytes[0], out),
            }
            if let (Some(w), Some(widths)) = (&mut shown.width, &self.widths) {
                *w += widths.get(code) / 1000.0;
            }
            shown.codes += 1;
            shown.spaces += usize::from(n == 1 && code == 32);
            i += n;
        }
        shown
    }

    /// One byte per code: the common case, kept free of per-code lookups.
    fn decode_simple(&self, bytes: &[u8], out: &mut String) -> Shown {
        out.reserve(bytes.len());
        for &b in bytes {
            self.push_simple(b, out);
        }
        let width = self
            .widths
            .as_ref()
            .map(|w| bytes.iter().map(|&b| w.get(u32::from(b))).sum::<f64>() / 1000.0);
        let spaces = bytes.iter().filter(|&&b| b == b' ').count();
        Shown {
            width,
            codes: bytes.len(),
            spaces,
        }
    }

    fn push_simple(&self, b: u8, out: &mut String) {
        if let Some(glyph) = (!self.differences.is_empty())
            .then(|| self.differences.get(&b))
            .flatten()
        {
            // Unknown glyph names were refused by `unreadable` before decoding.
            out.push_str(glyph.as_deref().unwrap_or_default());
        } else if b.is_ascii() {
            out.push(char::from(b));
        } else {
            out.push(high_half(self.encoding)[usize::from(b - 0x80)]);
        }
    }
}

/// The characters of bytes 0x80–0xFF in `encoding` (one of the two simple ones).
fn high_half(encoding: &'static Encoding) -> &'static [char; 128] {
    static WIN: OnceLock<[char; 128]> = OnceLock::new();
    static MAC: OnceLock<[char; 128]> = OnceLock::new();
    let cell = if encoding == MACINTOSH { &MAC } else { &WIN };
    cell.get_or_init(|| {
        std::array::from_fn(|i| {
            let byte = [0x80 + i as u8];
            let (text, _) = encoding.decode_without_bom_handling(&byte);
            text.chars().next().unwrap_or('\u{fffd}')
        })
    })
}

fn simple_encoding(name: &[u8]) -> &'static Encoding {
    match name {
        b"MacRomanEncoding" => MACINTOSH,
        _ => WINDOWS_1252,
    }
}

/// `/Differences [code /name /name code /name …]`: each code's glyph name turned
/// into text by the Adobe Glyph List rules (`glyph_text`), `None` when it has none.
fn differences(items: &[Obj]) -> HashMap<u8, Option<String>> {
    let mut map = HashMap::new();
    let mut code: Option<i64> = None;
    for item in items.iter().take(1024) {
        match item {
            Obj::Int(i) => code = Some(*i),
            Obj::Name(n) => {
                if let Some(c) = code.and_then(|c| u8::try_from(c).ok()) {
                    map.insert(c, glyph_text(n));
                }
                code = code.map(|c| c + 1);
            }
            _ => {}
        }
    }
    map
}

/// The text a glyph name stands for, following the Adobe Glyph List
/// specification's mapping: the part before the first `.` is the name, `_` joins
/// the components of a ligature, and each component is an AGLFN name, `uni` and
/// one or more groups of four hex digits (BMP values), or `u` and four to six hex
/// digits. `None` when any component is
/// none of these: a name like `/g17` says nothing about the text it draws.
fn glyph_text(name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    let base = name.split('.').next().unwrap_or_default();
    if base.is_empty() {
        return None;
    }
    let mut text = String::new();
    for component in base.split('_') {
        component_text(component, &mut text)?;
    }
    Some(text)
}

fn component_text(component: &str, out: &mut String) -> Option<()> {
    if let Some(&c) = glyph_names().get(component) {
        out.push(c);
        return Some(());
    }
    let hex_char = |h: &str| {
        let v = u32::from_str_radix(h, 16).ok()?;
        char::from_u32(v)
    };
    let all_hex = |h: &str| {
        h.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase() && b <= b'F')
    };
    if let Some(hex) = component.strip_prefix("uni")
        && !hex.is_empty()
        && hex.len() % 4 == 0
        && all_hex(hex)
    {
        for i in (0..hex.len()).step_by(4) {
            out.push(hex_char(&hex[i..i + 4])?);
        }
        return Some(());
    }
    if let Some(hex) = component.strip_prefix('u')
        && (4..=6).contains(&hex.len())
        && all_hex(hex)
    {
        out.push(hex_char(hex)?);
        return Some(());
    }
    None
}

/// AGLFN names (from the `glyph-names` crate) and a few legacy names that PDF
/// producers still write, name → character. Later entries win: `minus` and
/// `nbspace` become the ASCII characters the identifier tokenizers split on.
fn glyph_names() -> &'static HashMap<&'static str, char> {
    static NAMES: OnceLock<HashMap<&'static str, char>> = OnceLock::new();
    NAMES.get_or_init(|| {
        const LEGACY: &[(char, &str)] = &[
            (' ', "nbspace"),
            ('\u{00AD}', "sfthyphen"),
            ('\u{00B7}', "middot"),
            ('-', "minus"),
        ];
        glyph_names::GLYPH_NAME_PAIRS
            .iter()
            .chain(LEGACY)
            .map(|&(c, name)| (name, c))
            .collect()
    })
}

#[derive(Debug, Default)]
pub struct CMap {
    /// Code byte lengths that the codespace ranges allow, with their ranges.
    codespace: Vec<(usize, u32, u32)>,
    single: HashMap<u32, String>,
    /// (low, high, first destination as UTF-16 units) sorted by low.
    ranges: Vec<(u32, u32, Vec<u16>)>,
}

impl CMap {
    fn is_empty(&self) -> bool {
        self.single.is_empty() && self.ranges.is_empty()
    }

    /// Parses the operators of a CMap program; unknown operators are ignored.
    pub fn parse(data: &[u8]) -> CMap {
        let mut cmap = CMap::default();
        let mut lx = Lexer::new(data, 0);
        let mut section: &[u8] = b"";
        let mut operands: Vec<Obj> = Vec::new();
        let mut entries = 0usize;
        while let Some(tok) = lx.next_tok() {
            match tok {
                Tok::Keyword(k) if k.starts_with(b"begin") => section = k,
                Tok::Keyword(k) if k.starts_with(b"end") => section = b"",
                Tok::Str(s) => operands.push(Obj::Str(s)),
                Tok::ArrayOpen => {
                    let mut arr = Vec::new();
                    while let Some(Tok::Str(s)) = lx.next_tok() {
                        arr.push(Obj::Str(s));
                    }
                    operands.push(Obj::Array(arr));
                }
                _ => continue,
            }
            entries += 1;
            if entries > MAX_ENTRIES {
                break;
            }
            cmap.take(section, &mut operands);
        }
        cmap.ranges.sort_by_key(|r| r.0);
        cmap.codespace.sort_by_key(|c| c.0);
        cmap
    }

    /// Consumes the operands of one complete entry of `section`, if there are enough.
    fn take(&mut self, section: &[u8], ops: &mut Vec<Obj>) {
        let need = match section {
            b"begincodespacerange" | b"beginbfchar" => 2,
            b"beginbfrange" => 3,
            _ => {
                ops.clear();
                return;
            }
        };
        if ops.len() < need {
            return;
        }
        let code = |o: &Obj| match o {
            Obj::Str(s) if !s.is_empty() && s.len() <= 4 => Some((s.len(), be(s))),
            _ => None,
        };
        match (section, &ops[..]) {
            (b"begincodespacerange", [lo, hi]) => {
                if let (Some((n, lo)), Some((_, hi))) = (code(lo), code(hi)) {
                    self.codespace.push((n, lo, hi));
                }
            }
            (b"beginbfchar", [src, Obj::Str(dst)]) => {
                if let Some((_, src)) = code(src) {
                    self.single.insert(src, utf16be(dst));
                }
            }
            (b"beginbfrange", [lo, hi, dst]) => {
                if let (Some((_, lo)), Some((_, hi))) = (code(lo), code(hi)) {
                    self.range(lo, hi, dst);
                }
            }
            _ => {}
        }
        ops.clear();
    }

    fn range(&mut self, lo: u32, hi: u32, dst: &Obj) {
        match dst {
            Obj::Str(s) if lo <= hi => {
                let units = s
                    .chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
                self.ranges.push((lo, hi, units.collect()));
            }
            Obj::Array(items) => {
                for (i, item) in items.iter().enumerate().take(256) {
                    if let (Obj::Str(s), Some(code)) = (item, lo.checked_add(i as u32))
                        && code <= hi
                    {
                        self.single.insert(code, utf16be(s));
                    }
                }
            }
            _ => {}
        }
    }

    fn lookup(&self, code: u32, out: &mut String) -> bool {
        if let Some(s) = self.single.get(&code) {
            out.push_str(s);
            return true;
        }
        let i = self.ranges.partition_point(|r| r.0 <= code);
        // Ranges may overlap; the nearest one below that covers the code wins.
        for (lo, hi, dst) in self.ranges[..i].iter().rev().take(8) {
            if code <= *hi {
                let mut units = dst.clone();
                if let Some(last) = units.last_mut() {
                    *last = last.wrapping_add((code - lo) as u16);
                }
                out.extend(char::decode_utf16(units).map(|c| c.unwrap_or('\u{fffd}')));
                return true;
            }
        }
        false
    }

    /// The length of the code that starts `bytes`.
    fn code_len(&self, bytes: &[u8], composite: bool) -> usize {
        for &(n, lo, hi) in &self.codespace {
            if let Some(code) = bytes.get(..n).map(be)
                && (lo..=hi).contains(&code)
            {
                return n;
            }
        }
        let fallback = self
            .codespace
            .first()
            .map(|c| c.0)
            .unwrap_or(if composite { 2 } else { 1 });
        fallback.min(bytes.len()).max(1)
    }
}

fn be(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .fold(0, |acc, &b| acc << 8 | u32::from(b))
}

/// A bfchar/bfrange destination: UTF-16BE (a surrogate pair, or a ligature's letters).
fn utf16be(bytes: &[u8]) -> String {
    let units = bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    char::decode_utf16(units)
        .map(|c| c.unwrap_or('\u{fffd}'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmap_bfchar_and_ranges() {
        let cmap = CMap::parse(
            b"1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
              2 beginbfchar <0041> <0049> <0042> <D835DC00> endbfchar\n\
              2 beginbfrange <0013> <001C> <0030> <0003> <0004> [<0020> <002D>] endbfrange\n\
              1 beginbfrange <0100> <0101> <00660066> endbfrange",
        );
        let mut out = String::new();
        let font = Font {
            cmap: Some(cmap),
            ..Font::default()
        };
        font.decode(
            &[
                0, 0x41, 0, 0x14, 0, 0x16, 0, 0x19, 0, 4, 0, 0x42, 0, 3, 1, 1,
            ],
            &mut out,
        );
        assert_eq!(out, "I136-\u{1D400} fg");
    }

    #[test]
    fn differences_and_winansi() {
        let dict = Lexer::new(
            b"<< /Encoding << /Differences [49 /one /three /six 128 /Euro /hyphen] >> >>",
            0,
        )
        .object()
        .unwrap();
        let font = Font::new(dict.as_dict().unwrap(), None, None);
        let mut out = String::new();
        font.decode(b"123\x81\x96", &mut out);
        assert_eq!(out, "136-\u{2013}");
    }

    #[test]
    fn glyph_names_follow_the_adobe_glyph_list_rules() {
        let text = |n: &str| glyph_text(n.as_bytes());
        assert_eq!(text("seven").as_deref(), Some("7"));
        assert_eq!(text("one.oldstyle").as_deref(), Some("1"));
        assert_eq!(text("f_i").as_deref(), Some("fi"));
        assert_eq!(text("uni00370038").as_deref(), Some("78"));
        assert_eq!(text("u1F574").as_deref(), Some("\u{1F574}"));
        assert_eq!(text("minus").as_deref(), Some("-"));
        assert_eq!(text("g17"), None);
        assert_eq!(text("uni12"), None);
        assert_eq!(text("uni004g"), None);
        assert_eq!(text(".notdef"), None);
    }

    #[test]
    fn text_in_glyphs_with_meaningless_names_is_unreadable() {
        let dict = Lexer::new(b"<< /Encoding << /Differences [48 /g3 /g4 65 /A] >> >>", 0)
            .object()
            .unwrap();
        let font = Font::new(dict.as_dict().unwrap(), None, None);
        assert_eq!(font.unreadable(b"AAA"), None);
        assert!(font.unreadable(b"A0A").is_some());
        // A ToUnicode map says what every code is: the names no longer matter.
        let dict = dict.as_dict().unwrap();
        let mapped = Font::new(dict, Some(b"1 beginbfchar <30> <0039> endbfchar"), None);
        assert_eq!(mapped.unreadable(b"0"), None);
    }
}
