//! The MIME walker through its public interface: decoded content per part, and the
//! chunk contract (the same events whatever the body chunking).

use sge_milter::message::header::parse_header_block;
use sge_milter::message::{ContentSink, MimeAnomaly, MimeLimits, MimeWalker, PartInfo, Section};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Header(Option<u32>, String, String),
    Start(PartInfo),
    Text(u32, String),
    /// Text of a preamble, epilogue or remainder.
    Raw(Section, u32, String),
    Binary(u32, Vec<u8>),
    End(u32),
    Anomaly(MimeAnomaly),
}

/// Records events, joining consecutive content chunks of one part.
#[derive(Default)]
struct Recorder {
    events: Vec<Event>,
    anomalies: Vec<Event>,
}

impl ContentSink for Recorder {
    fn header(&mut self, part: Option<&PartInfo>, name: &str, value: &str) {
        self.events.push(Event::Header(
            part.map(|p| p.index),
            name.to_string(),
            value.to_string(),
        ));
    }
    fn part_start(&mut self, part: &PartInfo) {
        self.events.push(Event::Start(part.clone()));
    }
    fn text(&mut self, part: &PartInfo, text: &str) {
        assert!(!text.is_empty(), "empty text chunk");
        if part.section != Section::Body {
            if let Some(Event::Raw(s, i, t)) = self.events.last_mut()
                && (*s, *i) == (part.section, part.index)
            {
                t.push_str(text);
                return;
            }
            self.events
                .push(Event::Raw(part.section, part.index, text.to_string()));
            return;
        }
        if let Some(Event::Text(i, s)) = self.events.last_mut()
            && *i == part.index
        {
            s.push_str(text);
            return;
        }
        self.events.push(Event::Text(part.index, text.to_string()));
    }
    fn binary(&mut self, part: &PartInfo, data: &[u8]) {
        if let Some(Event::Binary(i, s)) = self.events.last_mut()
            && *i == part.index
        {
            s.extend_from_slice(data);
            return;
        }
        self.events.push(Event::Binary(part.index, data.to_vec()));
    }
    fn part_end(&mut self, part: &PartInfo) {
        self.events.push(Event::End(part.index));
    }
    fn anomaly(&mut self, anomaly: &MimeAnomaly) {
        // Kept apart: where an anomaly falls among content chunks depends on chunking.
        self.anomalies.push(Event::Anomaly(anomaly.clone()));
    }
}

/// Runs a raw message through a walker, the body split at `cuts` (sorted offsets).
fn walk_with(raw: &[u8], limits: MimeLimits, cuts: &[usize]) -> Vec<Event> {
    let block = parse_header_block(raw);
    let mut walker = MimeWalker::new(limits);
    let mut rec = Recorder::default();
    for (name, value) in &block.headers {
        walker.header(name, value, &mut rec);
    }
    walker.end_of_headers(&mut rec);
    let body = &raw[block.body_offset..];
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
        let cut = cut.clamp(start, body.len());
        walker.body(&body[start..cut], &mut rec);
        start = cut;
    }
    walker.finish(&mut rec);
    rec.events.extend(rec.anomalies);
    rec.events
}

fn walk(raw: &[u8]) -> Vec<Event> {
    walk_with(raw, MimeLimits::default(), &[])
}

fn texts(events: &[Event]) -> Vec<(u32, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Text(i, s) => Some((*i, s.clone())),
            _ => None,
        })
        .collect()
}

fn raws(events: &[Event]) -> Vec<(Section, u32, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Raw(s, i, t) => Some((*s, *i, t.clone())),
            _ => None,
        })
        .collect()
}

/// Starts of the leaf parts (not of preambles and epilogues).
fn starts(events: &[Event]) -> Vec<PartInfo> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Start(p) if p.section == Section::Body => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn anomalies(events: &[Event]) -> Vec<MimeAnomaly> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Anomaly(a) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

/// xorshift64*: deterministic pseudo-random numbers without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn base64_lines(data: &[u8]) -> String {
    use base64::Engine;
    let enc = base64::engine::general_purpose::STANDARD.encode(data);
    enc.as_bytes()
        .chunks(76)
        .map(|l| format!("{}\r\n", String::from_utf8_lossy(l)))
        .collect()
}

fn qp_encode(text: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for &b in text.as_bytes() {
        let piece = if b == b'\n' {
            line = 0;
            out.push_str("\r\n");
            continue;
        } else if b == b'=' || b >= 0x80 || b == b'\r' {
            format!("={b:02X}")
        } else {
            (b as char).to_string()
        };
        if line + piece.len() > 72 {
            out.push_str("=\r\n");
            line = 0;
        }
        line += piece.len();
        out.push_str(&piece);
    }
    out
}

const UTF8_TEXT: &str = "Kia ora – the café’s 日本語 menu 🎉, TOP SECRET isn't here.\n\
    -- \nsignature line\n--not-a-boundary\n";

/// A nested message exercising every decoder.
fn nested_message(eol: &str) -> Vec<u8> {
    let pdf: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    let latin1: Vec<u8> = b"Caf\xe9 cr\xe8me br\xfbl\xe9e\r\n".repeat(20);
    let b64_text = base64_lines(
        "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.\n"
            .repeat(30)
            .as_bytes(),
    );
    let mut m = String::new();
    m.push_str("From: a@example.govt.nz\r\nSubject: =?utf-8?Q?caf=C3=A9?= report\r\n");
    m.push_str(
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n boundary=\"outer\"\r\n\r\n",
    );
    m.push_str("This is the preamble.\r\n--outer\r\n");
    m.push_str("Content-Type: multipart/alternative; boundary=outer-inner\r\n\r\n");
    m.push_str("--outer-inner\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
    m.push_str(&qp_encode(&UTF8_TEXT.repeat(5)));
    m.push_str("\r\n--outer-inner\r\nContent-Type: text/html; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    m.push_str(&b64_text);
    m.push_str("--outer-inner--  \r\nepilogue of the alternative\r\n\r\n--outer\r\n");
    m.push_str("Content-Type: application/pdf; name=\"x.pdf\"\r\nContent-Disposition: attachment;\r\n filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    m.push_str(&base64_lines(&pdf));
    m.push_str("\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\n");
    m.push_str("Subject: =?iso-8859-1?B?Q2Fm6Q==?=\r\nContent-Type: text/plain\r\n\r\nInner message body\r\n");
    m.push_str("--outer\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
    let mut raw = m.into_bytes();
    raw.extend_from_slice(&latin1);
    raw.extend_from_slice(b"--outer--\r\nthe epilogue\r\n");
    if eol == "\n" {
        let mut lf = Vec::with_capacity(raw.len());
        for (i, &b) in raw.iter().enumerate() {
            if !(b == b'\r' && raw.get(i + 1) == Some(&b'\n')) {
                lf.push(b);
            }
        }
        raw = lf;
    }
    raw
}

#[test]
fn nested_message_decodes_every_part() {
    let events = walk(&nested_message("\r\n"));
    assert!(anomalies(&events).is_empty(), "{:?}", anomalies(&events));
    assert!(events.contains(&Event::Header(None, "Subject".into(), "café report".into())));
    let t = texts(&events);
    let expected_qp = UTF8_TEXT.repeat(5).replace('\n', "\r\n");
    assert_eq!(t[0], (2, expected_qp));
    assert_eq!(
        t[1].1,
        "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.\n".repeat(30)
    );
    assert_eq!(t[2], (6, "Inner message body".to_string()));
    let latin1 = "Café crème brûlée\r\n".repeat(20);
    assert_eq!(t[3], (7, latin1.trim_end().to_string()));
    let parts = starts(&events);
    let pdf = parts.iter().find(|p| p.content_type == "application/pdf");
    let pdf = pdf.expect("pdf part");
    assert_eq!(pdf.filename.as_deref(), Some("résumé.pdf"));
    assert!(pdf.is_attachment() && !pdf.is_text);
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    assert!(events.contains(&Event::Binary(pdf.index, data)));
    assert!(events.contains(&Event::Header(Some(6), "Subject".into(), "Café".into())));
    assert_eq!(
        parts.iter().map(|p| (p.index, p.depth)).collect::<Vec<_>>(),
        vec![(2, 2), (3, 2), (4, 1), (6, 2), (7, 1)]
    );
    // Preamble and epilogues are delivered too, as parts of their multipart.
    let raw: Vec<(Section, u32, String)> = raws(&events)
        .into_iter()
        .map(|(s, i, t)| (s, i, t.trim().to_string()))
        .collect();
    assert_eq!(
        raw,
        vec![
            (Section::Preamble, 0, "This is the preamble.".into()),
            (Section::Epilogue, 1, "epilogue of the alternative".into()),
            (Section::Epilogue, 0, "the epilogue".into()),
        ]
    );
}

#[test]
fn lf_only_message_decodes_the_same_content() {
    let events = walk(&nested_message("\n"));
    assert!(anomalies(&events).is_empty());
    let t = texts(&events);
    assert_eq!(t[2], (6, "Inner message body".to_string()));
    assert_eq!(t[3].1, "Café crème brûlée\n".repeat(20).trim_end());
}

fn property_messages() -> Vec<Vec<u8>> {
    let mut v = vec![nested_message("\r\n"), nested_message("\n")];
    // Boundaries that prefix each other, `--` lines, a boundary-like content line.
    v.push(
        b"Content-Type: multipart/mixed; boundary=ab\r\n\r\n--ab\r\nContent-Type: multipart/mixed; boundary=abc\r\n\r\n--abc\r\n\r\n--abx is text\r\n--\r\n-\r\n\r\n\r\n--abc--\r\n--ab\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\xe6\x97\xa5\xe6\x9c\xac\r\n--ab--"
            .to_vec(),
    );
    // Broken: bad base64, unknown charset, unterminated multipart.
    v.push(
        b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=x-nope\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVs*bG8g\r\nd29y!bGQ=\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsoft =\r\nbreak =E2=82=\r\n=AC end=\r\n"
            .to_vec(),
    );
    // Single part base64 UTF-8 text and windows-1252 QP.
    let mut s =
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            .to_vec();
    s.extend_from_slice(base64_lines("€ 日本 🎉 ".repeat(40).as_bytes()).as_bytes());
    v.push(s);
    v.push(b"Content-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=80 caf=E9 =\r\n=\n=3d\r\n".to_vec());
    v
}

#[test]
fn every_chunking_gives_the_same_events() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for raw in property_messages() {
        let whole = walk(&raw);
        let body_len = raw.len() - parse_header_block(&raw).body_offset;
        for size in 1..=64 {
            let cuts: Vec<usize> = (size..body_len).step_by(size).collect();
            assert_eq!(
                walk_with(&raw, MimeLimits::default(), &cuts),
                whole,
                "chunk size {size}"
            );
        }
        for round in 0..50 {
            let n = rng.below(40) + 1;
            let mut cuts: Vec<usize> = (0..n).map(|_| rng.below(body_len + 1)).collect();
            cuts.sort_unstable();
            assert_eq!(
                walk_with(&raw, MimeLimits::default(), &cuts),
                whole,
                "random round {round}: {cuts:?}"
            );
        }
    }
}

#[test]
fn broken_message_reports_anomalies_and_keeps_content() {
    let raw = &property_messages()[3];
    let events = walk(raw);
    let a = anomalies(&events);
    assert!(a.contains(&MimeAnomaly::BadBase64 { part: 1 }));
    assert!(a.contains(&MimeAnomaly::UnknownCharset {
        part: 1,
        charset: "x-nope".into()
    }));
    assert!(a.contains(&MimeAnomaly::UnterminatedMultipart { part: 0 }));
    let t = texts(&events);
    assert_eq!(t[0], (1, "Hello world".to_string()));
    assert_eq!(t[1], (2, "soft break € end".to_string()));
}

#[test]
fn prefix_boundaries_and_dash_lines() {
    let events = walk(&property_messages()[2]);
    assert!(anomalies(&events).is_empty(), "{:?}", anomalies(&events));
    let t = texts(&events);
    assert_eq!(t[0], (2, "--abx is text\r\n--\r\n-\r\n\r\n".to_string()));
    assert_eq!(t[1], (3, "日本".to_string()));
}

#[test]
fn single_part_and_missing_boundary() {
    let events = walk(b"Subject: x\r\n\r\nline one\r\nline two\r\n");
    assert_eq!(
        texts(&events),
        vec![(0, "line one\r\nline two\r\n".to_string())]
    );
    assert_eq!(starts(&events)[0].content_type, "text/plain");
    let events = walk(b"Content-Type: multipart/mixed\r\n\r\n--x\r\nbody\r\n");
    assert_eq!(
        anomalies(&events),
        vec![MimeAnomaly::MissingBoundary { part: 0 }]
    );
    // The multipart without a boundary is delivered raw, as a remainder.
    assert_eq!(
        raws(&events),
        vec![(Section::Remainder, 0, "--x\r\nbody\r\n".to_string())]
    );
}

#[test]
fn windows_1252_quoted_printable() {
    let events = walk(&property_messages()[5]);
    assert_eq!(texts(&events), vec![(0, "€ café =\r\n".to_string())]);
}
