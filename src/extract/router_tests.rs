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
