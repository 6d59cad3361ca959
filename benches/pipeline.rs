//! Body throughput through the public pipeline (MIME walk, decoding, keyword scan with
//! the default rules), fed as Postfix feeds a milter: headers, then 64 KiB body chunks.

use base64::Engine as _;
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
    let enc = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = String::with_capacity(enc.len() + enc.len() / 38);
    for line in enc.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
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

fn run(rt: &tokio::runtime::Runtime, engine: &Arc<Engine>, raw: &[u8]) {
    let block = parse_header_block(raw);
    let env = Envelope {
        mail_from: Some("a@example.govt.nz".into()),
        rcpts: vec!["b@example.govt.nz".into()],
        direction: Some(Direction::Inbound),
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
    group.finish();
}

criterion_group!(benches, bench_pipeline);
criterion_main!(benches);
