//! DMARC aggregate reports end to end: inbound messages with known results go
//! through the milter (real loopback DNS), `dmarc-reports send` hands the reports
//! to a real Postfix, and an independent reader (Python gzip + xml.etree) checks
//! the delivered reports' counts per source IP and disposition. Needs root,
//! postfix and knot: run through `integration/test.sh`.

mod auth_fixture;
mod common;
mod dmarc_reports_support;

use auth_fixture::AuthFixture;
use common::{MilterProcess, Postfix, PostfixOptions, WAIT};
use dmarc_reports_support::{
    counts, deliver, dmarc_reports, future, parse_reports, reports_section,
};
use indymilter_test::Status;

#[test]
fn reports_reach_the_rua_mailboxes_once_with_the_right_counts() {
    let f = AuthFixture::start();
    // A plain relay for the report mail: no milter (the report is our own mail).
    let pf = Postfix::start_with(
        "inet:127.0.0.1:9",
        PostfixOptions {
            milter_default_action: "accept".into(),
            extra_main_cf: vec!["smtpd_milters =".into(), "non_smtpd_milters =".into()],
            ..Default::default()
        },
    );
    let store = f.dir.path().join("store");
    let base = std::fs::read_to_string(f.config("base.toml", "")).unwrap();
    let text = format!(
        "[direction]\ntrusted_networks = []\n\n{base}\n{}",
        reports_section(
            &format!("file:{}", store.display()),
            &format!("smtp:127.0.0.1:{}", pf.smtp_port()),
            "",
        )
    );
    let mut milter = MilterProcess::start(&text);
    let listen = milter.listen_addr();

    // rua.test: SPF passes for 192.0.2.10 (DMARC pass), fails for 192.0.2.66
    // (p=reject: refused). reject.test publishes no rua: nothing to record.
    for i in 0..3 {
        let s = deliver(
            &listen,
            "192.0.2.10",
            "a@rua.test",
            "bob@agency.test",
            &format!("ok{i}"),
        );
        assert!(matches!(s, Status::Continue | Status::Accept), "{s:?}");
    }
    for i in 0..2 {
        let s = deliver(
            &listen,
            "192.0.2.66",
            "a@rua.test",
            "bob@agency.test",
            &format!("bad{i}"),
        );
        assert!(matches!(s, Status::Reject { .. }), "{s:?}");
    }
    let s = deliver(
        &listen,
        "192.0.2.66",
        "a@reject.test",
        "bob@agency.test",
        "norua",
    );
    assert!(matches!(s, Status::Reject { .. }), "{s:?}");
    // SIGTERM writes what is still in memory before exiting.
    milter.signal("TERM");
    assert!(milter.wait_exit(WAIT).is_some(), "milter did not stop");

    let config = milter.config_path().to_path_buf();
    let out = dmarc_reports(&config, &["send", "--now", &future()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // dmarc@rua.test and the verified external destination; not the unverified
    // one, not the one whose !size is too small.
    assert!(stdout.contains("2 sent, 2 skipped, 0 failed"), "{stdout}");

    let delivered = pf.wait_delivered_envelopes(2, WAIT);
    assert_eq!(delivered.len(), 2);
    let mut rcpts: Vec<String> = delivered.iter().flat_map(|d| d.rcpts.clone()).collect();
    rcpts.sort();
    assert_eq!(rcpts, ["dmarc@rua.test", "reports@external.test"]);
    let files: Vec<_> = delivered
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let p = f.dir.path().join(format!("mailbox-{i}.eml"));
            std::fs::write(&p, &d.data).unwrap();
            p
        })
        .collect();
    let reports = parse_reports(&files);
    let mut ids = Vec::new();
    for r in &reports {
        assert_eq!(r["domain"], "rua.test");
        assert_eq!(r["org_name"], "Test Agency");
        let c = counts(r);
        assert_eq!(c[&("192.0.2.10".into(), "none".into())], 3, "{r}");
        assert_eq!(c[&("192.0.2.66".into(), "reject".into())], 2, "{r}");
        assert_eq!(c.len(), 2, "{r}");
        // RFC 7489 §7.2.1.1 Subject and attachment name.
        let id = r["report_id"].as_str().unwrap();
        assert_eq!(
            r["subject"].as_str().unwrap(),
            format!("Report Domain: rua.test Submitter: agency.test Report-ID: <{id}>")
        );
        assert_eq!(
            r["filename"].as_str().unwrap(),
            format!("agency.test!rua.test!{}!{}.xml.gz", r["begin"], r["end"])
        );
        assert_eq!(
            r["end"].as_u64().unwrap() - r["begin"].as_u64().unwrap(),
            86_399
        );
        ids.push(id.to_string());
    }
    ids.dedup();
    assert_eq!(ids.len(), 2, "report ids are unique: {ids:?}");

    // Sent means gone: a second run sends nothing.
    let out = dmarc_reports(&config, &["send", "--now", &future()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("0 sent, 0 skipped, 0 failed"), "{stdout}");
}
