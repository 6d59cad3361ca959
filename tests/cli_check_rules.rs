//! `sge-milter check-rules`: every error names file and line; non-zero exit.

mod common;

use common::sge_milter_bin;
use std::process::Command;

fn check_rules(config: &std::path::Path) -> std::process::Output {
    Command::new(sge_milter_bin())
        .args(["check-rules", "--config"])
        .arg(config)
        .output()
        .expect("run check-rules")
}

#[test]
fn embedded_defaults_are_valid() {
    let out = Command::new(sge_milter_bin())
        .arg("check-rules")
        .output()
        .expect("run check-rules");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));
}

#[test]
fn a_valid_rules_dir_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    std::fs::write(
        dir.path().join("rules/keywords.toml"),
        "[[rule]]\nid = \"local.ok\"\npatterns = [\"fine\"]\naction = \"tag\"\n",
    )
    .expect("write");
    let config = dir.path().join("sge-milter.toml");
    std::fs::write(&config, "[rules]\ndir = \"rules\"\n").expect("write");
    let out = check_rules(&config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("keywords.toml"));
}

#[test]
fn a_broken_rule_file_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    let rules = dir.path().join("rules/keywords.toml");
    // Line 5 has the unknown key.
    std::fs::write(
        &rules,
        "# local rules\n[[rule]]\nid = \"local.bad\"\npatterns = [\"x\"]\nactoin = \"reject\"\n",
    )
    .expect("write");
    let config = dir.path().join("sge-milter.toml");
    std::fs::write(&config, "[rules]\ndir = \"rules\"\n").expect("write");
    let out = check_rules(&config);
    assert!(!out.status.success(), "broken rules passed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("{}:5:", rules.display());
    assert!(
        stderr.contains(&expected),
        "expected {expected:?} in: {stderr}"
    );
    assert!(stderr.contains("actoin"), "the problem is named: {stderr}");
}

#[test]
fn a_broken_config_file_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("sge-milter.toml");
    std::fs::write(
        &config,
        "[milter]\nlisten = \"inet:127.0.0.1:8894\"\nmax_conections = 3\n",
    )
    .expect("write");
    let out = check_rules(&config);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3:", config.display())),
        "stderr: {stderr}"
    );
}

#[test]
fn a_missing_rules_dir_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("sge-milter.toml");
    std::fs::write(&config, "[rules]\ndir = \"nowhere\"\n").expect("write");
    let out = check_rules(&config);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere"));
}

/// `local_domains` is read only from `[policy]` of sge-milter.toml; an old
/// `dlp.toml` that still sets it under `[settings]` is named with its line, and the
/// recipients that really are local are then listed in `[policy]`.
#[test]
fn dlp_local_domains_moved_to_policy_is_reported_with_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    let dlp = dir.path().join("rules/dlp.toml");
    // Line 4 sets the old key; the comment on line 2 mentions it and is not an error.
    std::fs::write(
        &dlp,
        "[settings]\n# local_domains moved\nproximity = 300\nlocal_domains = [\"agency.govt.nz\"]\n",
    )
    .expect("write");
    let config = dir.path().join("sge-milter.toml");
    std::fs::write(&config, "[rules]\ndir = \"rules\"\n").expect("write");
    let out = check_rules(&config);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:4:", dlp.display()))
            && stderr.contains("[policy] local_domains"),
        "{stderr}"
    );
    std::fs::write(&dlp, "[settings]\nproximity = 300\n").expect("write");
    std::fs::write(
        &config,
        "[rules]\ndir = \"rules\"\n[policy]\nlocal_domains = [\"agency.govt.nz\"]\n",
    )
    .expect("write");
    let out = check_rules(&config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
