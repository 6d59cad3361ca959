//! A fleet: two gateways count into one redis-server; one report per destination
//! holds the sum, and two senders running at once hand each report over once.

mod auth_fixture;
mod common;
mod dmarc_reports_support;

use auth_fixture::AuthFixture;
use common::{MilterProcess, WAIT};
use dmarc_reports_support::{
    Redis, counts, deliver, dry_run, future, parse_reports, reports_section,
};
use std::process::Command;

#[test]
fn two_gateways_one_report_sent_once() {
    let f = AuthFixture::start();
    let redis = Redis::start();
    // The MTA here is a script that keeps what it is given: the Postfix path is
    // covered by dmarc_reports_postfix.rs; this test counts hand-overs.
    let mailbox = f.dir.path().join("mailbox");
    std::fs::create_dir_all(&mailbox).unwrap();
    let sendmail = f.dir.path().join("sendmail.sh");
    std::fs::write(
        &sendmail,
        format!("#!/bin/sh\ncat > {}/$$.eml\n", mailbox.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &sendmail,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let base = std::fs::read_to_string(f.config("base.toml", "")).unwrap();
    let text = format!(
        "{base}\n{}",
        reports_section(
            &redis.url(),
            &format!("sendmail:{}", sendmail.display()),
            ""
        )
    );
    let config = f.dir.path().join("cli.toml");
    std::fs::write(&config, &text).unwrap();

    let mut a = MilterProcess::start(&text);
    let mut b = MilterProcess::start(&text);
    for i in 0..2 {
        deliver(
            &a.listen_addr(),
            "192.0.2.10",
            "a@rua.test",
            "x@agency.test",
            &format!("a{i}"),
        );
    }
    for i in 0..3 {
        deliver(
            &b.listen_addr(),
            "192.0.2.10",
            "a@rua.test",
            "x@agency.test",
            &format!("b{i}"),
        );
    }
    deliver(
        &a.listen_addr(),
        "192.0.2.66",
        "a@rua.test",
        "x@agency.test",
        "bad",
    );
    for m in [&mut a, &mut b] {
        m.signal("TERM");
        m.wait_exit(WAIT).expect("milter stopped");
    }

    let out = f.dir.path().join("out");
    let reports = parse_reports(&dry_run(&config, &out));
    assert_eq!(reports.len(), 2, "one report per verified destination");
    for r in &reports {
        let c = counts(r);
        assert_eq!(c[&("192.0.2.10".into(), "none".into())], 5, "{r}");
        assert_eq!(c[&("192.0.2.66".into(), "reject".into())], 1, "{r}");
    }

    // Two gateways send at the same time: the lock and the sent markers let
    // each report go out once.
    let now = future();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_sge-milter"))
            .args(["dmarc-reports", "send", "--now", &now, "--config"])
            .arg(&config)
            .output()
            .expect("run send")
    };
    let (x, y) = std::thread::scope(|s| {
        let x = s.spawn(spawn);
        let y = s.spawn(spawn);
        (x.join().unwrap(), y.join().unwrap())
    });
    assert!(x.status.success() && y.status.success());
    let mails: Vec<_> = std::fs::read_dir(&mailbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(mails.len(), 2, "{mails:?}");
    let mut to: Vec<String> = parse_reports(&mails)
        .iter()
        .map(|r| r["to"].as_str().unwrap().to_string())
        .collect();
    to.sort();
    assert_eq!(to, ["dmarc@rua.test", "reports@external.test"]);
    // Nothing is left to send.
    assert!(dry_run(&config, &out).is_empty());
}
