//! Router tests: parts through the walker (bytes-only) and the router.

use super::*;
use crate::message::header::parse_header_block;
use crate::message::{MimeLimits, MimeWalker};

/// Records the text each part delivers, keyed by its member name.
#[derive(Default)]
struct Texts(Vec<(Option<String>, Section, String)>);

impl ContentSink for Texts {
    fn part_start(&mut self, p: &PartInfo) {
        self.0.push((p.member.clone(), p.section, String::new()));
    }
    fn text(&mut self, _p: &PartInfo, t: &str) {
        if let Some(last) = self.0.last_mut() {
            last.2.push_str(t);
        }
    }
}

fn route(raw: &[u8], limits: MimeLimits) -> (Texts, Vec<String>) {
    let block = parse_header_block(raw);
    let mut walker = MimeWalker::new(limits).bytes_only();
    let mut router = Router::new(Arc::new(ContentConfig::default()));
    let mut texts = Texts::default();
    let mut r = Routed {
        router: &mut router,
        out: &mut texts,
    };
    for (n, v) in &block.headers {
        walker.header(n, v, &mut r);
    }
    walker.end_of_headers(&mut r);
    // Small chunks: typing must not depend on how the body arrives.
    for c in raw[block.body_offset..].chunks(7) {
        walker.body(c, &mut r);
    }
    walker.finish(&mut r);
    router.finish(&mut texts);
    (texts, router.problems())
}

#[test]
fn base64_past_the_part_limit_is_decoded() {
    let mut m = String::from("Content-Type: multipart/mixed; boundary=b\r\n\r\n");
    for _ in 0..3 {
        m.push_str("--b\r\nContent-Type: text/plain\r\n\r\nfiller\r\n");
    }
    m.push_str(
        "--b\r\nContent-Transfer-Encoding: base64\r\n\r\nSVJEIG51bWJlciA0OTA5MTg1MA==\r\n--b--\r\n",
    );
    let limits = MimeLimits {
        max_parts: 2,
        ..MimeLimits::default()
    };
    let (texts, problems) = route(m.as_bytes(), limits);
    assert!(problems.is_empty(), "{problems:?}");
    let decoded = texts
        .0
        .iter()
        .find(|(m, _, _)| m.as_deref() == Some("base64 run 1"))
        .expect("decoded run");
    assert_eq!(decoded.1, Section::Remainder);
    assert_eq!(decoded.2, "IRD number 49091850");
}

#[test]
fn a_zip_labelled_text_is_opened() {
    use base64::Engine as _;
    let mut w = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("a.csv", ::zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut w, b"IRD,49091850\n").unwrap();
    let z = w.finish().unwrap().into_inner();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&z);
    let m = format!(
        "Content-Type: text/plain; name=notes.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n"
    );
    let (texts, problems) = route(m.as_bytes(), MimeLimits::default());
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        texts.0,
        vec![(
            Some("notes.txt/a.csv".into()),
            Section::Body,
            "IRD,49091850\n".into()
        )]
    );
}

/// Containers wait for `Router::finish` (the milter runs it off its async workers):
/// during the body only the text parts are delivered, and `held_bytes` counts the
/// container, also while its part is still open.
#[test]
fn containers_are_opened_at_finish_and_counted_until_then() {
    use base64::Engine as _;
    // Past the sniffing window (4 KiB) even compressed: hex of a xorshift stream.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut csv = String::from("IRD,49091850\n");
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        csv.push_str(&format!("{x:016x}\n"));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, csv.as_bytes()).unwrap();
    let gz = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    let m = format!(
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
         Content-Type: application/gzip; name=a.csv.gz\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {gz}\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"
    );
    let block = parse_header_block(m.as_bytes());
    let mut walker = MimeWalker::new(MimeLimits::default()).bytes_only();
    let mut router = Router::new(Arc::new(ContentConfig::default()));
    let mut texts = Texts::default();
    let mut r = Routed {
        router: &mut router,
        out: &mut texts,
    };
    for (n, v) in &block.headers {
        walker.header(n, v, &mut r);
    }
    walker.end_of_headers(&mut r);
    let body = &m.as_bytes()[block.body_offset..];
    let in_gzip = body.windows(4).position(|w| w == b"H4sI").unwrap() + 8000;
    walker.body(&body[..in_gzip], &mut r);
    assert!(r.router.held_bytes() > 4096, "the open container counts");
    walker.body(&body[in_gzip..], &mut r);
    walker.finish(&mut r);
    let held = router.held_bytes();
    assert!(held > 8000, "{held}");
    let before: Vec<String> = texts.0.iter().map(|t| t.2.clone()).collect();
    assert!(before.iter().all(|t| !t.contains("IRD")), "{before:?}");
    router.finish(&mut texts);
    assert_eq!(router.held_bytes(), 0);
    let last = texts.0.last().unwrap();
    assert_eq!(
        (last.0.as_deref(), last.2.as_str()),
        (Some("a.csv.gz/a.csv"), csv.as_str())
    );
}
