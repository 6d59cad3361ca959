//! `sge-milter posture` against a loopback DNS server with one zone per case (good,
//! weak, broken) and loopback HTTPS servers for the MTA-STS policies.

mod common;
mod connectors_support;
#[path = "spf_support/mod.rs"]
mod spf_support;

use connectors_support::{HttpsServer, TestCa, write_policy};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

struct World {
    dir: tempfile::TempDir,
    _dns: spf_support::DnsServer,
    _https: Vec<HttpsServer>,
    dns_port: u16,
}

/// `p=` of a fresh RSA-2048 public key (DER, base64).
fn rsa_p(dir: &Path) -> String {
    let key = dir.join("dkim.pem");
    let st = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .output()
        .expect("openssl");
    assert!(st.status.success());
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "der", "-in"])
        .arg(&key)
        .output()
        .expect("openssl");
    assert!(out.status.success());
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(out.stdout)
}

fn https(dir: &Path, ca: &TestCa, domain: &str, policy: &str) -> HttpsServer {
    let root = dir.join(domain);
    write_policy(&root, policy);
    let pair = ca.issue(domain, &[&format!("mta-sts.{domain}")]);
    HttpsServer::start(&root, &pair)
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let good = https(
        dir.path(),
        &ca,
        "good.example",
        "version: STSv1\nmode: enforce\nmx: *.good.example\nmax_age: 604800\n",
    );
    let weak = https(
        dir.path(),
        &ca,
        "weak.example",
        "version: STSv1\nmode: testing\nmx: mx.weak.example\nmax_age: 3600\n",
    );
    let zone = json!({
        "good.example": [["TXT", ["v=spf1 ip4:192.0.2.0/24 mx include:spf.good.example -all"]],
                         ["MX", [10, "mx.good.example"]]],
        "spf.good.example": [["TXT", ["v=spf1 a:out.good.example -all"]]],
        "mx.good.example": [["A", "127.0.0.1"]],
        "_dmarc.good.example": [["TXT", ["v=DMARC1; p=reject; rua=mailto:dmarc@good.example"]]],
        "sel._domainkey.good.example": [["TXT", [format!("v=DKIM1; k=rsa; p={}", rsa_p(dir.path()))]]],
        "_mta-sts.good.example": [["TXT", ["v=STSv1; id=20261202"]]],
        "mta-sts.good.example": [["A", good.ip]],
        "_smtp._tls.good.example": [["TXT", ["v=TLSRPTv1; rua=mailto:tls@good.example"]]],

        "weak.example": [["TXT", ["v=spf1 a ~all"]], ["MX", [10, "mx.weak.example"]]],
        "mx.weak.example": [["A", "127.0.0.1"]],
        "_dmarc.weak.example": [["TXT", ["v=DMARC1; p=quarantine; pct=50; rua=mailto:d@weak.example"]]],
        "_mta-sts.weak.example": [["TXT", ["v=STSv1; id=2"]]],
        "mta-sts.weak.example": [["A", weak.ip]],
        "_smtp._tls.weak.example": [["TXT", ["v=TLSRPTv1; rua=mailto:t@weak.example"]]],

        "broken.example": [["TXT", ["v=spf1 +all"]], ["MX", [0, "."]]],
        "_dmarc.broken.example": [["TXT", ["v=DMARC1; p=none"]]],
        "old._domainkey.broken.example": [["TXT", ["v=DKIM1; k=rsa; p="]]],
    });
    let dns = spf_support::DnsServer::start(&zone);
    let dns_port = dns.port;
    World {
        dir,
        _dns: dns,
        _https: vec![good, weak],
        dns_port,
    }
}

impl World {
    fn config(&self, posture: &str) -> PathBuf {
        let path = self.dir.path().join("sge-milter.toml");
        std::fs::write(
            &path,
            format!(
                "[dns]\nnameservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\nattempts = 2\n\
                 [tls_policy]\nca_file = \"ca.pem\"\n{posture}\n",
                self.dns_port
            ),
        )
        .unwrap();
        path
    }

    fn posture(&self, config: &Path, args: &[&str]) -> (i32, String) {
        let out = Command::new(common::sge_milter_bin())
            .arg("posture")
            .arg("--config")
            .arg(config)
            .args(args)
            .output()
            .expect("run sge-milter posture");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{out:?}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap(), stdout)
    }
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn expect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn good_weak_and_broken_domains_get_pass_warn_and_fail() {
    let w = world();
    let config = w.config(
        "[posture.selectors]\n\"good.example\" = [\"sel\"]\n\"broken.example\" = [\"old\"]\n",
    );
    let (code, out) = w.posture(
        &config,
        &["--json", "good.example", "weak.example", "broken.example"],
    );
    let reports: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 3, "{out}");
    assert_eq!(reports[0]["domain"], "good.example");
    assert_eq!(
        statuses(&reports[0]),
        expect(&[
            ("spf", "pass"),
            ("dmarc", "pass"),
            ("dkim", "pass"),
            ("mta_sts", "pass"),
            ("tls_rpt", "pass"),
            ("mx", "pass"),
        ]),
        "{out}"
    );
    assert_eq!(
        statuses(&reports[1]),
        expect(&[
            ("spf", "warn"),
            ("dmarc", "warn"),
            ("dkim", "warn"),
            ("mta_sts", "warn"),
            ("tls_rpt", "pass"),
            ("mx", "pass"),
        ]),
        "{out}"
    );
    assert_eq!(
        statuses(&reports[2]),
        expect(&[
            ("spf", "fail"),
            ("dmarc", "fail"),
            ("dkim", "fail"),
            ("mta_sts", "fail"),
            ("tls_rpt", "fail"),
            ("mx", "fail"),
        ]),
        "{out}"
    );
    let detail = |r: &Value, check: &str| {
        r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == check)
            .unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        detail(&reports[0], "dkim").contains("RSA 2048 bits"),
        "{out}"
    );
    assert!(detail(&reports[0], "spf").contains("3 DNS lookup"), "{out}");
    assert!(detail(&reports[1], "dmarc").contains("pct=50"), "{out}");
    assert!(
        detail(&reports[1], "mta_sts").contains("max_age 3600"),
        "{out}"
    );
    assert!(detail(&reports[2], "dkim").contains("revoked"), "{out}");
    assert!(detail(&reports[2], "mx").contains("null MX"), "{out}");
    assert_eq!(code, 1, "a failing check exits 1");
}

#[test]
fn table_output_and_exit_zero_without_failures() {
    let w = world();
    let config = w.config("");
    let (code, out) = w.posture(
        &config,
        &["--selector", "sel", "good.example", "weak.example"],
    );
    // weak.example has no key at "sel": dkim fails there.
    assert_eq!(code, 1, "{out}");
    let (code, out) = w.posture(&config, &["--selector", "sel", "good.example"]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("DOMAIN"), "{out}");
    assert_eq!(lines.len(), 7, "{out}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.starts_with("good.example") && l.contains(" pass ")),
        "{out}"
    );
    let (code, out) = w.posture(&config, &["weak.example"]);
    assert_eq!(code, 0, "warnings alone exit 0:\n{out}");
}
