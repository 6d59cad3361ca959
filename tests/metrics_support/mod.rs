//! Helpers shared by the metrics tests: the built binary as a child process, plain
//! HTTP GET over loopback, free ports and promtool.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port: bound, read and released (a tiny race the OS rarely loses).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_for_port(addr: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(e) = child.stderr.as_mut() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("process exited with {status} before listening on {addr}:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {addr} after 30 s");
}

/// `sge-milter run` from the built binary, killed by PID on drop.
pub struct Milter {
    pub child: Child,
    pub milter_addr: String,
    pub metrics_addr: String,
    pub dir: tempfile::TempDir,
}

impl Milter {
    /// Starts the milter with `extra_config` appended to a config that sets both listen
    /// addresses to free loopback ports and writes `keywords` as the keyword rules.
    pub fn start(keywords: &str, extra_config: &str) -> Milter {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("rules")).expect("rules dir");
        std::fs::write(dir.path().join("rules/keywords.toml"), keywords).expect("rules");
        let milter_addr = format!("127.0.0.1:{}", free_port());
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let config = format!(
            "[milter]\nlisten = \"inet:{milter_addr}\"\nshutdown_grace = \"1s\"\n\
             [direction]\ntrusted_networks = [\"10.0.0.0/8\"]\n[rules]\ndir = \"rules\"\n\
             [metrics]\nlisten = \"{metrics_addr}\"\n{extra_config}"
        );
        let config_path = dir.path().join("sge-milter.toml");
        std::fs::write(&config_path, config).expect("config");
        let mut child = Command::new(sge_milter_bin())
            .args(["run", "--log-format", "json", "--config"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sge-milter starts");
        wait_for_port(&milter_addr, &mut child);
        wait_for_port(&metrics_addr, &mut child);
        Milter {
            child,
            milter_addr,
            metrics_addr,
            dir,
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("sge-milter.toml")
    }

    /// Sends SIGHUP (configuration reload).
    pub fn reload(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    pub fn metrics(&self) -> String {
        let (status, body) = http_get(&self.metrics_addr, "/metrics");
        assert_eq!(status, 200, "{body}");
        body
    }
}

impl Drop for Milter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn sge_milter_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sge-milter")
}

/// A minimal HTTP/1.1 GET with `Connection: close`; returns status and body.
pub fn http_get(addr: &str, path_and_query: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    write!(
        s,
        "GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request sent");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("response read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// promtool from the Debian package `prometheus` (integration/deps/metrics.apt).
pub fn promtool() -> Command {
    let found = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| panic!("promtool not found: apt-get install prometheus"));
    Command::new(found)
}

/// Runs promtool with `args`, feeding `stdin`; panics with its output on failure.
pub fn run_promtool(args: &[&str], stdin: Option<&str>, cwd: &Path) -> String {
    let mut cmd = promtool();
    cmd.args(args)
        .current_dir(cwd)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("promtool starts");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("promtool reads stdin");
    }
    let out = child.wait_with_output().expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

/// The value of the first sample line starting with `prefix` (name and labels).
pub fn sample(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

pub fn grafana_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana")
}
