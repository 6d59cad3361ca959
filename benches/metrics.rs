//! Cost of metrics recording: a 20 KB message through the pipeline with and without
//! `report::record_decision`, and the recording call alone.
//!
//! `cargo bench --bench metrics -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use sge_milter::envelope::{Direction, Envelope};
use sge_milter::pipeline::Engine;
use sge_milter::policy::Decision;
use std::sync::Arc;
use std::time::Duration;

/// Headers and a ~20 KB plain-text body of ordinary prose, CRLF line ends, as the
/// MTA hands it over.
fn message() -> (Vec<(&'static str, Vec<u8>)>, Vec<u8>) {
    let headers = vec![
        ("From", b" Alice <alice@example.govt.nz>".to_vec()),
        ("To", b" Bob <bob@example.org>".to_vec()),
        ("Subject", b" Quarterly report [IN-CONFIDENCE]".to_vec()),
        ("Date", b" Sun, 29 Nov 2026 10:00:00 +1300".to_vec()),
        ("Message-ID", b" <bench@example.govt.nz>".to_vec()),
        ("MIME-Version", b" 1.0".to_vec()),
        ("Content-Type", b" text/plain; charset=utf-8".to_vec()),
    ];
    let line = b"The committee reviewed the quarterly figures and agreed the next steps.\r\n";
    let mut body = Vec::with_capacity(21 * 1024);
    while body.len() < 20 * 1024 {
        body.extend_from_slice(line);
    }
    (headers, body)
}

fn envelope() -> Envelope {
    Envelope {
        mail_from: Some("alice@example.govt.nz".into()),
        rcpts: vec!["bob@example.org".into()],
        direction: Some(Direction::Outbound),
        queue_id: Some("4ABCDEF".into()),
        ..Default::default()
    }
}

/// One message through the pipeline as the milter drives it; `record` adds the
/// metrics the milter records at the final decision (not the log line).
fn run(
    rt: &tokio::runtime::Runtime,
    engine: &Arc<Engine>,
    headers: &[(&str, Vec<u8>)],
    body: &[u8],
    record: bool,
) -> Decision {
    let mut scan = engine.start_message(envelope(), None);
    for (name, value) in headers {
        scan.header(name, value);
    }
    if let Some(d) = scan.end_of_headers() {
        return d;
    }
    for chunk in body.chunks(65535) {
        scan.body(chunk);
    }
    let decision = rt.block_on(scan.finish());
    if record {
        sge_milter::report::record_decision(
            sge_milter::metrics::global(),
            scan.envelope(),
            &decision,
            scan.facts(),
            scan.raw().size(),
            scan.elapsed(),
        );
    }
    decision
}

fn bench_metrics(c: &mut Criterion) {
    // Outbound and without signing keys, so no DNS: the pipeline's own work only.
    let engine = Arc::new(Engine::embedded().expect("embedded config compiles"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (headers, body) = message();
    let mut g = c.benchmark_group("pipeline_20k");
    g.bench_function("without_metrics", |b| {
        b.iter(|| black_box(run(&rt, &engine, &headers, &body, false)))
    });
    g.bench_function("with_metrics", |b| {
        b.iter(|| black_box(run(&rt, &engine, &headers, &body, true)))
    });
    g.finish();

    let mut scan = engine.start_message(envelope(), None);
    for (name, value) in &headers {
        scan.header(name, value);
    }
    let _ = scan.end_of_headers();
    scan.body(&body);
    let decision = rt.block_on(scan.finish());
    c.bench_function("record_decision_only", |b| {
        b.iter(|| {
            sge_milter::report::record_decision(
                sge_milter::metrics::global(),
                black_box(scan.envelope()),
                black_box(&decision),
                scan.facts(),
                20 * 1024,
                Duration::from_micros(500),
            )
        })
    });
}

criterion_group!(benches, bench_metrics);
criterion_main!(benches);
