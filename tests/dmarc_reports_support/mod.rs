//! Shared by `tests/dmarc_reports_*.rs`: milter conversations with a chosen client
//! IP and sender, the `[dmarc_reports]` config, the `dmarc-reports` command, the
//! independent Python report reader, and a loopback redis-server.
#![allow(dead_code)]

use base64::Engine as _;
use indymilter_test::{Status, TestConnection};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sge-milter"))
}

/// A message from `from` (header and envelope) sent by `ip`; returns the status
/// at end of message (or where the milter decided early).
pub fn deliver(listen: &str, ip: &str, from: &str, rcpt: &str, subject: &str) -> Status {
    let ip: IpAddr = ip.parse().expect("client ip");
    let headers = [
        ("From", format!("<{from}>")),
        ("To", format!("<{rcpt}>")),
        ("Subject", subject.to_string()),
        ("Message-ID", format!("<{subject}@dmarc-test.invalid>")),
        ("Date", "Wed, 02 Dec 2026 10:00:00 +1300".to_string()),
    ];
    send_raw(listen, ip, from, rcpt, &headers, b"Hello.\r\n")
}

/// One milter conversation with explicit headers and body.
pub fn send_raw(
    listen: &str,
    ip: IpAddr,
    from: &str,
    rcpt: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Status {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let addr = listen.strip_prefix("inet:").unwrap_or(listen).to_string();
        let mut conn = TestConnection::configure()
            .read_timeout(Duration::from_secs(60))
            .open_tcp(addr)
            .await
            .expect("connect to the milter");
        conn.connect("client.dmarc-test.invalid", (ip, 40000))
            .await
            .unwrap();
        conn.helo("client.dmarc-test.invalid").await.unwrap();
        conn.mail([format!("<{from}>")]).await.unwrap();
        conn.rcpt([format!("<{rcpt}>")]).await.unwrap();
        conn.data().await.unwrap();
        for (name, value) in headers {
            let status = conn.header(*name, value.as_str()).await.unwrap();
            if !matches!(status, Status::Continue | Status::Noreply) {
                return status;
            }
        }
        let status = conn.eoh().await.unwrap();
        if !matches!(status, Status::Continue | Status::Noreply) {
            return status;
        }
        conn.body(bytes::Bytes::copy_from_slice(body))
            .await
            .unwrap();
        let (_, status) = conn.eom().await.unwrap();
        let _ = conn.close().await;
        status
    })
}

/// `[dmarc_reports]` with the given store and transport, short flush interval.
pub fn reports_section(store: &str, send_via: &str, extra: &str) -> String {
    format!(
        "[dmarc_reports]\nenabled = true\nstore = \"{store}\"\nflush_interval = \"1s\"\n\
         org_name = \"Test Agency\"\nemail = \"dmarc-noreply@agency.test\"\n\
         send_via = \"{send_via}\"\n{extra}\n"
    )
}

/// `sge-milter dmarc-reports ARGS --config CONFIG`.
pub fn dmarc_reports(config: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("dmarc-reports")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run sge-milter dmarc-reports")
}

/// A time after every period that has started so far.
pub fn future() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (now + 3 * 86_400).to_string()
}

/// `send --dry-run --out DIR` for every period so far; the written files.
pub fn dry_run(config: &Path, out: &Path) -> Vec<PathBuf> {
    let _ = std::fs::remove_dir_all(out);
    let o = dmarc_reports(
        config,
        &[
            "send",
            "--dry-run",
            "--out",
            out.to_str().unwrap(),
            "--now",
            &future(),
        ],
    );
    assert!(
        o.status.success(),
        "dry run: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(out)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Reads reports (.eml or .xml.gz) with integration/dmarc_report_parse.py.
pub fn parse_reports(files: &[PathBuf]) -> Vec<serde_json::Value> {
    if files.is_empty() {
        return Vec::new();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/dmarc_report_parse.py");
    let out = Command::new("python3")
        .arg(script)
        .args(files)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "parser: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("parser JSON"))
        .collect()
}

/// Total count per (source ip, disposition) across a report's rows.
pub fn counts(report: &serde_json::Value) -> std::collections::BTreeMap<(String, String), u64> {
    let mut out = std::collections::BTreeMap::new();
    for row in report["rows"].as_array().expect("rows") {
        let key = (
            row["source_ip"].as_str().unwrap().to_string(),
            row["disposition"].as_str().unwrap().to_string(),
        );
        *out.entry(key).or_insert(0) += row["count"].as_u64().unwrap();
    }
    out
}

/// A redis-server on a free loopback port, without persistence; stopped by PID
/// on drop, so a failing test leaves nothing behind.
pub struct Redis {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> Redis {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let port = crate::common::free_port();
            let mut child = Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no", "--dir"])
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("run redis-server (Debian package redis-server)");
            for _ in 0..100 {
                if ping(port) {
                    return Redis {
                        child,
                        port,
                        _dir: dir,
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One aggregate report as big receivers write them (no namespace, RFC 7489
/// Appendix C shape); `rows` are (ip, count, disposition, dkim, spf).
pub fn report(org: &str, id: &str, domain: &str, rows: &[(&str, u32, &str, &str, &str)]) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<feedback>\n  <report_metadata>\n    \
         <org_name>{org}</org_name>\n    <email>noreply-dmarc@{org}</email>\n    \
         <report_id>{id}</report_id>\n    <date_range><begin>1764633600</begin><end>1764719999</end></date_range>\n  \
         </report_metadata>\n  <policy_published>\n    <domain>{domain}</domain>\n    <adkim>r</adkim>\n    \
         <aspf>r</aspf>\n    <p>reject</p>\n    <sp>reject</sp>\n    <pct>100</pct>\n  </policy_published>\n"
    );
    for (ip, count, disposition, dkim, spf) in rows {
        xml.push_str(&format!(
            "  <record>\n    <row>\n      <source_ip>{ip}</source_ip>\n      <count>{count}</count>\n      \
             <policy_evaluated><disposition>{disposition}</disposition><dkim>{dkim}</dkim><spf>{spf}</spf></policy_evaluated>\n    \
             </row>\n    <identifiers><header_from>{domain}</header_from></identifiers>\n    \
             <auth_results><spf><domain>{domain}</domain><result>{spf}</result></spf></auth_results>\n  </record>\n"
        ));
    }
    xml.push_str("</feedback>\n");
    xml
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A report mail: headers, and a multipart body with the gzip attachment.
pub fn report_mail(to: &str, gz: &[u8]) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(gz);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let headers = vec![
        ("From", "noreply-dmarc-support@mailbox.example".to_string()),
        ("To", to.to_string()),
        (
            "Subject",
            "Report domain: agency.test Submitter: mailbox.example Report-ID: <r4>".to_string(),
        ),
        ("MIME-Version", "1.0".to_string()),
        (
            "Content-Type",
            "multipart/mixed; boundary=\"b1\"".to_string(),
        ),
    ];
    let body = format!(
        "--b1\r\nContent-Type: text/plain\r\n\r\nThis is an aggregate report.\r\n--b1\r\n\
         Content-Type: application/gzip\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"mailbox.example!agency.test!1764633600!1764719999.xml.gz\"\r\n\r\n\
         {}\r\n--b1--\r\n",
        lines.join("\r\n")
    );
    (headers, body.into_bytes())
}

pub fn as_file((headers, body): &(Vec<(&'static str, String)>, Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}
