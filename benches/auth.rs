//! End-of-message authentication of a 20 KB message carrying one RSA-2048 and one
//! Ed25519 DKIM signature (DKIM + ARC + DMARC + the Authentication-Results header),
//! with cold caches (a fresh resolver per message: every record fetched from a
//! loopback knotd) and warm caches; and the SPF verdict with a warm cache.
//!
//! Needs `knotd` (Debian package knot). Run:
//! `cargo bench --bench auth -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, criterion_group, criterion_main};
use sge_milter::auth::keygen::{KeyAlgorithm, generate};
use sge_milter::auth::sign::Signer;
use sge_milter::auth::{AuthEngine, SpfVerdict};
use sge_milter::config::auth::DkimKeyConfig;
use sge_milter::config::{LoadedConfig, parse_toml};
use sge_milter::envelope::{Direction, Envelope};
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

/// A ~20 KB message signed with both keys.
fn signed_message(dir: &Path, rsa_pem: &str, ed_pem: &str) -> Vec<u8> {
    std::fs::write(dir.join("rsa.pem"), rsa_pem).unwrap();
    std::fs::write(dir.join("ed.pem"), ed_pem).unwrap();
    let keys = [("rsa", "rsa.pem"), ("ed", "ed.pem")].map(|(s, f)| DkimKeyConfig {
        domain: "bench.test".into(),
        selector: s.into(),
        key_file: f.into(),
    });
    let headers: Vec<String> = sge_milter::config::auth::DEFAULT_SIGN_HEADERS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let signer = Signer::load(&keys, &headers, dir).unwrap_or_else(|_| panic!("keys load"));
    let mut msg = String::from(
        "From: A <a@bench.test>\r\nTo: b@agency.test\r\nSubject: benchmark\r\n\
         Date: Sun, 29 Nov 2026 10:00:00 +1300\r\nMessage-ID: <b@bench.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n",
    );
    while msg.len() < 20 * 1024 {
        msg.push_str("The quick brown fox jumps over the lazy dog, again and again.\r\n");
    }
    let sigs = signer.sign(msg.as_bytes(), "bench.test").unwrap();
    assert_eq!(sigs.len(), 2);
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
    let raw = signed_message(dir.path(), &rsa.private_pem, &ed.private_pem);
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
        let out = rt.block_on(m.verify(Some(&raw), Some(&spf)));
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

criterion_group!(benches, bench);
criterion_main!(benches);
