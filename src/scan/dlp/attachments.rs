//! Text out of attachments: Office Open XML (docx, xlsx, pptx), OpenDocument and
//! plain zip archives, with limits against zip bombs. Encrypted or over-limit
//! content is reported as uninspectable rather than silently passed.
//!
//! A zip has its directory at the end, so an archive is buffered (up to
//! `max_buffer`) before it is opened; entries are then decompressed as a stream in
//! 64 KiB pieces and never held whole.

use std::io::{Cursor, Read};

/// What a binary part looks like from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// `PK\x03\x04`: zip, and so docx/xlsx/pptx/odt/ods/odp.
    Zip,
    /// OLE compound file: legacy Office, or an encrypted OOXML package.
    Compound,
    Other,
}

pub fn sniff(first: &[u8]) -> Container {
    if first.starts_with(b"PK\x03\x04") {
        Container::Zip
    } else if first.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        Container::Compound
    } else {
        Container::Other
    }
}

/// `EncryptedPackage` in UTF-16LE: the stream name a password-protected
/// docx/xlsx/pptx carries inside its compound file.
const ENCRYPTED_PACKAGE: &[u8] = b"E\0n\0c\0r\0y\0p\0t\0e\0d\0P\0a\0c\0k\0a\0g\0e\0";

/// Whether a compound file is an encrypted Office package.
pub fn is_encrypted_office(data: &[u8]) -> bool {
    memchr::memmem::find(data, ENCRYPTED_PACKAGE).is_some()
}

#[derive(Clone, Copy, Debug)]
pub struct ZipLimits {
    pub max_entries: usize,
    /// Total decompressed bytes read from one archive.
    pub max_uncompressed: u64,
    /// Largest decompressed/compressed ratio of one entry.
    pub max_ratio: u64,
}

/// Why an archive could not be inspected (shown in findings; never content).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Uninspectable {
    #[error("encrypted archive entry")]
    Encrypted,
    #[error("encrypted Office document")]
    EncryptedOffice,
    #[error("archive has more than {0} entries")]
    TooManyEntries(usize),
    #[error("archive expands beyond {0} bytes")]
    TooLarge(u64),
    #[error("archive entry compression ratio over {0}")]
    Ratio(u64),
    #[error("attachment larger than the {0}-byte inspection buffer")]
    BufferLimit(u64),
    #[error("damaged or unsupported archive: {0}")]
    Damaged(String),
    #[error("binary attachment of {0} bytes that cannot be inspected")]
    Opaque(u64),
}

/// Receives the text of each inspected entry.
pub trait EntryText {
    fn entry_start(&mut self);
    fn entry_text(&mut self, text: &[u8]);
    fn entry_end(&mut self);
}

/// How an entry's bytes become text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Xml,
    Text,
}

fn entry_kind(name: &str) -> Option<EntryKind> {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        // Relationship and style parts hold no user text.
        _ if lower.ends_with(".rels") || lower.contains("styles") || lower.contains("theme") => {
            None
        }
        "xml" => Some(EntryKind::Xml),
        "txt" | "csv" | "tsv" | "json" | "html" | "htm" | "md" | "eml" => Some(EntryKind::Text),
        _ => None,
    }
}

/// Reads every text-bearing entry of a zip archive, XML reduced to its text.
pub fn extract_zip(
    data: &[u8],
    limits: ZipLimits,
    out: &mut impl EntryText,
) -> Result<(), Uninspectable> {
    let damaged = |e: zip::result::ZipError| Uninspectable::Damaged(e.to_string());
    let mut archive = zip::ZipArchive::new(Cursor::new(data)).map_err(damaged)?;
    if archive.len() > limits.max_entries {
        return Err(Uninspectable::TooManyEntries(limits.max_entries));
    }
    let mut budget = limits.max_uncompressed;
    let mut buf = vec![0u8; 64 * 1024];
    let mut stripper = XmlText::default();
    let mut text = Vec::with_capacity(64 * 1024);
    for i in 0..archive.len() {
        let (kind, compressed) = {
            let raw = archive.by_index_raw(i).map_err(damaged)?;
            if raw.encrypted() {
                return Err(Uninspectable::Encrypted);
            }
            if raw.is_dir() {
                continue;
            }
            let Some(kind) = raw.name().ok().and_then(|n| entry_kind(&n)) else {
                continue;
            };
            (kind, raw.compressed_size().max(1))
        };
        let entry = archive.by_index(i).map_err(damaged)?;
        // Declared sizes can lie: bound what is actually decompressed.
        let ratio_cap = compressed.saturating_mul(limits.max_ratio);
        let mut reader = entry.take(budget.min(ratio_cap).saturating_add(1));
        let mut read_here = 0u64;
        out.entry_start();
        stripper.reset();
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| Uninspectable::Damaged(e.to_string()))?;
            if n == 0 {
                break;
            }
            read_here += n as u64;
            if read_here > budget {
                return Err(Uninspectable::TooLarge(limits.max_uncompressed));
            }
            if read_here > ratio_cap {
                return Err(Uninspectable::Ratio(limits.max_ratio));
            }
            match kind {
                EntryKind::Text => out.entry_text(&buf[..n]),
                EntryKind::Xml => {
                    text.clear();
                    stripper.feed(&buf[..n], &mut text);
                    out.entry_text(&text);
                }
            }
        }
        out.entry_end();
        budget -= read_here;
    }
    Ok(())
}

/// A streaming XML-to-text reducer: drops markup, keeps character data, decodes the
/// predefined entities, and puts a line break where a paragraph, cell or row ends
/// so that text from neighbouring cells never runs together. Text runs inside a
/// paragraph (`<w:r><w:t>123</w:t></w:r><w:r><w:t>456</w:t>`) join without a gap,
/// as Word displays them.
#[derive(Default)]
struct XmlText {
    in_tag: bool,
    tag: Vec<u8>,
    in_entity: bool,
    entity: Vec<u8>,
}

/// Local names of elements that end a visual line or cell.
const BREAKS: &[&[u8]] = &[
    b"p",
    b"br",
    b"tab",
    b"cr",
    b"tc",
    b"tr",
    b"c",
    b"v",
    b"si",
    b"row",
    b"h",
    b"is",
    b"table-cell",
    b"table-row",
    b"line-break",
    b"list-item",
    b"txBody",
    b"sp",
];

impl XmlText {
    fn reset(&mut self) {
        *self = XmlText {
            tag: std::mem::take(&mut self.tag),
            entity: std::mem::take(&mut self.entity),
            ..XmlText::default()
        };
        self.tag.clear();
        self.entity.clear();
    }

    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut i = 0;
        while i < input.len() {
            if self.in_tag {
                // Up to the end of the tag in one step (the name is all we keep).
                let rest = &input[i..];
                let end = memchr::memchr(b'>', rest).unwrap_or(rest.len());
                let room = 64usize.saturating_sub(self.tag.len()).min(end);
                self.tag.extend_from_slice(&rest[..room]);
                i += end;
                if end < rest.len() {
                    i += 1;
                    self.in_tag = false;
                    if self.breaks_line() {
                        out.push(b'\n');
                    }
                }
                continue;
            }
            let b = input[i];
            if self.in_entity {
                if b == b';' || self.entity.len() > 10 {
                    self.in_entity = false;
                    decode_entity(&self.entity, out);
                } else {
                    self.entity.push(b);
                }
                i += 1;
                continue;
            }
            // Character data up to the next markup, copied in one step.
            let rest = &input[i..];
            let end = memchr::memchr2(b'<', b'&', rest).unwrap_or(rest.len());
            out.extend_from_slice(&rest[..end]);
            i += end;
            if end < rest.len() {
                if rest[end] == b'<' {
                    self.in_tag = true;
                    self.tag.clear();
                } else {
                    self.in_entity = true;
                    self.entity.clear();
                }
                i += 1;
            }
        }
    }

    fn breaks_line(&self) -> bool {
        let t = self.tag.strip_prefix(b"/").unwrap_or(&self.tag);
        let name_end = t
            .iter()
            .position(|&b| b == b' ' || b == b'/' || b == b'\t' || b == b'\n')
            .unwrap_or(t.len());
        let name = &t[..name_end];
        let local = name
            .iter()
            .rposition(|&b| b == b':')
            .map_or(name, |i| &name[i + 1..]);
        BREAKS.contains(&local)
    }
}

fn decode_entity(e: &[u8], out: &mut Vec<u8>) {
    let c = match e {
        b"amp" => Some('&'),
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        [b'#', b'x' | b'X', hex @ ..] => std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32),
        [b'#', dec @ ..] => std::str::from_utf8(dec)
            .ok()
            .and_then(|d| d.parse().ok())
            .and_then(char::from_u32),
        _ => None,
    };
    let mut tmp = [0u8; 4];
    out.extend_from_slice(c.unwrap_or(' ').encode_utf8(&mut tmp).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(Default)]
    struct Collect {
        entries: Vec<Vec<u8>>,
    }
    impl EntryText for Collect {
        fn entry_start(&mut self) {
            self.entries.push(Vec::new());
        }
        fn entry_text(&mut self, t: &[u8]) {
            if let Some(e) = self.entries.last_mut() {
                e.extend_from_slice(t);
            }
        }
        fn entry_end(&mut self) {}
    }

    const LIMITS: ZipLimits = ZipLimits {
        max_entries: 100,
        max_uncompressed: 1 << 20,
        max_ratio: 100,
    };

    fn make_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn strips_xml_and_breaks_cells() {
        let mut out = Vec::new();
        let mut x = XmlText::default();
        x.feed(
            b"<w:p><w:r><w:t>IRD 123</w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>-456-789</w:t></w:r></w:p><c><v>49091850</v></c><c><v>1</v></c>&amp;&#65;",
            &mut out,
        );
        assert_eq!(out, b"\nIRD 123-456-789\n\n\n49091850\n\n\n\n1\n\n&A");
    }

    #[test]
    fn xml_text_is_the_same_however_the_input_is_split() {
        let xml: &[u8] = b"<w:p a=\"x>\"><w:t>IRD&amp;123</w:t></w:p>&#x41;<c><v>9</v></c>";
        let mut whole = Vec::new();
        XmlText::default().feed(xml, &mut whole);
        for split in 0..xml.len() {
            let mut out = Vec::new();
            let mut x = XmlText::default();
            x.feed(&xml[..split], &mut out);
            x.feed(&xml[split..], &mut out);
            assert_eq!(out, whole, "split at {split}");
        }
    }

    #[test]
    fn reads_office_xml_entries_only() {
        let z = make_zip(&[
            ("[Content_Types].xml", b"<Types/>"),
            ("_rels/.rels", b"<Relationships>49091850</Relationships>"),
            ("word/document.xml", b"<w:p><w:t>IRD 49091850</w:t></w:p>"),
            ("word/media/image1.png", b"\x89PNG 49091850"),
        ]);
        let mut c = Collect::default();
        extract_zip(&z, LIMITS, &mut c).unwrap();
        let all: Vec<u8> = c.entries.concat();
        assert_eq!(memchr::memmem::find_iter(&all, b"49091850").count(), 1);
    }

    #[test]
    fn zip_bomb_ratio_and_size_are_refused() {
        let zeros = vec![b'0'; 600 * 1024];
        let z = make_zip(&[("a.txt", &zeros)]);
        let err = extract_zip(&z, LIMITS, &mut Collect::default()).unwrap_err();
        assert_eq!(err, Uninspectable::Ratio(100));
        let big = ZipLimits {
            max_ratio: 1_000_000,
            max_uncompressed: 100 * 1024,
            ..LIMITS
        };
        let err = extract_zip(&z, big, &mut Collect::default()).unwrap_err();
        assert_eq!(err, Uninspectable::TooLarge(100 * 1024));
    }

    #[test]
    fn too_many_entries_and_garbage() {
        let names: Vec<String> = (0..5).map(|i| format!("{i}.txt")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        let z = make_zip(&entries);
        let few = ZipLimits {
            max_entries: 4,
            ..LIMITS
        };
        assert_eq!(
            extract_zip(&z, few, &mut Collect::default()).unwrap_err(),
            Uninspectable::TooManyEntries(4)
        );
        assert!(matches!(
            extract_zip(b"PK\x03\x04garbage", LIMITS, &mut Collect::default()),
            Err(Uninspectable::Damaged(_))
        ));
    }

    #[test]
    fn detects_encrypted_office_and_zip() {
        let mut cfb = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        cfb.extend_from_slice(&[0; 100]);
        assert_eq!(sniff(&cfb), Container::Compound);
        assert!(!is_encrypted_office(&cfb));
        cfb.extend_from_slice(ENCRYPTED_PACKAGE);
        assert!(is_encrypted_office(&cfb));
        // A zip entry with the encryption flag (general purpose bit 0) set.
        let mut z = make_zip(&[("a.txt", b"secret")]);
        for sig in [&b"PK\x03\x04"[..], &b"PK\x01\x02"[..]] {
            let at = memchr::memmem::find(&z, sig).unwrap();
            let flag_at = at + if sig[2] == 3 { 6 } else { 8 };
            z[flag_at] |= 1;
        }
        assert_eq!(
            extract_zip(&z, LIMITS, &mut Collect::default()).unwrap_err(),
            Uninspectable::Encrypted
        );
    }
}
