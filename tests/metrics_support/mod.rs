//! Helpers shared by the metrics tests (on top of the harness in `tests/common`):
//! the milter with its metrics endpoint, plain HTTP GET over loopback, promtool and
//! the dashboard's queries.
#![allow(dead_code)]

use crate::common::{MilterProcess, WAIT, free_port, wait_for};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A milter started through the harness with the metrics endpoint on a free
/// loopback port; `config` is appended after the `[metrics]` section.
pub fn start_milter(config: &str) -> (MilterProcess, String) {
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let toml = format!("[metrics]\nlisten = \"{metrics_addr}\"\n{config}");
    let milter = MilterProcess::start(&toml);
    // The milter binds its own socket first, then the metrics endpoint.
    wait_for(WAIT, || TcpStream::connect(&metrics_addr).ok())
        .unwrap_or_else(|| panic!("no /metrics on {metrics_addr}:\n{}", milter.log()));
    (milter, metrics_addr)
}

/// The endpoint's current output.
pub fn scrape(metrics_addr: &str) -> String {
    let (status, body) = http_get(metrics_addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    body
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
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
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

/// Every PromQL expression of the shipped dashboard, with its panel title.
pub fn dashboard_queries() -> Vec<(String, String)> {
    let path = grafana_dir().join("sge-milter-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("dashboard JSON readable");
    let d: serde_json::Value = serde_json::from_str(&text).expect("dashboard is valid JSON");
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                p["title"].as_str().unwrap_or("?").to_string(),
                t["expr"].as_str().expect("target has expr").to_string(),
            ));
        }
    }
    out
}
