//! Typing content by what it is, never by its label: magic bytes for containers,
//! media and archives, then a text test (UTF-8, UTF-16 with or without a byte order
//! mark, Latin-1) on the first bytes.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// Bytes of a part looked at before it is typed.
pub const SNIFF_BYTES: usize = 4096;

/// What some content is, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Text in this encoding; `bom` bytes of byte order mark to skip.
    Text {
        encoding: &'static Encoding,
        bom: usize,
    },
    Pdf,
    Rtf,
    /// OLE2 compound file: legacy Office (.doc/.xls/.ppt/.msg) or an encrypted
    /// OOXML package.
    Ole,
    Zip,
    Gzip,
    /// A picture, sound, video or font recognised by its magic: not read.
    Media(&'static str),
    /// An archive or compression format that is not opened.
    Archive(&'static str),
    /// CMS (S/MIME) enveloped data or an OpenPGP message.
    Encrypted(&'static str),
    /// Binary of no known kind.
    Binary,
}

/// `(offset, magic, kind)`: containers, archives, encrypted data and media.
const MAGIC: &[(usize, &[u8], Kind)] = &[
    (0, b"%PDF-", Kind::Pdf),
    (0, b"{\\rtf", Kind::Rtf),
    (0, b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", Kind::Ole),
    (0, b"PK\x03\x04", Kind::Zip),
    (0, b"PK\x05\x06", Kind::Zip),
    (0, b"\x1F\x8B", Kind::Gzip),
    (0, b"7z\xBC\xAF\x27\x1C", Kind::Archive("7z")),
    (0, b"Rar!\x1A\x07", Kind::Archive("rar")),
    (0, b"\xFD7zXZ\x00", Kind::Archive("xz")),
    (0, b"BZh", Kind::Archive("bzip2")),
    (0, b"\x28\xB5\x2F\xFD", Kind::Archive("zstd")),
    (0, b"MSCF\0\0\0\0", Kind::Archive("cab")),
    (257, b"ustar", Kind::Archive("tar")),
    (0, b"-----BEGIN PGP MESSAGE-----", Kind::Encrypted("PGP")),
    (0, b"\x89PNG\r\n\x1A\n", Kind::Media("image")),
    (0, b"\xFF\xD8\xFF", Kind::Media("image")),
    (0, b"GIF87a", Kind::Media("image")),
    (0, b"GIF89a", Kind::Media("image")),
    (0, b"II*\0", Kind::Media("image")),
    (0, b"MM\0*", Kind::Media("image")),
    (0, b"\0\0\x01\0", Kind::Media("image")),
    (0, b"ID3", Kind::Media("audio")),
    (0, b"fLaC", Kind::Media("audio")),
    (0, b"OggS", Kind::Media("audio")),
    (0, b"\x1A\x45\xDF\xA3", Kind::Media("video")),
    (0, b"wOFF", Kind::Media("font")),
    (0, b"wOF2", Kind::Media("font")),
    (0, b"OTTO", Kind::Media("font")),
];

/// Types `head`, the first [`SNIFF_BYTES`] (or all) of some content.
pub fn sniff(head: &[u8]) -> Kind {
    if let Some(kind) = magic(head) {
        return media_or_text(head, kind);
    }
    if is_cms_enveloped(head) {
        return Kind::Encrypted("S/MIME");
    }
    text_encoding(head).map_or(Kind::Binary, |(encoding, bom)| Kind::Text { encoding, bom })
}

fn magic(head: &[u8]) -> Option<Kind> {
    for &(at, m, kind) in MAGIC {
        if head.get(at..).is_some_and(|h| h.starts_with(m)) {
            return Some(kind);
        }
    }
    let riff = |tag: &[u8]| head.starts_with(b"RIFF") && head.get(8..12) == Some(tag);
    if riff(b"WEBP") {
        return Some(Kind::Media("image"));
    }
    if riff(b"WAVE") {
        return Some(Kind::Media("audio"));
    }
    if riff(b"AVI ") {
        return Some(Kind::Media("video"));
    }
    // ISO base media (mp4, mov, heic): a box size, then `ftyp`.
    if head.get(4..8) == Some(b"ftyp") {
        return Some(Kind::Media("video"));
    }
    // BMP: `BM`, a size, then four reserved zero bytes.
    if head.starts_with(b"BM") && head.get(6..10) == Some(&[0, 0, 0, 0]) {
        return Some(Kind::Media("image"));
    }
    None
}

/// A media magic followed by text is text wearing a media prefix (a CSV after
/// `GIF89a`): it is read, not skipped. Real media is binary right after its header.
/// Short archive magics (`BZh`) at the start of text are text too.
fn media_or_text(head: &[u8], kind: Kind) -> Kind {
    if let Kind::Archive(_) = kind
        && let Some((encoding, bom)) = text_encoding(head)
    {
        return Kind::Text { encoding, bom };
    }
    if !matches!(kind, Kind::Media(_)) || head.len() < 64 {
        return kind;
    }
    match text_encoding(&head[16..]) {
        Some((encoding, _)) => Kind::Text { encoding, bom: 0 },
        None => kind,
    }
}

/// DER `SEQUENCE` holding the CMS envelopedData (1.2.840.113549.1.7.3) or
/// authEnvelopedData (1.2.840.113549.1.9.16.1.23) content type: S/MIME encryption,
/// whatever the part is labelled.
fn is_cms_enveloped(head: &[u8]) -> bool {
    const ENVELOPED: &[u8] = b"\x06\x09\x2A\x86\x48\x86\xF7\x0D\x01\x07\x03";
    const AUTH_ENVELOPED: &[u8] = b"\x06\x0B\x2A\x86\x48\x86\xF7\x0D\x01\x09\x10\x01\x17";
    head.first() == Some(&0x30)
        && [ENVELOPED, AUTH_ENVELOPED]
            .iter()
            .any(|oid| memchr::memmem::find(&head[..head.len().min(32)], oid).is_some())
}

/// The encoding `head` reads as text in, with the length of its byte order mark;
/// `None` for binary. Control characters (other than tab, line breaks, form feed
/// and escape) in more than 1 % of the characters make content binary.
pub fn text_encoding(head: &[u8]) -> Option<(&'static Encoding, usize)> {
    if let Some((enc, bom)) = Encoding::for_bom(head) {
        return Some((enc, bom));
    }
    // Without zero bytes it is not UTF-16; with them it is UTF-16 or binary.
    if memchr::memchr(0, head).is_some() {
        return utf16_without_bom(head).map(|enc| (enc, 0));
    }
    if controls(head) * 100 > head.len() {
        return None;
    }
    match std::str::from_utf8(head) {
        Ok(_) => Some((UTF_8, 0)),
        // Cut inside a character at the end of the sample: still UTF-8.
        Err(e) if e.error_len().is_none() => Some((UTF_8, 0)),
        Err(_) => Some((WINDOWS_1252, 0)),
    }
}

/// Control characters other than tab, line breaks, form feed and escape. Written
/// as byte comparisons summed in `u8` lanes over blocks of 255 bytes (not
/// `matches!`, which compiles to a bit test per byte) so that the compiler
/// vectorises it: every part is sniffed.
fn controls(s: &[u8]) -> usize {
    let control = |b: u8| {
        u8::from(b < 0x20) + u8::from(b == 0x7F)
            - u8::from(b == b'\t')
            - u8::from(b == b'\n')
            - u8::from(b == b'\r')
            - u8::from(b == 0x0C)
            - u8::from(b == 0x1B)
    };
    s.chunks(255)
        .map(|c| usize::from(c.iter().fold(0u8, |n, &b| n + control(b))))
        .sum()
}

/// UTF-16 of mostly Latin text, without a BOM: one byte of each pair is zero.
fn utf16_without_bom(head: &[u8]) -> Option<&'static Encoding> {
    let pairs = head.len() / 2;
    if pairs < 4 {
        return None;
    }
    // Zero bytes at even and at odd offsets (a trailing odd byte is at an even one).
    let pair_iter = head.chunks_exact(2);
    let trailing_zero = usize::from(pair_iter.remainder() == [0]);
    let (even, odd) = pair_iter.fold((trailing_zero, 0usize), |(e, o), p| {
        (e + usize::from(p[0] == 0), o + usize::from(p[1] == 0))
    });
    // ASCII in UTF-16LE: `a\0b\0`; in UTF-16BE: `\0a\0b`.
    if odd * 10 >= pairs * 7 && even * 20 <= pairs {
        Some(UTF_16LE)
    } else if even * 10 >= pairs * 7 && odd * 20 <= pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Whether text content is HTML: by label, file name or its first tag.
pub fn is_html(content_type: &str, filename: Option<&str>, text_head: &str) -> bool {
    let name = filename.unwrap_or("").to_ascii_lowercase();
    if content_type == "text/html" || name.ends_with(".html") || name.ends_with(".htm") {
        return true;
    }
    let start = text_head.trim_start();
    let lower: String = start
        .chars()
        .take(14)
        .collect::<String>()
        .to_ascii_lowercase();
    lower.starts_with("<!doctype html") || lower.starts_with("<html")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(enc: &'static Encoding, bom: usize) -> Kind {
        Kind::Text { encoding: enc, bom }
    }

    #[test]
    fn containers_media_and_archives_by_magic() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Kind::Pdf);
        assert_eq!(sniff(b"PK\x03\x04\x14\0"), Kind::Zip);
        assert_eq!(sniff(b"\x1F\x8B\x08\0"), Kind::Gzip);
        assert_eq!(sniff(b"Rar!\x1A\x07\x01\0"), Kind::Archive("rar"));
        let mut png = b"\x89PNG\r\n\x1A\n".to_vec();
        png.extend((0..200u8).map(|i| i.wrapping_mul(37)));
        assert_eq!(sniff(&png), Kind::Media("image"));
    }

    #[test]
    fn text_in_every_encoding() {
        assert_eq!(sniff(b"name,ird\nA,49091850\n"), text(UTF_8, 0));
        assert_eq!(sniff("caf\u{e9} IRD".as_bytes()), text(UTF_8, 0));
        assert_eq!(sniff(b"caf\xE9 IRD 49091850\n"), text(WINDOWS_1252, 0));
        assert_eq!(sniff(b"\xEF\xBB\xBFIRD"), text(UTF_8, 3));
        assert_eq!(sniff(b"\xFF\xFEI\0R\0D\0"), text(UTF_16LE, 2));
        assert_eq!(sniff(b"I\0R\0D\0 \x004\09\0"), text(UTF_16LE, 0));
        assert_eq!(sniff(b"\0I\0R\0D\0 \x004\09"), text(UTF_16BE, 0));
        assert_eq!(sniff(b"\x01\x02\x03\x04\x05binary"), Kind::Binary);
    }

    #[test]
    fn a_media_prefix_on_text_is_text() {
        let mut fake = b"GIF89a".to_vec();
        fake.extend_from_slice(&b"IRD number 49091850\n".repeat(10));
        assert_eq!(sniff(&fake), text(UTF_8, 0));
        assert_eq!(sniff(b"BZh is not bzip2 here"), text(UTF_8, 0));
    }

    #[test]
    fn control_count_matches_the_definition() {
        let naive = |s: &[u8]| {
            s.iter()
                .filter(|&&b| {
                    (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1B)) || b == 0x7F
                })
                .count()
        };
        let all: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        assert_eq!(controls(&all), naive(&all));
        assert_eq!(controls(&[0x01; 600]), 600);
        // UTF-16 counts: a trailing odd byte sits at an even offset.
        assert_eq!(utf16_without_bom(b"a\0b\0c\0d\0e"), Some(UTF_16LE));
        assert_eq!(utf16_without_bom(b"\0a\0b\0c\0d\0"), Some(UTF_16BE));
    }

    #[test]
    fn cms_enveloped_data_is_encrypted() {
        let der = b"\x30\x80\x06\x09\x2A\x86\x48\x86\xF7\x0D\x01\x07\x03\xA0\x80";
        assert_eq!(sniff(der), Kind::Encrypted("S/MIME"));
    }

    #[test]
    fn html_by_label_name_or_tag() {
        assert!(is_html("text/html", None, ""));
        assert!(is_html("application/octet-stream", Some("A.HTM"), ""));
        assert!(is_html("text/plain", None, "\n <!DOCTYPE html><p>"));
        assert!(!is_html("text/plain", None, "plain <b>"));
    }
}
