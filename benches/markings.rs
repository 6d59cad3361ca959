//! Marking detection on a typical 20 KB message: the MIME walk alone, the walk with
//! the markings scanner as its sink, and the markings scanner fed already-decoded
//! content (the marking part on its own).

use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sge_milter::envelope::{Direction, Envelope};
use sge_milter::message::{ContentSink, MimeLimits, MimeWalker, PartInfo};
use sge_milter::pipeline::Engine;
use sge_milter::scan::{MessageFacts, Scanner};
use std::hint::black_box;

const HEADERS: &[(&str, &str)] = &[
    ("From", " Alice <alice@agency.govt.nz>"),
    ("To", " Bob <bob@partner.govt.nz>"),
    (
        "Subject",
        " Quarterly figures for review [SEC=IN-CONFIDENCE]",
    ),
    (
        "X-Protective-Marking",
        " VER=2018.1, NS=govt.nz, SEC=IN-CONFIDENCE,\n CAVEAT=SH:BUDGET, ORIGIN=alice@agency.govt.nz",
    ),
    ("MIME-Version", " 1.0"),
    ("Content-Type", " multipart/mixed; boundary=\"b1\""),
];

fn body_text() -> String {
    let mut t = String::from("IN-CONFIDENCE\r\n\r\nHi Bob,\r\n\r\n");
    while t.len() < 11_000 {
        t.push_str("Line of a typical message body about quarterly planning and budgets.\r\n");
    }
    t.push_str("\r\nRegards,\r\nAlice\r\n\r\nIN-CONFIDENCE\r\n");
    t
}

fn attachment_text() -> String {
    let mut t = String::from("BUDGET: IN-CONFIDENCE\r\n");
    while t.len() < 6_000 {
        t.push_str("item,amount,notes about the quarterly figures\r\n");
    }
    t
}

/// A ~20 KB multipart message body (CRLF), as the MTA sends it after the headers.
fn body() -> Vec<u8> {
    let att = base64::engine::general_purpose::STANDARD.encode(attachment_text());
    let mut att_lines = String::new();
    for chunk in att.as_bytes().chunks(76) {
        att_lines.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        att_lines.push_str("\r\n");
    }
    format!(
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n--b1\r\nContent-Type: text/csv; name=\"f.csv\"\r\nContent-Disposition: attachment; filename=\"f.csv\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{att_lines}--b1--\r\n",
        body_text()
    )
    .into_bytes()
}

struct NoSink;
impl ContentSink for NoSink {}

fn envelope() -> Envelope {
    Envelope {
        direction: Some(Direction::Outbound),
        rcpts: vec!["bob@partner.govt.nz".into(), "carol@example.com".into()],
        tls_version: Some("TLSv1.3".into()),
        ..Default::default()
    }
}

fn walk(sink: &mut dyn ContentSink, body: &[u8]) {
    let mut w = MimeWalker::new(MimeLimits::default());
    for (n, v) in HEADERS {
        w.header(n, v.as_bytes(), sink);
    }
    w.end_of_headers(sink);
    w.body(body, sink);
    w.finish(sink);
}

fn bench(c: &mut Criterion) {
    let engine = Engine::embedded().expect("embedded config compiles");
    let markings = engine.markings();
    let env = envelope();
    let body = body();
    let mut g = c.benchmark_group("markings_20k");
    g.throughput(Throughput::Bytes(body.len() as u64));

    g.bench_function("mime_walk_only", |b| {
        b.iter(|| walk(&mut NoSink, black_box(&body)))
    });
    g.bench_function("mime_walk_with_markings", |b| {
        b.iter(|| {
            let mut st = markings.begin(&env).expect("markings always run");
            walk(&mut *st, black_box(&body));
            let mut facts = MessageFacts::default();
            let mut out = Vec::new();
            st.end_of_headers(&env, &mut facts, &mut out);
            st.finish(&env, &mut facts, &mut out);
            black_box((facts, out))
        })
    });

    // The marking part alone: decoded headers and parts as the walker delivers them.
    let text = body_text();
    let att = attachment_text();
    let body_part = PartInfo {
        index: 1,
        depth: 1,
        content_type: "text/plain".into(),
        charset: Some("utf-8".into()),
        is_text: true,
        ..Default::default()
    };
    let att_part = PartInfo {
        index: 2,
        depth: 1,
        content_type: "text/csv".into(),
        filename: Some("f.csv".into()),
        disposition: Some("attachment".into()),
        is_text: true,
        ..Default::default()
    };
    let decoded: Vec<(&str, String)> = HEADERS
        .iter()
        .map(|(n, v)| (*n, v.trim().replace("\n ", " ")))
        .collect();
    g.bench_function("markings_only_decoded", |b| {
        b.iter(|| {
            let mut st = markings.begin(&env).expect("markings always run");
            for (n, v) in &decoded {
                st.header(None, n, v);
            }
            let mut facts = MessageFacts::default();
            let mut out = Vec::new();
            st.end_of_headers(&env, &mut facts, &mut out);
            for (part, content) in [(&body_part, &text), (&att_part, &att)] {
                st.part_start(part);
                st.text(part, black_box(content));
                st.part_end(part);
            }
            st.finish(&env, &mut facts, &mut out);
            black_box((facts, out))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
