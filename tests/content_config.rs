//! `[content]` and the per-direction `malformed_mime_action`: old keys keep working
//! or check-rules says what replaced them (file:line); a banner in an attachment's
//! extracted text raises the effective classification (issue 10 item 6).

mod common;

use common::corpus::*;
use common::{scan_json, sge_milter_bin};
use std::process::Command;

fn check_rules(dir: &std::path::Path, main: &str, dlp: Option<&str>) -> (bool, String) {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    if let Some(dlp) = dlp {
        std::fs::write(dir.join("rules/dlp.toml"), dlp).unwrap();
    }
    let config = dir.join("sge-milter.toml");
    std::fs::write(&config, format!("[rules]\ndir = \"rules\"\n{main}")).unwrap();
    let out = Command::new(sge_milter_bin())
        .args(["check-rules", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn old_dlp_attachment_sections_name_their_replacement() {
    let dir = tempfile::tempdir().unwrap();
    let dlp = "[settings]\nproximity = 300\n\n[attachments]\nmax_buffer = \"1MiB\"\n\n[uninspectable]\noutbound = \"reject\"\n";
    let (ok, text) = check_rules(dir.path(), "", Some(dlp));
    assert!(!ok, "{text}");
    assert!(
        text.contains("dlp.toml:4:") && text.contains("[attachments] was replaced by [content]"),
        "{text}"
    );
    assert!(
        text.contains("dlp.toml:7:") && text.contains("uninspectable_action"),
        "{text}"
    );
}

#[test]
fn malformed_mime_action_one_value_or_per_direction() {
    let dir = tempfile::tempdir().unwrap();
    let one = "[limits]\nmalformed_mime_action = \"tag\"\n";
    let (ok, text) = check_rules(dir.path(), one, None);
    assert!(ok, "{text}");
    let both = "[limits]\nmalformed_mime_action = { inbound = \"tag\", outbound = \"reject\" }\n[content]\nuninspectable_action = \"quarantine\"\nmax_archive_depth = 2\n";
    let (ok, text) = check_rules(dir.path(), both, None);
    assert!(ok, "{text}");
    let bad = "[limits]\nmalformed_mime_action = { inbound = \"tag\" }\n";
    let (ok, text) = check_rules(dir.path(), bad, None);
    assert!(!ok && text.contains("sge-milter.toml:4:"), "{text}");

    // Outbound, the default holds a message whose structure is over the limit.
    let r = scan_json(&["--direction", "outbound"], &deeply_nested(30, "hello"));
    assert_eq!(r["action"], "quarantine", "{r}");
    let r = scan_json(&["--direction", "inbound"], &deeply_nested(30, "hello"));
    assert_eq!(r["action"], "tag", "{r}");
}

#[test]
fn a_banner_in_an_attachment_raises_the_classification() {
    let doc = docx("SENSITIVE\nBudget figures for the minister\nSENSITIVE\n");
    let eml = attach(
        "application/zip",
        "budget.zip",
        zip(&[("budget.docx", &doc[..])]),
    );
    let r = scan_json(
        &["--direction", "outbound", "--to", "bob@external.example"],
        &eml,
    );
    assert_eq!(r["classification"]["level"], "SENSITIVE", "{r}");
    assert_eq!(r["classification"]["source"], "attachment", "{r}");
    // Above the Internet ceiling (IN-CONFIDENCE): refused.
    assert_eq!(r["action"], "reject", "{r}");
}
