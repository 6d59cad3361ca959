//! The running `sge-milter` driven by an independent MTA-side implementation of
//! the milter protocol: the PyPI package `miltertest`, through
//! `integration/miltertest_client.py`. Covers the wiring test rules, a client
//! that disconnects mid-body, and malformed input (each must get a decision or a
//! clean close, and the milter must keep serving).

mod common;

use common::MilterProcess;
use serde_json::Value;
use std::process::Command;

/// The client's 127.0.0.1 is trusted, so its mail is outbound: X-SGE-Findings,
/// where these tests read the rule ids, is only added there when configured.
const CONFIG: &str = "[headers]\nfindings_outbound = true\n";

fn client_script() -> String {
    format!(
        "{}/integration/miltertest_client.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Runs the scenarios against `milter`; one JSON outcome per scenario.
fn run(milter: &MilterProcess, scenarios: &[&str]) -> Vec<Value> {
    let port = milter.port().expect("inet milter").to_string();
    let out = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
        .arg(client_script())
        .args(["--port", &port])
        .args(scenarios)
        .output()
        .expect("python3 is needed for the miltertest tests (integration/test.sh installs it)");
    assert!(
        out.status.success(),
        "miltertest_client.py {scenarios:?} failed ({}):\n{}\nmilter log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        milter.log()
    );
    let results: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line from the client"))
        .collect();
    assert_eq!(results.len(), scenarios.len());
    results
}

fn run_one(milter: &MilterProcess, scenario: &str) -> Value {
    run(milter, &[scenario]).remove(0)
}

/// The rule ids in the X-SGE-Findings header the milter added, if any.
fn findings_header(r: &Value) -> String {
    r["added_headers"]
        .as_array()
        .and_then(|a| a.iter().find(|h| h[0] == "X-SGE-Findings"))
        .and_then(|h| h[1].as_str())
        .unwrap_or("")
        .to_string()
}

/// After anything nasty: the process is alive and still decides correctly.
fn assert_still_serving(milter: &mut MilterProcess) {
    assert!(milter.is_running(), "milter died; log:\n{}", milter.log());
    let r = run_one(milter, "reject");
    assert_eq!(r["final"], "reject", "follow-up conversation: {r}");
    assert!(
        !milter.log().contains("panicked"),
        "milter log:\n{}",
        milter.log()
    );
}

#[test]
fn clean_message_is_accepted_without_edits() {
    let milter = MilterProcess::start(CONFIG);
    let r = run_one(&milter, "clean");
    assert_eq!(r["stage"], "eom", "{r}");
    assert!(
        matches!(r["final"].as_str(), Some("continue" | "accept")),
        "{r}"
    );
    assert_eq!(r["added_headers"], serde_json::json!([]), "{r}");
    assert_eq!(r["quarantine"], Value::Null, "{r}");
}

#[test]
fn reject_rule_sends_the_reply_text() {
    let milter = MilterProcess::start(CONFIG);
    let r = run_one(&milter, "reject");
    assert_eq!(r["final"], "reject", "{r}");
    let reply = r["smtp_reply"].as_str().expect("reply code");
    assert!(reply.starts_with("550 5.7.1"), "{reply}");
    assert!(reply.contains("[sge:sge.test.reject]"), "{reply}");
}

#[test]
fn reject_string_split_across_body_chunks_is_found() {
    let milter = MilterProcess::start(CONFIG);
    let r = run_one(&milter, "split-chunks");
    assert_eq!(r["final"], "reject", "{r}");
}

#[test]
fn tag_rule_adds_the_findings_header() {
    let milter = MilterProcess::start(CONFIG);
    let r = run_one(&milter, "tag");
    assert!(
        matches!(r["final"].as_str(), Some("continue" | "accept")),
        "{r}"
    );
    let added = r["added_headers"].as_array().expect("added headers");
    let findings = added
        .iter()
        .find(|h| h[0] == "X-SGE-Findings")
        .unwrap_or_else(|| panic!("no X-SGE-Findings header added: {r}"));
    assert!(
        findings[1].as_str().unwrap_or("").contains("sge.test.tag"),
        "{r}"
    );
}

#[test]
fn quarantine_rule_requests_quarantine() {
    let milter = MilterProcess::start(CONFIG);
    let r = run_one(&milter, "quarantine");
    let reason = r["quarantine"]
        .as_str()
        .unwrap_or_else(|| panic!("no quarantine action: {r}"));
    assert!(reason.contains("sge.test.quarantine"), "{r}");
    assert!(
        matches!(r["final"].as_str(), Some("continue" | "accept")),
        "{r}"
    );
}

#[test]
fn client_disconnecting_mid_body_does_not_hurt_the_next_conversation() {
    let mut milter = MilterProcess::start(CONFIG);
    // The scenario itself ends with a full reject conversation on a new connection.
    let r = run_one(&milter, "disconnect-mid-body");
    assert_eq!(r["final"], "reject", "{r}");
    assert_still_serving(&mut milter);
}

#[test]
fn eight_bit_junk_in_headers_gets_a_decision() {
    let mut milter = MilterProcess::start(CONFIG);
    let r = run_one(&milter, "junk-headers");
    assert_eq!(r["stage"], "eom", "{r}");
    assert!(
        findings_header(&r).contains("sge.test.tag"),
        "body still scanned: {r}"
    );
    assert_still_serving(&mut milter);
}

#[test]
fn nul_in_a_header_gets_a_decision_or_a_clean_close() {
    let mut milter = MilterProcess::start(CONFIG);
    let r = run_one(&milter, "nul-header");
    assert!(r["final"].is_string(), "{r}");
    assert_still_serving(&mut milter);
}

#[test]
fn one_megabyte_single_line_header_gets_a_decision() {
    let mut milter = MilterProcess::start(CONFIG);
    let r = run_one(&milter, "huge-header");
    // As a MIME part header (inside the body): a decision, the anomaly reported
    // and the part's content still scanned.
    assert_eq!(r["stage"], "eom", "{r}");
    assert!(r["final"].is_string(), "{r}");
    let findings = findings_header(&r);
    assert!(findings.contains("content.header_too_long"), "{r}");
    assert!(findings.contains("sge.test.tag"), "{r}");
    // As a top-level header it may be refused by the protocol layer (packet far
    // above the milter maximum) by closing the connection.
    assert!(r["top"]["final"].is_string(), "{r}");
    assert_still_serving(&mut milter);
}

#[test]
fn hundred_deep_multipart_nesting_gets_a_decision() {
    let mut milter = MilterProcess::start(CONFIG);
    let r = run_one(&milter, "deep-multipart");
    assert_eq!(r["stage"], "eom", "{r}");
    // The reject string at depth 100 is still scanned (as text of the part at the
    // depth limit), and the structure is reported.
    assert_eq!(r["final"], "reject", "{r}");
    assert!(
        milter.log().contains("content.mime_depth"),
        "{}",
        milter.log()
    );
    assert_still_serving(&mut milter);
}

#[test]
fn unterminated_boundary_gets_a_decision() {
    let mut milter = MilterProcess::start(CONFIG);
    let r = run_one(&milter, "unterminated-boundary");
    assert_eq!(r["stage"], "eom", "{r}");
    assert!(r["final"].is_string(), "{r}");
    // Default malformed_mime_action = tag; the part content is still scanned.
    let findings = findings_header(&r);
    assert!(findings.contains("content.mime_unterminated"), "{r}");
    assert!(findings.contains("sge.test.tag"), "{r}");
    assert_still_serving(&mut milter);
}

#[test]
fn broken_base64_gets_a_decision() {
    let mut milter = MilterProcess::start(CONFIG);
    let r = run_one(&milter, "broken-base64");
    assert_eq!(r["stage"], "eom", "{r}");
    assert!(r["final"].is_string(), "{r}");
    assert!(findings_header(&r).contains("content.bad_base64"), "{r}");
    assert_still_serving(&mut milter);
}
