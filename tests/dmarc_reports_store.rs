//! The embedded store: counts survive a SIGKILL once flushed (at most
//! `flush_interval` is lost) and a restart adds to them; the dry run writes one
//! `.xml.gz` per destination and changes nothing.

mod auth_fixture;
mod common;
mod dmarc_reports_support;

use auth_fixture::AuthFixture;
use common::{MilterProcess, WAIT, wait_for};
use dmarc_reports_support::{counts, deliver, dry_run, parse_reports, reports_section};

#[test]
fn restart_mid_period_loses_nothing_flushed() {
    let f = AuthFixture::start();
    let store = f.dir.path().join("store");
    let base = std::fs::read_to_string(f.config("base.toml", "")).unwrap();
    let text = format!(
        "{base}\n{}",
        reports_section(
            &format!("file:{}", store.display()),
            "sendmail:/nonexistent",
            ""
        )
    );
    let out = f.dir.path().join("out");
    let config = f.dir.path().join("cli.toml");
    std::fs::write(&config, &text).unwrap();

    let mut first = MilterProcess::start(&text);
    for i in 0..3 {
        deliver(
            &first.listen_addr(),
            "192.0.2.10",
            "a@rua.test",
            "b@agency.test",
            &format!("a{i}"),
        );
    }
    // The CLI reads the store while the milter has it open: wait for the flush.
    let flushed = wait_for(WAIT, || {
        let reports = parse_reports(&dry_run(&config, &out));
        reports
            .first()
            .filter(|r| counts(r).values().sum::<u64>() == 3)
            .cloned()
    });
    assert!(flushed.is_some(), "3 messages never reached the store");
    first.signal("KILL");
    first.wait_exit(WAIT).expect("killed");

    let mut second = MilterProcess::start(&text);
    for i in 0..2 {
        deliver(
            &second.listen_addr(),
            "192.0.2.66",
            "a@rua.test",
            "b@agency.test",
            &format!("b{i}"),
        );
    }
    second.signal("TERM");
    second.wait_exit(WAIT).expect("stopped");

    let files = dry_run(&config, &out);
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // Verified destinations only, and not the one whose !size is too small.
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names[0].starts_with("dmarc@rua.test!agency.test!rua.test!"),
        "{names:?}"
    );
    assert!(
        names[1].starts_with("reports@external.test!agency.test!rua.test!"),
        "{names:?}"
    );
    for r in parse_reports(&files) {
        let c = counts(&r);
        assert_eq!(c[&("192.0.2.10".into(), "none".into())], 3, "{r}");
        assert_eq!(c[&("192.0.2.66".into(), "reject".into())], 2, "{r}");
    }
    // A dry run deletes nothing: the same reports come out again.
    assert_eq!(dry_run(&config, &out).len(), 2);
}
