//! End-of-message authentication of a 20 KB message carrying one RSA-2048 and one
//! Ed25519 DKIM signature (DKIM + ARC + DMARC + the Authentication-Results header),
//! with cold caches (a fresh resolver per message: every record fetched from a
//! loopback knotd) and warm caches; and the SPF verdict with a warm cache.
//!
//! The `pipeline_20k` group runs the same message through the whole public pipeline
//! (`Engine::start_message`, headers, 64 KiB body chunks, `finish`) with every check
//! on: inbound with warm caches (whole message, and end of message alone), and
//! outbound with RSA-2048 signing. `inbound_warm_eom_one_sig` is the common case: the
//! same message with only the RSA-2048 signature.
//!
//! The `body_hash_1m` group streams a 1 MB text body through the DKIM body hashes
//! (`MessageAuth::body`, 64 KiB chunks) for one relaxed and one simple signature.
//!
//! Needs `knotd` (Debian package knot). Run:
//! `cargo bench --bench auth -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, criterion_group, criterion_main};
use sge_milter::auth::keygen::{KeyAlgorithm, generate};
use sge_milter::auth::sign::Signer;
use sge_milter::auth::{AuthEngine, RawParts, SpfVerdict};
use sge_milter::config::auth::DkimKeyConfig;
use sge_milter::config::{LoadedConfig, parse_toml};
use sge_milter::envelope::{Direction, Envelope};
use sge_milter::message::header::parse_header_block;
use sge_milter::pipeline::{Engine, MessageScan};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Knot(Child);

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn txt(s: &str) -> String {
    let parts: Vec<String> = s
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!("( {} )", parts.join(" "))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind")
}

fn start_knot(dir: &Path, rsa_txt: &str, ed_txt: &str) -> (Knot, u16) {
    let zone = format!(
        "$ORIGIN test.\n$TTL 3600\n@ SOA ns.test. h.test. 1 3600 600 86400 60\n@ NS ns.test.\n\
         ns A 127.0.0.1\nbench TXT \"v=spf1 ip4:192.0.2.10 -all\"\n\
         _dmarc.bench TXT \"v=DMARC1; p=reject\"\n\
         rsa._domainkey.bench TXT {}\ned._domainkey.bench TXT {}\n",
        txt(rsa_txt),
        txt(ed_txt)
    );
    std::fs::write(dir.join("test.zone"), zone).unwrap();
    std::fs::create_dir_all(dir.join("db")).unwrap();
    let port = free_port();
    let conf = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/dns/knot.conf.in"),
    )
    .unwrap()
    .replace("@DIR@", &dir.display().to_string())
    .replace("@PORT@", &port.to_string());
    std::fs::write(dir.join("knot.conf"), conf).unwrap();
    let child = Command::new("knotd")
        .arg("-c")
        .arg(dir.join("knot.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("knotd (Debian package knot) is needed for this benchmark");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "knotd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    (Knot(child), port)
}

fn engine(port: u16) -> Arc<AuthEngine> {
    let text = format!(
        "[dns]\nnameservers = [\"127.0.0.1:{port}\"]\n[auth]\nauthserv_id = \"gw.bench\"\n"
    );
    let loaded = LoadedConfig {
        config: parse_toml("bench.toml", &text).unwrap(),
        origin: "bench.toml".into(),
        text,
        rule_files: Vec::new(),
    };
    Arc::new(AuthEngine::compile(&loaded).unwrap().unwrap())
}

/// A ~20 KB message signed with both keys; `extra` headers go after Subject.
fn signed_message(dir: &Path, rsa_pem: &str, ed_pem: &str, extra: &str) -> Vec<u8> {
    signed_with(dir, rsa_pem, ed_pem, extra, &["rsa", "ed"])
}

/// [`signed_message`] signed with the keys of `selectors` only ("rsa", "ed").
fn signed_with(
    dir: &Path,
    rsa_pem: &str,
    ed_pem: &str,
    extra: &str,
    selectors: &[&str],
) -> Vec<u8> {
    std::fs::write(dir.join("rsa.pem"), rsa_pem).unwrap();
    std::fs::write(dir.join("ed.pem"), ed_pem).unwrap();
    let keys: Vec<DkimKeyConfig> = selectors
        .iter()
        .map(|s| DkimKeyConfig {
            domain: "bench.test".into(),
            selector: s.to_string(),
            key_file: format!("{s}.pem").into(),
        })
        .collect();
    let headers: Vec<String> = sge_milter::config::auth::DEFAULT_SIGN_HEADERS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let signer = Signer::load(&keys, &headers, dir).unwrap_or_else(|_| panic!("keys load"));
    let mut msg = format!(
        "From: A <a@bench.test>\r\nTo: b@agency.test\r\nSubject: benchmark\r\n{extra}\
         Date: Sun, 29 Nov 2026 10:00:00 +1300\r\nMessage-ID: <b@bench.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n",
    );
    while msg.len() < 20 * 1024 {
        msg.push_str("The quick brown fox jumps over the lazy dog, again and again.\r\n");
    }
    let sigs = signer.sign(msg.as_bytes(), "bench.test").unwrap();
    assert_eq!(sigs.len(), selectors.len());
    let mut out = String::new();
    for (v, _) in sigs {
        out.push_str(&format!("DKIM-Signature: {v}\r\n"));
    }
    out.push_str(&msg);
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rsa = generate(KeyAlgorithm::Rsa(2048)).unwrap();
    let ed = generate(KeyAlgorithm::Ed25519).unwrap();
    let (_knot, port) = start_knot(dir.path(), &rsa.txt, &ed.txt);
    let raw = signed_message(dir.path(), &rsa.private_pem, &ed.private_pem, "");
    let env = Envelope {
        client_ip: Some("192.0.2.10".parse().unwrap()),
        helo: Some("mx.bench.test".into()),
        mail_from: Some("a@bench.test".into()),
        direction: Some(Direction::Inbound),
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let warm = engine(port);
    let spf: SpfVerdict = rt.block_on(warm.check_spf(&env)).unwrap();
    assert_eq!(spf.result.as_str(), "pass");
    let check = |e: &Arc<AuthEngine>| {
        let mut m = e.begin(&env);
        let out = rt.block_on(m.verify(Some(RawParts::whole(&raw)), Some(&spf)));
        assert!(out.findings.is_empty(), "{:?}", out.findings);
        assert_eq!(m.report().dmarc.as_ref().unwrap().result, "pass");
    };
    check(&warm);

    let mut g = c.benchmark_group("auth_eom_20k_rsa2048_ed25519");
    g.bench_function("warm_cache", |b| b.iter(|| check(&warm)));
    g.bench_function("cold_cache", |b| b.iter(|| check(&engine(port))));
    g.finish();

    c.bench_function("spf_verdict_warm_cache", |b| {
        b.iter(|| rt.block_on(warm.check_spf(&env)))
    });
    eprintln!("cache stats after the runs: {:?}", warm.stats());
}

/// The full pipeline with authentication (and signing with `rsa.pem`) on.
fn pipeline_engine(port: u16, dir: &Path) -> Arc<Engine> {
    let mut loaded = sge_milter::config::load(None).expect("embedded config loads");
    let cfg = &mut loaded.config;
    cfg.dns.nameservers = vec![format!("127.0.0.1:{port}")];
    cfg.auth.authserv_id = "gw.bench".into();
    cfg.auth.dkim_keys = vec![DkimKeyConfig {
        domain: "bench.test".into(),
        selector: "rsa".into(),
        key_file: dir.join("rsa.pem"),
    }];
    Arc::new(Engine::compile(loaded).unwrap_or_else(|_| panic!("bench config compiles")))
}

/// Headers and body of `raw` fed as Postfix does (64 KiB body chunks).
fn feed(engine: &Arc<Engine>, env: &Envelope, spf: Option<SpfVerdict>, raw: &[u8]) -> MessageScan {
    let block = parse_header_block(raw);
    let mut scan = engine.start_message(env.clone(), spf);
    for (name, value) in &block.headers {
        scan.header(name, value);
    }
    assert!(scan.end_of_headers().is_none());
    for chunk in raw[block.body_offset..].chunks(64 * 1024) {
        scan.body(chunk);
    }
    scan
}

fn bench_pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rsa = generate(KeyAlgorithm::Rsa(2048)).unwrap();
    let ed = generate(KeyAlgorithm::Ed25519).unwrap();
    let (_knot, port) = start_knot(dir.path(), &rsa.txt, &ed.txt);
    // Marked: outbound mail without a marking is refused at end of headers.
    let marking = "X-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=UNCLASSIFIED\r\n";
    let raw = signed_message(dir.path(), &rsa.private_pem, &ed.private_pem, marking);
    let raw_one = signed_with(
        dir.path(),
        &rsa.private_pem,
        &ed.private_pem,
        marking,
        &["rsa"],
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = pipeline_engine(port, dir.path());
    let inbound = Envelope {
        client_ip: Some("192.0.2.10".parse().unwrap()),
        helo: Some("mx.bench.test".into()),
        mail_from: Some("a@bench.test".into()),
        rcpts: vec!["b@agency.test".into()],
        direction: Some(Direction::Inbound),
        ..Default::default()
    };
    let outbound = Envelope {
        direction: Some(Direction::Outbound),
        ..inbound.clone()
    };
    let mut env = inbound.clone();
    let spf = rt.block_on(engine.mail_from(&mut env));
    let run = |env: &Envelope| {
        let mut scan = feed(&engine, env, spf.clone(), &raw);
        let d = rt.block_on(scan.finish());
        (d, scan)
    };
    let (d, scan) = run(&inbound);
    let report = scan.auth_report().expect("auth on");
    assert_eq!(
        report.dmarc.as_ref().map(|d| d.result),
        Some("pass"),
        "{d:?}"
    );
    let (d, scan) = run(&outbound);
    assert_eq!(scan.auth_report().map(|r| r.signed.len()), Some(1), "{d:?}");
    let mut scan = feed(&engine, &inbound, spf.clone(), &raw_one);
    let d = rt.block_on(scan.finish());
    let report = scan.auth_report().expect("auth on");
    assert_eq!(report.dkim.len(), 1, "{d:?}");
    assert_eq!(
        report.dmarc.as_ref().map(|d| d.result),
        Some("pass"),
        "{d:?}"
    );

    let mut g = c.benchmark_group("pipeline_20k");
    g.bench_function("inbound_warm", |b| b.iter(|| run(&inbound)));
    g.bench_function("inbound_warm_eom", |b| {
        b.iter_batched(
            || feed(&engine, &inbound, spf.clone(), &raw),
            |mut scan| rt.block_on(scan.finish()),
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("inbound_warm_eom_one_sig", |b| {
        b.iter_batched(
            || feed(&engine, &inbound, spf.clone(), &raw_one),
            |mut scan| rt.block_on(scan.finish()),
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("outbound_sign", |b| b.iter(|| run(&outbound)));
    // End of message alone: what the MTA waits for after the last body chunk.
    let outbound_eom = |raw: &[u8], b: &mut criterion::Bencher<'_>| {
        b.iter_batched(
            || feed(&engine, &outbound, spf.clone(), raw),
            |mut scan| rt.block_on(scan.finish()),
            criterion::BatchSize::SmallInput,
        )
    };
    g.bench_function("outbound_sign_eom", |b| outbound_eom(&raw, b));
    g.finish();
    // The same headers with a 1 MB text body.
    let head_len = parse_header_block(&raw).body_offset;
    let big = [&raw[..head_len], &text_body()].concat();
    let mut scan = feed(&engine, &outbound, spf.clone(), &big);
    let d = rt.block_on(scan.finish());
    assert_eq!(scan.auth_report().map(|r| r.signed.len()), Some(1), "{d:?}");
    let mut g = c.benchmark_group("outbound_1m");
    g.sample_size(20);
    g.bench_function("sign_eom", |b| outbound_eom(&big, b));
    g.finish();
}

/// 1 MB of text (short lines, single spaces; every 7th line has trailing white
/// space, a tab and a double space so the relaxed rules have work to do).
fn text_body() -> Vec<u8> {
    let mut body = Vec::with_capacity(1 << 20);
    let mut n = 0u32;
    while body.len() < 1 << 20 {
        body.extend_from_slice(b"The quick brown fox jumps over the lazy dog, again and again.");
        if n.is_multiple_of(7) {
            body.extend_from_slice(b" \tthen  once more \t");
        }
        body.extend_from_slice(b"\r\n");
        n += 1;
    }
    body
}

/// The body hashes alone: `MessageAuth::body` over a 1 MB body in 64 KiB chunks,
/// for one DKIM signature with relaxed, then simple, body canonicalization.
fn bench_body_hash(c: &mut Criterion) {
    // No query is sent: neither end_of_headers nor verify runs.
    let auth = engine(9);
    let env = Envelope {
        direction: Some(Direction::Inbound),
        ..Default::default()
    };
    let body = text_body();
    let mut g = c.benchmark_group("body_hash_1m");
    g.throughput(criterion::Throughput::Bytes(body.len() as u64));
    for canon in ["relaxed", "simple"] {
        let head = format!(
            "DKIM-Signature: v=1; a=rsa-sha256; c={canon}/{canon}; d=bench.test; s=rsa;\r\n\
             \th=from; bh=AAAA; b=AAAA\r\nFrom: a@bench.test\r\n\r\n"
        );
        g.bench_function(canon, |b| {
            b.iter(|| {
                let mut m = auth.begin(&env);
                assert!(!m.body_needed(head.as_bytes()));
                body.chunks(64 * 1024).for_each(|c| m.body(c));
                m
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, bench_pipeline, bench_body_hash);
criterion_main!(benches);
