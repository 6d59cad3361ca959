//! Hostile input through the MIME walker and the `scan` CLI: no panic, bounded
//! memory, content still delivered, the right anomalies.

mod common;

use sge_milter::message::header::{decode_value, parse_header_block};
use sge_milter::message::{ContentSink, MimeAnomaly, MimeLimits, MimeWalker, PartInfo};

/// Counts what arrives instead of storing it (the inputs are large), keeping the
/// content of small text deliveries so tests can look for markers.
#[derive(Default)]
struct Tally {
    headers: usize,
    longest_header_value: usize,
    starts: usize,
    ends: usize,
    text_bytes: usize,
    binary_bytes: usize,
    max_depth: u32,
    found_marker: bool,
    /// The end of the current part's text, so a marker split over chunks is found.
    recent: String,
    anomalies: Vec<MimeAnomaly>,
}

const MARKER: &str = "SGE-MILTER-TEST-TAG-2A6E0";

impl ContentSink for Tally {
    fn header(&mut self, _part: Option<&PartInfo>, _name: &str, value: &str) {
        self.headers += 1;
        self.longest_header_value = self.longest_header_value.max(value.len());
    }
    fn part_start(&mut self, part: &PartInfo) {
        self.starts += 1;
        self.recent.clear();
        self.max_depth = self.max_depth.max(part.depth);
    }
    fn text(&mut self, _part: &PartInfo, text: &str) {
        self.text_bytes += text.len();
        self.recent.push_str(text);
        self.found_marker |= self.recent.contains(MARKER);
        let keep = self.recent.len().saturating_sub(MARKER.len());
        let cut = (keep..=self.recent.len())
            .find(|&i| self.recent.is_char_boundary(i))
            .unwrap_or(0);
        self.recent.drain(..cut);
    }
    fn binary(&mut self, _part: &PartInfo, data: &[u8]) {
        self.binary_bytes += data.len();
    }
    fn part_end(&mut self, _part: &PartInfo) {
        self.ends += 1;
    }
    fn anomaly(&mut self, anomaly: &MimeAnomaly) {
        self.anomalies.push(anomaly.clone());
    }
}

impl Tally {
    fn has(&self, name: &str) -> bool {
        self.anomalies.iter().any(|a| a.name() == name)
    }
}

fn walk_chunked(raw: &[u8], limits: MimeLimits, chunk: usize) -> Tally {
    let block = parse_header_block(raw);
    let mut walker = MimeWalker::new(limits);
    let mut tally = Tally::default();
    for (name, value) in &block.headers {
        walker.header(name, value, &mut tally);
    }
    walker.end_of_headers(&mut tally);
    for c in raw[block.body_offset..].chunks(chunk) {
        walker.body(c, &mut tally);
    }
    walker.finish(&mut tally);
    assert_eq!(
        tally.starts, tally.ends,
        "every part_start has its part_end"
    );
    tally
}

fn walk(raw: &[u8]) -> Tally {
    walk_chunked(raw, MimeLimits::default(), 65535)
}

fn nested(depth: usize) -> Vec<u8> {
    let mut m = String::from("Subject: deep\r\n");
    for i in 0..depth {
        m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    m.push_str(&format!("Content-Type: text/plain\r\n\r\n{MARKER}\r\n"));
    for i in (0..depth).rev() {
        m.push_str(&format!("--b{i}--\r\n"));
    }
    m.into_bytes()
}

#[test]
fn hundred_deep_nesting_is_cut_at_the_limit_and_still_scanned() {
    let t = walk(&nested(100));
    assert!(t.has("mime_depth"), "{:?}", t.anomalies);
    assert!(
        t.found_marker,
        "the innermost text is delivered as opaque text"
    );
    assert_eq!(t.starts, 1);
    assert_eq!(t.max_depth, 20);
    // Within the limit nothing is reported.
    let t = walk(&nested(15));
    assert!(t.anomalies.is_empty(), "{:?}", t.anomalies);
    assert!(t.found_marker);
    assert_eq!(t.max_depth, 15);
}

#[test]
fn ten_thousand_parts() {
    let mut m = String::from("Content-Type: multipart/mixed; boundary=p\r\n\r\n");
    for i in 0..10_000 {
        m.push_str(&format!(
            "--p\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n"
        ));
    }
    m.push_str(&format!("--p\r\n\r\n{MARKER}\r\n--p--\r\n"));
    let raw = m.into_bytes();
    let t = walk(&raw);
    assert!(t.has("mime_parts"), "{:?}", t.anomalies);
    assert!(t.found_marker, "parts past the limit are scanned as text");
    assert_eq!(t.starts, 1001);
    let t = walk_chunked(
        &raw,
        MimeLimits {
            max_parts: 20_000,
            ..MimeLimits::default()
        },
        4096,
    );
    assert!(t.anomalies.is_empty(), "{:?}", t.anomalies);
    assert_eq!(t.starts, 10_001);
    assert!(t.found_marker);
}

#[test]
fn unterminated_multiparts() {
    // No closing delimiter at all, and a last part cut mid-line.
    let raw = format!(
        "Content-Type: multipart/mixed; boundary=u\r\n\r\n--u\r\nContent-Type: multipart/alternative; boundary=v\r\n\r\n--v\r\n\r\n{MARKER} cut"
    );
    let t = walk_chunked(raw.as_bytes(), MimeLimits::default(), 3);
    assert!(t.found_marker);
    assert_eq!(
        t.anomalies,
        vec![
            MimeAnomaly::UnterminatedMultipart { part: 1 },
            MimeAnomaly::UnterminatedMultipart { part: 0 }
        ]
    );
    // The outer delimiter closes the inner multipart too.
    let raw = b"Content-Type: multipart/mixed; boundary=u\r\n\r\n--u\r\nContent-Type: multipart/alternative; boundary=v\r\n\r\n--v\r\n\r\nx\r\n--u--\r\n";
    let t = walk(raw);
    assert_eq!(
        t.anomalies,
        vec![MimeAnomaly::UnterminatedMultipart { part: 1 }]
    );
    // A delimiter followed by a megabyte of padding, then a line that never ends.
    let mut raw = b"Content-Type: multipart/mixed; boundary=u\r\n\r\n--u".to_vec();
    raw.extend(std::iter::repeat_n(b' ', 1 << 20));
    raw.extend_from_slice(b"\r\n\r\n--u");
    raw.extend(std::iter::repeat_n(b'x', 1 << 20));
    let t = walk_chunked(&raw, MimeLimits::default(), 1000);
    assert!(t.has("mime_unterminated"));
    assert_eq!(t.text_bytes, 3 + (1 << 20));
}

#[test]
fn broken_base64_is_skipped_and_reported() {
    let mut raw =
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            .to_vec();
    let mut x: u32 = 1;
    for _ in 0..200_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        raw.push((x >> 16) as u8);
    }
    for chunk in [1, 7, 65535] {
        let t = walk_chunked(&raw, MimeLimits::default(), chunk);
        assert_eq!(t.anomalies, vec![MimeAnomaly::BadBase64 { part: 0 }]);
        assert!(t.binary_bytes > 0 && t.binary_bytes < 200_000);
    }
}

#[test]
fn junk_nul_and_8bit_in_headers() {
    let raw = b"Subject: \x00\xff\xfe =?utf-8?B?AAAA?= =?x?Q?\x00?=\r\nX-\xff: bad name\r\nTo: a\r\n\r\nbody\r\n";
    let block = parse_header_block(raw);
    assert_eq!(
        block.headers.len(),
        1,
        "a header name with 8-bit bytes ends the block"
    );
    let t = walk(raw);
    assert_eq!(t.headers, 1);
    assert!(t.text_bytes > 0);
    let v = decode_value(b" \x00\xff=?utf-8?Q?=FF=00?=");
    assert_eq!(v, "\u{0}\u{fffd}\u{fffd}\u{0}");
    // Part headers with junk, and encoded-word spam.
    let mut raw = b"Content-Type: multipart/mixed; boundary=j\r\n\r\n--j\r\nContent-Type: text/plain\x00\xff\r\n\x01\x02junk\r\nX: ".to_vec();
    raw.extend("=?".repeat(50_000).as_bytes());
    raw.extend_from_slice(b"\r\n\r\ntext\r\n--j--\r\n");
    let t = walk_chunked(&raw, MimeLimits::default(), 5);
    assert_eq!(t.starts, 1);
}

#[test]
fn megabyte_header_lines_are_bounded() {
    let big = "a".repeat(1 << 20);
    let raw = format!("Subject: {big}\r\nContent-Type: text/plain\r\n\r\n{MARKER}\r\n");
    let t = walk(raw.as_bytes());
    assert!(t.has("header_too_long"));
    assert!(t.longest_header_value <= MimeLimits::default().max_header_line);
    assert!(t.found_marker);
    // The same inside a part, arriving in MTA-sized chunks.
    let raw = format!(
        "Content-Type: multipart/mixed; boundary=h\r\n\r\n--h\r\nX-Big: {big}\r\n continued {big}\r\nContent-Type: text/plain\r\n\r\n{MARKER}\r\n--h--\r\n"
    );
    let t = walk(raw.as_bytes());
    assert_eq!(t.anomalies, vec![MimeAnomaly::HeaderTooLong { part: 1 }]);
    assert!(t.longest_header_value <= MimeLimits::default().max_header_line);
    assert!(t.found_marker);
    // Without an empty line the whole message is headers.
    let block = parse_header_block(format!("Subject: {big}").as_bytes());
    assert_eq!(block.headers.len(), 1);
}

#[test]
fn binary_garbage_anywhere() {
    let mut x: u64 = 0x1234_5678;
    let garbage: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Lots of line breaks and dashes so delimiter candidates are frequent.
            match x % 8 {
                0 => b'\n',
                1 => b'-',
                _ => (x >> 8) as u8,
            }
        })
        .collect();
    let mut raw = b"Content-Type: multipart/mixed; boundary=\"-\"\r\n\r\n".to_vec();
    raw.extend_from_slice(&garbage);
    for chunk in [1, 3, 4096, 65535] {
        walk_chunked(&raw, MimeLimits::default(), chunk);
    }
    // Garbage as the whole message, headers included.
    walk_chunked(&garbage, MimeLimits::default(), 65535);
}

#[test]
fn cli_scans_hundred_deep_nesting() {
    let r = common::scan_json(&[], &nested(100));
    assert_eq!(r["action"], "tag", "{r}");
    let rules: Vec<&str> = r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(rules.contains(&"sge.test.tag"), "{r}");
    assert!(rules.contains(&"content.mime_depth"), "{r}");
}

#[test]
fn cli_scans_megabyte_header() {
    let raw = format!(
        "From: a@example.com\nSubject: {}\nTo: b@example.com\n\nhello\n",
        "x".repeat(1 << 20)
    );
    let r = common::scan_json(&[], raw.as_bytes());
    assert!(r["action"].is_string(), "{r}");
    let rules: Vec<&str> = r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(rules.contains(&"content.header_too_long"), "{r}");
}
