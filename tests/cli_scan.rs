//! `sge-milter scan --json`: the JSON fields for each kind of verdict, and exit
//! codes (0 whatever the verdict; non-zero only for unreadable input).

mod common;

use common::{scan_json, sge_milter_bin};
use serde_json::Value;
use std::process::Command;

fn eml(body: &str) -> Vec<u8> {
    format!("From: alice@sender.example\nTo: bob@recipient.example\nSubject: scan test [UNCLASSIFIED]\n\n{body}\n")
        .into_bytes()
}

fn finding<'a>(report: &'a Value, rule: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["rule"] == rule))
        .unwrap_or_else(|| panic!("no finding for {rule}: {report}"))
}

#[test]
fn reject_report() {
    let r = scan_json(&[], &eml("has SGE-MILTER-TEST-REJECT-4F1C9"));
    assert!(
        r["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("message.eml")),
        "{r}"
    );
    assert_eq!(r["action"], "reject", "{r}");
    let reply = r["smtp_reply"].as_str().expect("reply");
    assert!(
        reply.starts_with("550 5.7.1 [sge:sge.test.reject]"),
        "{reply}"
    );
    let f = finding(&r, "sge.test.reject");
    assert_eq!(f["action"], "reject");
    assert!(f["kind"].is_string(), "{f}");
    assert!(f["detail"].as_str().is_some_and(|d| !d.is_empty()), "{f}");
    // The pattern itself is never echoed back in the reply.
    assert!(!reply.contains("SGE-MILTER-TEST-REJECT-4F1C9"));
}

#[test]
fn quarantine_report() {
    let r = scan_json(&[], &eml("has SGE-MILTER-TEST-QUARANTINE-8B27D"));
    assert_eq!(r["action"], "quarantine", "{r}");
    assert_eq!(finding(&r, "sge.test.quarantine")["action"], "quarantine");
}

#[test]
fn tag_report_lists_the_added_header() {
    let r = scan_json(&[], &eml("has SGE-MILTER-TEST-TAG-2A6E0"));
    assert_eq!(r["action"], "tag", "{r}");
    assert_eq!(r["smtp_reply"], Value::Null, "{r}");
    assert_eq!(finding(&r, "sge.test.tag")["action"], "tag");
    let added = r["headers_added"].as_array().expect("headers_added");
    assert!(
        added
            .iter()
            .any(|h| h[0] == "X-SGE-Findings"
                && h[1].as_str().unwrap_or("").contains("sge.test.tag")),
        "{r}"
    );
}

#[test]
fn accept_report() {
    let r = scan_json(&[], &eml("nothing to see"));
    assert_eq!(r["action"], "accept", "{r}");
    assert_eq!(r["smtp_reply"], Value::Null);
    assert_eq!(r["findings"], serde_json::json!([]));
    // Inbound mail gets its Authentication-Results and, when marked, the
    // X-SGE-Classification header; no findings header.
    let added = r["headers_added"].as_array().expect("headers_added");
    assert!(
        added
            .iter()
            .all(|h| h[0] == "Authentication-Results" || h[0] == "X-SGE-Classification"),
        "{r}"
    );
}

#[test]
fn strongest_action_wins() {
    let r = scan_json(
        &[],
        &eml("SGE-MILTER-TEST-TAG-2A6E0 and SGE-MILTER-TEST-REJECT-4F1C9"),
    );
    assert_eq!(r["action"], "reject", "{r}");
    finding(&r, "sge.test.tag");
    finding(&r, "sge.test.reject");
}

#[test]
fn one_json_line_per_file_and_exit_zero_whatever_the_verdict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a.eml");
    let b = dir.path().join("b.eml");
    std::fs::write(&a, eml("SGE-MILTER-TEST-REJECT-4F1C9")).expect("write");
    std::fs::write(&b, eml("clean")).expect("write");
    let out = Command::new(sge_milter_bin())
        .args(["scan", "--json"])
        .arg(&a)
        .arg(&b)
        .output()
        .expect("run scan");
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["action"], "reject");
    assert_eq!(lines[1]["action"], "accept");
}

#[test]
fn an_unreadable_file_exits_non_zero() {
    let out = Command::new(sge_milter_bin())
        .args(["scan", "--json", "/nonexistent/message.eml"])
        .output()
        .expect("run scan");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/message.eml"));
}
