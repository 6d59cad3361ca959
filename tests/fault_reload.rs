//! Fault: a reload storm. Under load from 16 SMTP senders through a real Postfix,
//! the milter gets SIGHUP every 200 ms, alternating a valid configuration (switching
//! between two rule sets, A and B) and an invalid one. Expected: no sender sees a
//! temporary failure or a dropped connection, every message is judged by one whole
//! rule set (both of A's rules or both of B's, never a mix or half), and every
//! invalid configuration is counted in `config_reloads_total{result="error"}`.

mod common;
mod metrics_support;

use common::faults::{SmtpSession, milter_with_metrics_in, numbered, seq_of};
use common::{Postfix, WAIT, header_value, wait_for};
use metrics_support::{sample, scrape};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const SENDERS: usize = 16;
const PER_SENDER: usize = 8;

fn rules(version: &str) -> String {
    let rule = |n: &str, pattern: &str| {
        format!(
            "[[rule]]\nid = \"storm.{version}.{n}\"\npatterns = [\"{pattern}\"]\n\
             direction = \"both\"\naction = \"tag\"\nreason = \"reload storm {version}\"\n\n"
        )
    };
    rule("one", "STORM-ONE") + &rule("two", "STORM-TWO")
}

/// Replaces `path` at once (rename), so a reload never reads a half-written file.
fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write config");
    std::fs::rename(&tmp, path).expect("rename config");
}

fn reloads(metrics: &str) -> (f64, f64) {
    let m = scrape(metrics);
    let get = |r: &str| {
        sample(
            &m,
            &format!(r#"sgemilter_config_reloads_total{{result="{r}"}}"#),
        )
    };
    (get("success").unwrap_or(0.0), get("error").unwrap_or(0.0))
}

#[test]
fn sighup_storm_under_load_drops_nothing_and_never_half_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    for v in ["a", "b"] {
        std::fs::create_dir_all(dir.path().join(format!("rules-{v}"))).expect("mkdir");
        std::fs::write(
            dir.path().join(format!("rules-{v}/keywords.toml")),
            rules(v),
        )
        .expect("rules");
    }
    let (milter, metrics) = milter_with_metrics_in(
        dir,
        // Outbound mail shows its rule ids only with findings_outbound.
        "[headers]\nfindings_outbound = true\n[rules]\ndir = \"rules-a\"\n",
        &[],
    );
    let base = std::fs::read_to_string(milter.config_path()).expect("config");
    let head = base
        .split("[rules]")
        .next()
        .expect("metrics section")
        .to_string();

    let pf = Postfix::start(&milter.listen_addr());
    let port = pf.smtp_port();
    let done = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut session = SmtpSession::open(port).expect("SMTP session");
                let mut replies = Vec::new();
                for i in 0..PER_SENDER {
                    let seq = t * PER_SENDER + i;
                    let r = session
                        .send(
                            "alice@sender.example",
                            &["bob@recipient.example"],
                            &numbered(seq, "STORM-ONE and STORM-TWO"),
                        )
                        .expect("SMTP transaction");
                    replies.push((seq, r));
                }
                session.quit();
                replies
            })
        })
        .collect();
    let storm = {
        let done = Arc::clone(&done);
        let config_path = milter.config_path().to_path_buf();
        let pid = milter.pid();
        let metrics = metrics.clone();
        std::thread::spawn(move || {
            let (mut invalid_sent, mut hups) = (0usize, 0usize);
            while !done.load(Ordering::SeqCst) || hups < 6 {
                let text = match hups % 4 {
                    0 => format!("{head}[rules]\ndir = \"rules-b\"\n"),
                    2 => format!("{head}[rules]\ndir = \"rules-a\"\n"),
                    _ => format!("{head}[milter]\nno_such_key = 1\n"),
                };
                invalid_sent += usize::from(hups % 2 == 1);
                let before = reloads(&metrics);
                write_atomic(&config_path, &text);
                common::send_signal(pid, "HUP");
                hups += 1;
                // One reload per signal: wait for it, so none coalesces with the next.
                wait_for(WAIT, || {
                    let now = reloads(&metrics);
                    (now.0 + now.1 > before.0 + before.1).then_some(())
                })
                .expect("reload counted");
                std::thread::sleep(Duration::from_millis(200));
            }
            (invalid_sent, hups)
        })
    };
    let mut replies = Vec::new();
    for s in senders {
        replies.extend(s.join().expect("sender"));
    }
    done.store(true, Ordering::SeqCst);
    let (invalid_sent, hups) = storm.join().expect("storm thread");

    for (seq, r) in &replies {
        assert!(
            r.accepted,
            "message {seq}: {} (dropped or tempfailed during a reload)",
            r.reply
        );
    }
    let total = SENDERS * PER_SENDER;
    let delivered = pf.wait_delivered(total, WAIT);
    let mut seen = BTreeSet::new();
    let whole = |v: &str| -> BTreeSet<String> {
        [format!("storm.{v}.one"), format!("storm.{v}.two")].into()
    };
    for raw in &delivered {
        let seq = seq_of(raw).expect("numbered");
        seen.insert(seq);
        let findings: BTreeSet<String> = header_value(raw, "X-SGE-Findings")
            .unwrap_or_default()
            .split([',', ' ', ';'])
            .filter(|s| s.starts_with("storm."))
            .map(str::to_string)
            .collect();
        assert!(
            findings == whole("a") || findings == whole("b"),
            "message {seq} judged by a partial rule set: {findings:?}"
        );
    }
    assert_eq!(seen.len(), total);
    let (ok, failed) = reloads(&metrics);
    assert_eq!(
        failed as usize, invalid_sent,
        "every invalid reload counted"
    );
    assert_eq!(
        ok as usize,
        hups - invalid_sent,
        "every valid reload counted"
    );
    assert!(!milter.log().contains("panicked"), "{}", milter.log());
}
