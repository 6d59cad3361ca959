//! Shared by the authentication tests: a real authoritative DNS server (knotd) on
//! loopback serving `integration/dns/test.zone.in` with DKIM/ARC keys generated at
//! run time, and helpers to sign and scan messages through the `sge-milter` binary.
//! Included with `mod auth_fixture;` (next to `mod common;`, whose `free_port` it
//! uses) by `tests/auth_*.rs`; a directory module, so not a test target of its own.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const GOOD_IP: &str = "192.0.2.10";
pub const LIST_IP: &str = "192.0.2.20";
pub const AUTHSERV_ID: &str = "gw.agency.test";

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A running knotd; killed on drop.
pub struct Knot {
    child: Option<Child>,
    pub port: u16,
}

impl Knot {
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Keys, zone, DNS server and sge-milter configs for one test.
pub struct AuthFixture {
    pub dir: tempfile::TempDir,
    pub knot: Knot,
    /// PEM files: dkim.test rsa/ed, lists.test arc, agency.test rsa/ed.
    pub dkim_rsa: PathBuf,
    pub dkim_ed: PathBuf,
    pub arc_ed: PathBuf,
    pub agency_rsa: PathBuf,
    pub agency_ed: PathBuf,
}

fn openssl_rsa(path: &Path) -> String {
    let st = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(path)
        .stderr(Stdio::null())
        .status()
        .expect("run openssl genpkey (Debian package openssl)");
    assert!(st.success(), "openssl genpkey failed");
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "der", "-in"])
        .arg(path)
        .output()
        .expect("openssl pkey");
    assert!(out.status.success());
    use base64::Engine as _;
    format!(
        "v=DKIM1; k=rsa; p={}",
        base64::engine::general_purpose::STANDARD.encode(&out.stdout)
    )
}

/// `sge-milter dkim-keygen --type ed25519`, returning the TXT text.
fn keygen_ed25519(path: &Path) -> String {
    let out = Command::new(crate::common::sge_milter_bin())
        .args([
            "dkim-keygen",
            "--type",
            "ed25519",
            "--domain",
            "x.test",
            "--selector",
            "s",
            "--out",
        ])
        .arg(path)
        .output()
        .expect("run sge-milter dkim-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("IN TXT"))
        .expect("zone line printed");
    // ( "v=DKIM1; ..." ) -> the text inside the quotes.
    line.split('"').nth(1).expect("quoted TXT").to_string()
}

/// Zone-file TXT data: strings of at most 255 characters.
fn quoted(txt: &str) -> String {
    let parts: Vec<String> = txt
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!("( {} )", parts.join(" "))
}

fn start_knot(dir: &Path) -> Knot {
    for _ in 0..5 {
        let port = crate::common::free_port();
        let conf = std::fs::read_to_string(repo_file("integration/dns/knot.conf.in"))
            .expect("knot.conf.in")
            .replace("@DIR@", &dir.display().to_string())
            .replace("@PORT@", &port.to_string());
        let conf_path = dir.join("knot.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let log = std::fs::File::create(dir.join("knot.log")).unwrap();
        let child = Command::new("knotd")
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("run knotd (Debian package knot)");
        let mut knot = Knot {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // The zone loads right after the socket opens; give it a query to answer.
                if zone_answers(port) {
                    return knot;
                }
            }
            if let Some(c) = knot.child.as_mut()
                && let Ok(Some(_)) = c.try_wait()
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        knot.stop();
    }
    panic!(
        "knotd did not start: {}",
        std::fs::read_to_string(dir.join("knot.log")).unwrap_or_default()
    );
}

/// A SOA query for `test.` over TCP answers NOERROR once the zone is loaded.
fn zone_answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    // id=1, flags=0, 1 question: "test." SOA IN
    let q: &[u8] = &[
        0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, b't', b'e', b's', b't', 0, 0, 6, 0, 1,
    ];
    let mut msg = (q.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(q);
    if s.write_all(&msg).is_err() {
        return false;
    }
    let mut buf = [0u8; 6];
    // [len len id id flags1 flags2]: QR set, RCODE 0.
    s.read_exact(&mut buf).is_ok() && buf[4] & 0x80 != 0 && buf[5] & 0x0f == 0
}

impl AuthFixture {
    pub fn start() -> AuthFixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = |n: &str| dir.path().join(n);
        let (dkim_rsa, dkim_ed, arc_ed, agency_rsa, agency_ed) = (
            p("dkim-rsa.pem"),
            p("dkim-ed.pem"),
            p("arc-ed.pem"),
            p("agency-rsa.pem"),
            p("agency-ed.pem"),
        );
        let zone = std::fs::read_to_string(repo_file("integration/dns/test.zone.in"))
            .expect("test.zone.in")
            .replace("@RSA_TXT@", &quoted(&openssl_rsa(&dkim_rsa)))
            .replace("@ED_TXT@", &quoted(&keygen_ed25519(&dkim_ed)))
            .replace("@ARC_TXT@", &quoted(&keygen_ed25519(&arc_ed)))
            .replace("@AGENCY_TXT@", &quoted(&openssl_rsa(&agency_rsa)))
            .replace("@AGENCY_ED_TXT@", &quoted(&keygen_ed25519(&agency_ed)));
        std::fs::write(p("test.zone"), zone).unwrap();
        std::fs::create_dir_all(p("db")).unwrap();
        let knot = start_knot(dir.path());
        AuthFixture {
            dir,
            knot,
            dkim_rsa,
            dkim_ed,
            arc_ed,
            agency_rsa,
            agency_ed,
        }
    }

    pub fn dns_addr(&self) -> String {
        format!("127.0.0.1:{}", self.knot.port)
    }

    /// Writes an sge-milter config using the test DNS; `extra` is appended inside
    /// `[auth]` (keys) or after it (other sections).
    pub fn config(&self, name: &str, auth_extra: &str) -> PathBuf {
        let text = format!(
            "[dns]\nnameservers = [\"{}\"]\ntimeout = \"1s\"\nattempts = 1\n\n\
             [policy]\nlocal_domains = [\"agency.test\"]\n[auth]\nauthserv_id = \"{AUTHSERV_ID}\"\n{auth_extra}\n",
            self.dns_addr()
        );
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A config that signs for `domain` with the given (selector, key file) pairs.
    pub fn signing_config(&self, name: &str, domain: &str, keys: &[(&str, &Path)]) -> PathBuf {
        let mut extra = String::new();
        for (selector, key) in keys {
            extra.push_str(&format!(
                "\n[[auth.dkim_keys]]\ndomain = \"{domain}\"\nselector = \"{selector}\"\nkey_file = \"{}\"\n",
                key.display()
            ));
        }
        self.config(name, &extra)
    }

    /// `sge-milter scan --json --config CONFIG ARGS` on `eml`.
    pub fn scan(&self, config: &Path, args: &[&str], eml: &[u8]) -> serde_json::Value {
        let config = config.to_str().expect("the config path is UTF-8");
        let args: Vec<&str> = ["--config", config].iter().chain(args).copied().collect();
        crate::common::scan_json(&args, eml)
    }

    /// Inbound scan from `ip` with envelope sender `from`.
    pub fn scan_inbound(
        &self,
        config: &Path,
        ip: &str,
        from: &str,
        eml: &[u8],
    ) -> serde_json::Value {
        self.scan(
            config,
            &[
                "--direction",
                "inbound",
                "--client-ip",
                ip,
                "--helo",
                "mx.pass.test",
                "--from",
                from,
                "--to",
                "user@agency.test",
            ],
            eml,
        )
    }

    /// Signs `eml` as outbound mail with `config`'s keys: the message with the
    /// DKIM-Signature headers sge-milter added on top.
    pub fn sign(&self, config: &Path, eml: &[u8]) -> Vec<u8> {
        let r = self.scan(
            config,
            &[
                "--direction",
                "outbound",
                "--from",
                "a@x.test",
                "--to",
                "b@y.test",
            ],
            eml,
        );
        let mut out = Vec::new();
        for h in r["headers_added"].as_array().expect("headers_added") {
            if h[0] == "DKIM-Signature" {
                out.extend_from_slice(b"DKIM-Signature: ");
                out.extend_from_slice(h[1].as_str().unwrap().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        assert!(!out.is_empty(), "no signature added: {r}");
        out.extend_from_slice(eml);
        out
    }
}

/// A CRLF message from `from` with `subject` and `body`.
pub fn message(from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Sender <{from}>\r\nTo: user@agency.test\r\nSubject: {subject}\r\n\
         Date: Sun, 29 Nov 2026 10:00:00 +1300\r\nMessage-ID: <{subject}@x.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\
         X-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=UNCLASSIFIED\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// The DKIM results of a scan as (selector, result) pairs.
pub fn dkim_results(r: &serde_json::Value) -> Vec<(String, String)> {
    r["auth"]["dkim"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| {
                    (
                        d["selector"].as_str().unwrap_or("").to_string(),
                        d["result"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn has_finding(r: &serde_json::Value, rule: &str) -> bool {
    r["findings"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f["rule"] == rule))
}

impl AuthFixture {
    /// Verifies every DKIM signature of `msg` with dkimpy (an independent
    /// implementation) against this fixture's DNS server.
    pub fn dkimpy_verifies(&self, msg: &[u8]) -> bool {
        use std::io::Write;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/dkimverify.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("127.0.0.1")
            .arg(self.knot.port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 with dkimpy, dnspython, pynacl");
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(msg)
            .expect("write message to dkimverify");
        let out = child.wait_with_output().expect("dkimverify exits");
        eprintln!(
            "dkimverify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out.status.success()
    }
}
