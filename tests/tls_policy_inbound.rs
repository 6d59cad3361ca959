//! Inbound connectors through `sge-milter scan --json`: classified mail from a
//! Restricted-group domain that did not arrive over TLS (`scan` has no TLS session,
//! as a milter connection without `{tls_version}`) is refused.

mod common;

fn run(from: &str, subject: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sge-milter.toml");
    std::fs::write(
        &config,
        "[auth]\nenabled = false\n[policy]\nlocal_domains = [\"agency.govt.nz\"]\nsystem_ceiling = \"RESTRICTED\"\n\
         [routes]\nrestricted_group = [\"partner.govt.nz\"]\n",
    )
    .unwrap();
    let eml = format!("From: {from}\r\nTo: a@agency.govt.nz\r\nSubject: {subject}\r\n\r\nhi\r\n");
    common::scan_json(
        &[
            "--config",
            config.to_str().unwrap(),
            "--direction",
            "inbound",
            "--from",
            from,
            "--to",
            "a@agency.govt.nz",
        ],
        eml.as_bytes(),
    )
}

fn rules(r: &serde_json::Value) -> Vec<String> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn restricted_group_mail_above_default_ceiling_without_tls_is_rejected() {
    let r = run("b@partner.govt.nz", "[SENSITIVE] budget");
    assert!(
        rules(&r).contains(&"marking.restricted_no_tls".to_string()),
        "{r}"
    );
    assert_eq!(r["action"], "reject", "{r}");

    let r = run("b@partner.govt.nz", "[IN-CONFIDENCE] minutes");
    assert!(rules(&r).is_empty(), "{r}");
    assert_eq!(r["action"], "accept", "{r}");

    // Outside the group the older marking.no_tls tag applies, not a rejection.
    let r = run("b@example.org", "[SENSITIVE] budget");
    assert_eq!(rules(&r), ["marking.no_tls"], "{r}");
    assert_ne!(r["action"], "reject", "{r}");
}
