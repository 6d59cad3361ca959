//! Shared harness for the end-to-end tests: the built `sge-milter` binary as a
//! process, a throw-away loopback-only Postfix instance, an SMTP sink that stores
//! what Postfix delivers, and a small SMTP client.
//!
//! Every server binds 127.0.0.1 only and is stopped by a Drop guard, so a failing
//! test leaves nothing running. Not every test binary uses every helper.
#![allow(dead_code, unused_imports)]

pub mod client;
pub mod faults;
pub mod inprocess;
pub mod milter;
pub mod postfix;
pub mod sendmail;
pub mod sink;
pub mod smtp;

pub use milter::MilterProcess;
pub use postfix::{Postfix, PostfixOptions, SendmailOutcome};
pub use sink::{Delivered, Sink};
pub use smtp::SmtpOutcome;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Path of the `sge-milter` binary cargo built for these tests.
pub fn sge_milter_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sge-milter"))
}

/// Runs `sge-milter scan --json ARGS FILE` on `eml` (written to a temp file) and
/// returns the JSON object printed for it. Panics if the command fails.
pub fn scan_json(args: &[&str], eml: &[u8]) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("message.eml");
    std::fs::write(&file, eml).expect("write message");
    let out = Command::new(sge_milter_bin())
        .arg("scan")
        .arg("--json")
        .args(args)
        .arg(&file)
        .output()
        .expect("run sge-milter scan");
    assert!(
        out.status.success(),
        "sge-milter scan failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().next().unwrap_or_else(|| {
        panic!(
            "sge-milter scan printed nothing; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("scan --json output {line:?}: {e}"))
}

/// A loopback TCP port that was free a moment ago, never the same one twice in this
/// process. Callers that hand it to another process retry with a new one if the bind
/// loses a race. Two tests must never be handed the same port: Postfix binds with
/// `SO_REUSEPORT`, so two instances on one port both start, and the kernel splits
/// each test's SMTP connections between them.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind 127.0.0.1:0");
        if HANDED_OUT
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(port)
        {
            return port;
        }
    }
}

/// Polls `check` until it returns `Some`, or `None` once `timeout` has passed.
/// Used to wait for asynchronous effects (delivery, logs); never to assert timing.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Generous upper bound for anything the tests wait on; only reached when broken.
pub const WAIT: Duration = Duration::from_secs(60);

/// True if `pid` names a live (non-zombie) process.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Field 3 is the state; Z = zombie, X = dead.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Sends signal `sig` ("HUP", "TERM", "KILL", ...) to `pid` with kill(1).
pub fn send_signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -s {sig} {pid} failed");
}

/// The unfolded-line value of the first header `name` (case-insensitive) of a raw
/// CRLF message, trimmed.
pub fn header_value(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let prefix = format!("{}:", name.to_ascii_lowercase());
    head.split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_string())
}

pub mod corpus;
