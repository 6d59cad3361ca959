//! The content router's own cost: typing a part by its first bytes (sniffing)
//! against transfer-decoding it, for a 4 MB base64 binary attachment of no known
//! kind (the common case the router must not slow down), and a docx opened.

use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sge_milter::config::content::ContentConfig;
use sge_milter::extract::sniff::{SNIFF_BYTES, sniff};
use sge_milter::extract::{Routed, Router};
use sge_milter::message::header::parse_header_block;
use sge_milter::message::{ContentSink, MimeLimits, MimeWalker};
use std::hint::black_box;
use std::sync::Arc;

const SIZE: usize = 4 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

struct NoSink;
impl ContentSink for NoSink {}

fn noise(n: usize) -> Vec<u8> {
    let mut x: u32 = 7;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect()
}

fn message(ct: &str, data: &[u8]) -> Vec<u8> {
    let enc = base64::engine::general_purpose::STANDARD.encode(data);
    let mut m = format!("From: a@example.govt.nz\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: {ct}\r\nContent-Transfer-Encoding: base64\r\n\r\n").into_bytes();
    for line in enc.as_bytes().chunks(76) {
        m.extend_from_slice(line);
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--b--\r\n");
    m
}

/// Walks `raw` in bytes-only mode, with or without the router in front of `NoSink`.
fn walk(raw: &[u8], route: bool) -> usize {
    let block = parse_header_block(raw);
    let mut walker = MimeWalker::new(MimeLimits::default()).bytes_only();
    let mut router = Router::new(Arc::new(ContentConfig::default()));
    let mut sink = NoSink;
    let mut routed = Routed {
        router: &mut router,
        out: &mut sink,
    };
    let out: &mut dyn ContentSink = if route { &mut routed } else { &mut NoSink };
    for (n, v) in &block.headers {
        walker.header(n, v, out);
    }
    walker.end_of_headers(out);
    for c in raw[block.body_offset..].chunks(CHUNK) {
        walker.body(c, out);
    }
    walker.finish(out);
    if route {
        // Containers are opened at the end of the message.
        router.finish(&mut sink);
    }
    router.problems().len()
}

fn docx(bytes: usize) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    w.start_file("word/document.xml", opts).unwrap();
    let mut n = 0;
    while n < bytes {
        let p = format!(
            "<w:p><w:r><w:t>Paragraph {n} of the quarterly report on budgets.</w:t></w:r></w:p>"
        );
        n += p.len();
        w.write_all(p.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("content");
    g.sample_size(10);
    let data = noise(SIZE);
    g.throughput(Throughput::Bytes(SNIFF_BYTES as u64));
    g.bench_function("sniff_4KiB_head", |b| {
        b.iter(|| sniff(black_box(&data[..SNIFF_BYTES])))
    });
    let raw = message("application/octet-stream", &data);
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("binary_4MB_decode_only", |b| b.iter(|| walk(&raw, false)));
    g.bench_function("binary_4MB_decode_and_route", |b| {
        b.iter(|| walk(&raw, true))
    });
    let raw = message("application/octet-stream", &docx(SIZE));
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("docx_route_and_extract", |b| b.iter(|| walk(&raw, true)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
