//! Small, valid sample documents for tests and benches: PDF (plain, FlateDecode,
//! ToUnicode CMap, object streams, encrypted, text-heavy), RTF and OLE2 compound
//! files. Generated, so the repository carries no binary fixtures.

use std::fmt::Write as _;
use std::io::{Cursor, Write};

use flate2::Compression;
use flate2::write::ZlibEncoder;

/// zlib (FlateDecode) compression of `data`.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = ZlibEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).expect("write to a Vec");
    enc.finish().expect("write to a Vec")
}

/// A PDF with one uncompressed content stream that shows `text`, one `Tj` per line.
pub fn pdf_plain(text: &str) -> Vec<u8> {
    simple_pdf(&show_lines(text), false)
}

/// The same, with a FlateDecode content stream.
pub fn pdf_flate(text: &str) -> Vec<u8> {
    simple_pdf(&show_lines(text), true)
}

/// A PDF whose text is shown as 2-byte glyph ids in hex strings through a Type0 font,
/// readable only through the font's ToUnicode CMap (bfchar, scalar and array bfrange).
pub fn pdf_tounicode(text: &str) -> Vec<u8> {
    let glyphs = GlyphMap::new(text);
    let mut pdf = PdfBuilder::default();
    let catalog = pdf.reserve();
    let pages = pdf.reserve();
    let page = pdf.reserve();
    let content = pdf.add(stream_obj("", &deflate(glyphs.show(text).as_bytes()), true));
    let cmap = pdf.add(stream_obj("", &deflate(glyphs.cmap().as_bytes()), true));
    let cid = pdf.add(cid_font().into_bytes());
    let font = pdf.add(type0_font(cid, cmap).into_bytes());
    pdf.set(catalog, format!("<< /Type /Catalog /Pages {pages} 0 R >>"));
    pdf.set(
        pages,
        format!("<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>"),
    );
    pdf.set(page, page_dict(pages, content, font));
    pdf.finish(catalog, "")
}

/// A PDF 1.5 file whose catalog, page tree, page and fonts live in a compressed
/// object stream (/Type /ObjStm), indexed by a cross-reference stream; the text
/// is shown through a ToUnicode CMap, so it cannot be read without the object stream.
pub fn pdf_object_stream(text: &str) -> Vec<u8> {
    let glyphs = GlyphMap::new(text);
    // Numbers: 1 catalog, 2 pages, 3 page, 4 font, 5 CID font (all in the object
    // stream 8), 6 content, 7 ToUnicode, 9 xref stream.
    let inner = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        page_dict(2, 6, 4),
        type0_font(5, 7),
        cid_font(),
    ];
    let mut header = String::new();
    let mut body = String::new();
    for (i, obj) in inner.iter().enumerate() {
        write!(header, "{} {} ", i + 1, body.len()).unwrap();
        body.push_str(obj);
        body.push('\n');
    }
    let objstm = deflate(format!("{header}\n{body}").as_bytes());
    let mut out = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = [0usize; 10];
    let put = |out: &mut Vec<u8>, offsets: &mut [usize; 10], num: usize, body: &[u8]| {
        offsets[num] = out.len();
        out.extend_from_slice(format!("{num} 0 obj\n").as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    put(
        &mut out,
        &mut offsets,
        6,
        &stream_obj("", &deflate(glyphs.show(text).as_bytes()), true),
    );
    put(
        &mut out,
        &mut offsets,
        7,
        &stream_obj("", &deflate(glyphs.cmap().as_bytes()), true),
    );
    let first = header.len() + 1;
    let dict = format!("/Type /ObjStm /N {} /First {first}", inner.len());
    put(&mut out, &mut offsets, 8, &stream_obj(&dict, &objstm, true));
    // xref stream rows: type (1 byte), offset or stream number (4), generation or index (2).
    let mut rows = vec![0u8, 0, 0, 0, 0, 0xff, 0xff];
    for i in 0..5u8 {
        rows.extend_from_slice(&[2, 0, 0, 0, 8, 0, i]);
    }
    let xref_at = out.len();
    for num in [6, 7, 8] {
        rows.push(1);
        rows.extend_from_slice(&(offsets[num] as u32).to_be_bytes());
        rows.extend_from_slice(&[0, 0]);
    }
    rows.push(1);
    rows.extend_from_slice(&(xref_at as u32).to_be_bytes());
    rows.extend_from_slice(&[0, 0]);
    let dict = "/Type /XRef /Size 10 /W [1 4 2] /Root 1 0 R";
    put(
        &mut out,
        &mut offsets,
        9,
        &stream_obj(dict, &deflate(&rows), true),
    );
    out.extend_from_slice(format!("startxref\n{xref_at}\n%%EOF\n").as_bytes());
    out
}

/// A PDF whose trailer names an /Encrypt dictionary (RC4, standard security
/// handler); its content stream is ciphertext.
pub fn pdf_encrypted() -> Vec<u8> {
    let mut pdf = PdfBuilder::default();
    let catalog = pdf.reserve();
    let pages = pdf.reserve();
    let page = pdf.reserve();
    let noise: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(73) ^ 0x5a) as u8)
        .collect();
    let content = pdf.add(stream_obj("", &noise, false));
    let font = pdf.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec());
    let encrypt = pdf.add(
        b"<< /Filter /Standard /V 2 /R 3 /Length 128 /P -3904 \
          /O <0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef> \
          /U <fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210> >>"
            .to_vec(),
    );
    pdf.set(catalog, format!("<< /Type /Catalog /Pages {pages} 0 R >>"));
    pdf.set(
        pages,
        format!("<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>"),
    );
    pdf.set(page, page_dict(pages, content, font));
    let trailer = format!(
        "/Encrypt {encrypt} 0 R /ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>]"
    );
    pdf.finish(catalog, &trailer)
}

/// A text-heavy PDF of about `bytes_target` bytes: pages of FlateDecode content
/// streams with kerned `TJ` arrays, `'` and `Td` lines, and one IRD number per
/// page (`136-410-132`), like a long report. For throughput benches.
pub fn pdf_text_heavy(bytes_target: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "taxpayer",
        "reported",
        "income",
        "for",
        "period",
        "ending",
        "March",
        "and",
        "assessment",
        "under",
        "section",
        "of",
        "Act",
        "records",
        "were",
        "reviewed",
        "by",
        "officer",
        "with",
        "reference",
        "to",
        "correspondence",
        "dated",
    ];
    let mut pdf = PdfBuilder::default();
    let catalog = pdf.reserve();
    let pages = pdf.reserve();
    let font = pdf.add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    );
    let mut kids = Vec::new();
    let mut seed = 0x2545_f491_u32;
    while pdf.size() < bytes_target {
        let mut ops = String::from("BT /F1 9 Tf 11 TL 50 800 Td\n");
        for line in 0..70 {
            ops.push('[');
            for w in 0..12 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let word = WORDS[seed as usize % WORDS.len()];
                let (a, b) = word.split_at(word.len() / 2);
                // A kern inside the word (not a space), a wide gap between words.
                write!(ops, "({a})-12({b})").unwrap();
                if w < 11 {
                    ops.push_str("-278");
                }
            }
            ops.push_str("]TJ\n");
            if line % 10 == 0 {
                writeln!(ops, "0 -11 Td (IRD number 136-410-132, amount {seed}) Tj").unwrap();
            }
            ops.push_str(if line % 2 == 0 {
                "T*\n"
            } else {
                "(continued) '\n"
            });
        }
        ops.push_str("ET\n");
        let content = pdf.add(stream_obj("", &deflate(ops.as_bytes()), true));
        let page = pdf.add(page_dict(pages, content, font).into_bytes());
        kids.push(page);
    }
    let kids: String = kids.iter().map(|k| format!("{k} 0 R ")).collect();
    pdf.set(catalog, format!("<< /Type /Catalog /Pages {pages} 0 R >>"));
    pdf.set(
        pages,
        format!("<< /Type /Pages /Kids [{kids}] /Count {} >>", kids.len()),
    );
    pdf.finish(catalog, "")
}

/// An RTF document (font and colour tables, an info group, a `\*` destination, a
/// picture) whose body holds `text`; non-ASCII characters are written as `\uN?`
/// (and `\'hh` for the cp1252 ones), line breaks as `\par`.
pub fn rtf(text: &str) -> Vec<u8> {
    let mut out = String::from(
        "{\\rtf1\\ansi\\ansicpg1252\\deff0\\uc1\
         {\\fonttbl{\\f0\\fswiss\\fcharset0 Arial 999-999-999;}{\\f1\\fmodern Courier;}}\
         {\\colortbl;\\red0\\green0\\blue0;}\
         {\\info{\\title 123-123-123}{\\author Someone}}\
         {\\*\\generator Msftedit 5.41.21.2510;}\
         \\viewkind4\\pard\\f0\\fs20 ",
    );
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\\par\n");
        }
        for c in line.chars() {
            match c {
                '\\' | '{' | '}' => write!(out, "\\{c}").unwrap(),
                ' '..='~' => out.push(c),
                '\u{a0}'..='\u{ff}' => write!(out, "\\'{:02x}", c as u32).unwrap(),
                _ => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        write!(out, "\\u{}?", *u as i16).unwrap();
                    }
                }
            }
        }
    }
    out.push_str("{\\pict\\wmetafile8\\picw10\\pich10 0102030405060708}\\par\n}");
    out.into_bytes()
}

/// An OLE2 compound file like a Word 97 .doc: a `WordDocument` stream that starts
/// with a FIB (not encrypted) and holds `text` as UTF-16LE, a `1Table` stream, and
/// an Outlook-style `__substg1.0_0037001F` (subject) stream with the first line.
pub fn ole_doc(text: &str) -> Vec<u8> {
    let mut word = fib(false);
    word.resize(0x400, 0);
    word.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    word.extend_from_slice(&[0x0d, 0]);
    let subject: Vec<u8> = text
        .lines()
        .next()
        .unwrap_or("")
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    compound_file(&[
        ("/WordDocument", word),
        ("/1Table", vec![0u8; 512]),
        ("/__substg1.0_0037001F", subject),
    ])
}

/// An encrypted Word 97 document: the FIB's fEncrypted bit is set.
pub fn ole_encrypted() -> Vec<u8> {
    let mut word = fib(true);
    word.resize(0x600, 0x42);
    compound_file(&[("/WordDocument", word), ("/1Table", vec![0x13u8; 512])])
}

/// An OOXML file protected with a password: an OLE2 container holding
/// `EncryptionInfo` and `EncryptedPackage` streams.
pub fn ole_encrypted_package() -> Vec<u8> {
    compound_file(&[
        ("/EncryptionInfo", vec![4, 0, 4, 0, 0x40, 0, 0, 0]),
        ("/EncryptedPackage", vec![0x99u8; 4096]),
    ])
}

/// A compound file holding `streams` (path, bytes).
pub fn compound_file(streams: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut cf = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("in-memory file");
    for (path, data) in streams {
        let mut s = cf.create_stream(path).expect("new stream");
        s.write_all(data).expect("in-memory write");
    }
    cf.flush().expect("in-memory flush");
    cf.into_inner().into_inner()
}

/// The start of a Word 97 FIB: wIdent 0xA5EC, nFib 0x00C1, and the flags word
/// at offset 0x0A whose bit 0x0100 is fEncrypted.
fn fib(encrypted: bool) -> Vec<u8> {
    let mut fib = vec![0xec, 0xa5, 0xc1, 0x00, 0, 0, 0, 0, 0, 0];
    let flags: u16 = if encrypted { 0x0100 } else { 0 } | 0x0200; // 0x0200: fWhichTblStm
    fib.extend_from_slice(&flags.to_le_bytes());
    fib
}

/// Content-stream operators that show each line of `text` with `Tj`, one line per `T*`.
fn show_lines(text: &str) -> String {
    let mut ops = String::from("BT /F1 12 Tf 14 TL 72 760 Td\n");
    for line in text.split('\n') {
        ops.push('(');
        for c in line.chars() {
            match c {
                '(' | ')' | '\\' => write!(ops, "\\{c}").unwrap(),
                ' '..='~' => ops.push(c),
                // Octal escapes for the Latin-1 range (WinAnsi agrees there).
                '\u{a0}'..='\u{ff}' => write!(ops, "\\{:03o}", c as u32).unwrap(),
                _ => ops.push('?'),
            }
        }
        ops.push_str(") Tj T*\n");
    }
    ops.push_str("ET\n");
    ops
}

fn simple_pdf(ops: &str, flate: bool) -> Vec<u8> {
    let mut pdf = PdfBuilder::default();
    let catalog = pdf.reserve();
    let pages = pdf.reserve();
    let page = pdf.reserve();
    let data = if flate {
        deflate(ops.as_bytes())
    } else {
        ops.as_bytes().to_vec()
    };
    let content = pdf.add(stream_obj("", &data, flate));
    let font = pdf.add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    );
    pdf.set(catalog, format!("<< /Type /Catalog /Pages {pages} 0 R >>"));
    pdf.set(
        pages,
        format!("<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>"),
    );
    pdf.set(page, page_dict(pages, content, font));
    pdf.finish(catalog, "")
}

fn page_dict(parent: usize, content: usize, font: usize) -> String {
    format!(
        "<< /Type /Page /Parent {parent} 0 R /MediaBox [0 0 595 842] \
         /Resources << /Font << /F1 {font} 0 R >> >> /Contents {content} 0 R >>"
    )
}

fn type0_font(descendant: usize, to_unicode: usize) -> String {
    format!(
        "<< /Type /Font /Subtype /Type0 /BaseFont /ABCDEF+Calibri /Encoding /Identity-H \
         /DescendantFonts [{descendant} 0 R] /ToUnicode {to_unicode} 0 R >>"
    )
}

fn cid_font() -> String {
    "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /ABCDEF+Calibri \
     /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 500 >>"
        .to_string()
}

fn stream_obj(dict: &str, data: &[u8], flate: bool) -> Vec<u8> {
    let filter = if flate { " /Filter /FlateDecode" } else { "" };
    let mut out = format!("<< {dict} /Length {}{filter} >>\nstream\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream");
    out
}

/// Glyph ids as a subset font assigns them: digits at 0x13.., space and hyphen at
/// 3 and 4 (an array bfrange), every other character in order of appearance from 0x100.
struct GlyphMap {
    others: Vec<char>,
}

impl GlyphMap {
    fn new(text: &str) -> GlyphMap {
        let mut others = Vec::new();
        for c in text.chars() {
            if !c.is_ascii_digit() && c != ' ' && c != '-' && c != '\n' && !others.contains(&c) {
                others.push(c);
            }
        }
        GlyphMap { others }
    }

    fn gid(&self, c: char) -> u16 {
        match c {
            ' ' => 3,
            '-' => 4,
            '0'..='9' => 0x13 + (c as u16 - '0' as u16),
            _ => 0x100 + self.others.iter().position(|&o| o == c).unwrap_or(0) as u16,
        }
    }

    fn show(&self, text: &str) -> String {
        let mut ops = String::from("BT /F1 11 Tf 13 TL 72 760 Td\n");
        for line in text.split('\n') {
            ops.push('<');
            for c in line.chars() {
                write!(ops, "{:04X}", self.gid(c)).unwrap();
            }
            ops.push_str("> Tj T*\n");
        }
        ops.push_str("ET\n");
        ops
    }

    fn cmap(&self) -> String {
        let mut cmap = String::from(
            "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
             /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
             /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
             1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n\
             2 beginbfrange\n<0003> <0004> [<0020> <002D>]\n<0013> <001C> <0030>\nendbfrange\n",
        );
        for chunk in self.others.chunks(100) {
            writeln!(cmap, "{} beginbfchar", chunk.len()).unwrap();
            for &c in chunk {
                let mut units = [0u16; 2];
                let dst: String = c
                    .encode_utf16(&mut units)
                    .iter()
                    .map(|u| format!("{u:04X}"))
                    .collect();
                writeln!(cmap, "<{:04X}> <{dst}>", self.gid(c)).unwrap();
            }
            cmap.push_str("endbfchar\n");
        }
        cmap.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
        cmap
    }
}

/// Numbers objects from 1, writes a classic xref table and trailer.
#[derive(Default)]
struct PdfBuilder {
    objs: Vec<Vec<u8>>,
    size: usize,
}

impl PdfBuilder {
    fn reserve(&mut self) -> usize {
        self.objs.push(Vec::new());
        self.objs.len()
    }

    fn add(&mut self, body: Vec<u8>) -> usize {
        self.size += body.len() + 20;
        self.objs.push(body);
        self.objs.len()
    }

    fn set(&mut self, num: usize, body: String) {
        self.size += body.len() + 20;
        self.objs[num - 1] = body.into_bytes();
    }

    fn size(&self) -> usize {
        self.size
    }

    fn finish(self, root: usize, trailer_extra: &str) -> Vec<u8> {
        let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let mut offsets = Vec::with_capacity(self.objs.len());
        for (i, body) in self.objs.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref_at = out.len();
        let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", self.objs.len() + 1);
        for off in offsets {
            writeln!(xref, "{off:010} 00000 n ").unwrap();
        }
        write!(
            xref,
            "trailer\n<< /Size {} /Root {root} 0 R {trailer_extra} >>\nstartxref\n{xref_at}\n%%EOF\n",
            self.objs.len() + 1
        )
        .unwrap();
        out.extend_from_slice(xref.as_bytes());
        out
    }
}
