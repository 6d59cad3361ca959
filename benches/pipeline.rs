//! Body throughput through the public pipeline (MIME walk, decoding, keyword scan with
//! the default rules), fed as Postfix feeds a milter: headers, then 64 KiB body chunks.

/// The load harness's corpus generator, shared so the benches read the same text.
#[allow(dead_code)]
#[path = "../src/bin/sge-milter-load/corpus.rs"]
mod corpus;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sge_milter::envelope::{Direction, Envelope};
use sge_milter::message::header::parse_header_block;
use sge_milter::pipeline::Engine;
use std::hint::black_box;
use std::sync::Arc;

const CHUNK: usize = 64 * 1024;
const SIZE: usize = 2 * 1024 * 1024;

fn prose_lines(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 100);
    let mut i = 0;
    while s.len() < bytes {
        s.push_str(&format!(
            "Line {i}: the quarterly planning report covers budgets, staffing and risks.\r\n"
        ));
        i += 1;
    }
    s
}

fn base64_lines(data: &[u8]) -> String {
    let mut out = String::new();
    corpus::base64_lines(data, &mut out);
    out
}

fn plain_text() -> Vec<u8> {
    let mut m = b"From: a@example.govt.nz\r\nTo: b@example.govt.nz\r\nSubject: plain\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n".to_vec();
    m.extend_from_slice(prose_lines(SIZE).as_bytes());
    m
}

fn base64_attachment() -> Vec<u8> {
    let mut x: u32 = 7;
    let data: Vec<u8> = (0..SIZE * 3 / 4)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    let mut m = b"From: a@example.govt.nz\r\nTo: b@example.govt.nz\r\nSubject: attachment\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_outer\"\r\n\r\n--=_outer\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--=_outer\r\nContent-Type: application/octet-stream; name=data.bin\r\nContent-Disposition: attachment; filename=data.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    m.extend_from_slice(base64_lines(&data).as_bytes());
    m.extend_from_slice(b"--=_outer--\r\n");
    m
}

fn typical() -> Vec<u8> {
    let text = prose_lines(6 * 1024);
    let html = format!(
        "<html><body><p>{}</p></body></html>",
        text.replace("\r\n", "<br>\r\n")
    );
    let attachment: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 256) as u8).collect();
    let mut m = String::from(
        "From: a@example.govt.nz\r\nTo: b@example.govt.nz\r\nSubject: =?utf-8?Q?Quarterly_planning?= [SEC=UNCLASSIFIED]\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"mixed\"\r\n\r\n--mixed\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
    );
    m.push_str(&text);
    m.push_str("\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
    m.push_str(&html);
    m.push_str("\r\n--alt--\r\n\r\n--mixed\r\nContent-Type: application/pdf; name=\"plan.pdf\"\r\nContent-Disposition: attachment; filename=\"plan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    m.push_str(&base64_lines(&attachment));
    m.push_str("--mixed--\r\n");
    m.into_bytes()
}

/// Words of the load harness's corpus (`sge-milter-load`): text without digits.
fn words(bytes: usize, seed: u32) -> String {
    corpus::words(u64::from(seed), bytes)
}

/// Like the harness's multipart messages: a marked text part and a base64
/// attachment, CSV text (`csv`) or random bytes, `size` bytes in all.
fn marked_with_attachment(size: usize, csv: bool) -> Vec<u8> {
    let raw_len = size * 3 / 4 - 1500;
    let (ct, data) = if csv {
        (
            "text/csv; name=\"data.csv\"",
            words(raw_len, 11).into_bytes(),
        )
    } else {
        let mut x: u32 = 7;
        let data = (0..raw_len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        ("application/octet-stream; name=\"blob.bin\"", data)
    };
    let mut m = format!(
        "From: a@example.govt.nz\r\nTo: b@example.govt.nz\r\nSubject: Load test [SEC=UNCLASSIFIED]\r\n\
         X-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=UNCLASSIFIED, ORIGIN=a@example.govt.nz\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n\tboundary=\"b0123456789abcdef\"\r\n\r\n\
         This is a multi-part message in MIME format.\r\n--b0123456789abcdef\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{}--b0123456789abcdef\r\n\
         Content-Type: {ct}\r\nContent-Disposition: attachment\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n",
        words(1500, 5)
    );
    m.push_str(&base64_lines(&data));
    m.push_str("--b0123456789abcdef--\r\n");
    m.into_bytes()
}

/// Like the harness's small messages: marked plain text.
fn marked_plain(size: usize) -> Vec<u8> {
    let mut m = b"From: a@example.govt.nz\r\nTo: b@example.govt.nz\r\nSubject: Load test [SEC=UNCLASSIFIED]\r\nX-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=UNCLASSIFIED, ORIGIN=a@example.govt.nz\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n".to_vec();
    m.extend_from_slice(words(size, 3).as_bytes());
    m
}

fn run(rt: &tokio::runtime::Runtime, engine: &Arc<Engine>, raw: &[u8]) {
    run_as(rt, engine, raw, Direction::Inbound);
}

fn run_as(rt: &tokio::runtime::Runtime, engine: &Arc<Engine>, raw: &[u8], direction: Direction) {
    let block = parse_header_block(raw);
    let env = Envelope {
        mail_from: Some("a@example.govt.nz".into()),
        rcpts: vec!["b@example.govt.nz".into()],
        direction: Some(direction),
        ..Envelope::default()
    };
    let mut scan = engine.start_message(env, None);
    for (name, value) in &block.headers {
        scan.header(name, value);
    }
    if scan.end_of_headers().is_some() {
        return;
    }
    for chunk in raw[block.body_offset..].chunks(CHUNK) {
        scan.body(chunk);
    }
    black_box(rt.block_on(scan.finish()));
}

fn bench_pipeline(c: &mut Criterion) {
    // The content path only: authentication needs DNS and has its own bench.
    let mut loaded = sge_milter::config::load(None).expect("embedded config loads");
    loaded.config.auth.enabled = false;
    let engine = Arc::new(Engine::compile(loaded).expect("embedded config compiles"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("pipeline");
    for (name, raw) in [
        ("plain_text_2mb", plain_text()),
        ("base64_attachment_2mb", base64_attachment()),
        ("typical_20kb", typical()),
    ] {
        group.throughput(Throughput::Bytes(raw.len() as u64));
        group.bench_function(name, |b| b.iter(|| run(&rt, &engine, &raw)));
    }
    // The load harness's kinds of message (sge-milter-load's corpus), both ways:
    // outbound mail also goes through DLP.
    for (name, raw) in [
        ("harness_plain_10kb", marked_plain(10_000)),
        ("harness_csv_100kb", marked_with_attachment(100_000, true)),
        (
            "harness_binary_100kb",
            marked_with_attachment(100_000, false),
        ),
    ] {
        group.throughput(Throughput::Bytes(raw.len() as u64));
        for direction in [Direction::Inbound, Direction::Outbound] {
            let id = format!("{name}_{direction:?}").to_lowercase();
            group.bench_function(id, |b| b.iter(|| run_as(&rt, &engine, &raw, direction)));
        }
    }
    group.finish();
}

criterion_group!(benches, bench_pipeline);
criterion_main!(benches);
