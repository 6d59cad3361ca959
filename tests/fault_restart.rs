//! Faults that take a component away under load, through a real Postfix with
//! `milter_default_action = tempfail` and 16 concurrent SMTP senders that retry a
//! temporary failure like a sending MTA:
//! - the milter is killed with SIGKILL mid-load and started again: every message
//!   that must be refused is refused (none delivered), every other one is delivered
//!   exactly once and carries the milter's tag (it was checked), none is lost;
//! - Postfix is stopped and started under load: the same counts hold, and no milter
//!   connection is left behind (`connections_active` returns to 0).

mod common;
mod metrics_support;

use common::faults::{REJECT, TAG, milter_with_metrics, numbered, send_until_final, seq_of};
use common::{MilterProcess, Postfix, WAIT, header_value, wait_for};
use metrics_support::{sample, scrape};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const SENDERS: usize = 16;
const PER_SENDER: usize = 8;

fn must_reject(seq: usize) -> bool {
    seq.is_multiple_of(5)
}

/// What the senders saw: final acceptances, final refusals, temporary failures.
struct LoadResult {
    accepted: BTreeSet<usize>,
    rejected: BTreeSet<usize>,
    temporary: usize,
}

/// Runs the senders against `port`; `fault` runs on this thread once `started`
/// messages got a final answer, while the senders carry on.
fn load_with_fault(port: u16, fault: impl FnOnce()) -> LoadResult {
    let answered = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|t| {
            let answered = Arc::clone(&answered);
            std::thread::spawn(move || {
                let mut out = Vec::new();
                for i in 0..PER_SENDER {
                    let seq = t * PER_SENDER + i;
                    let body = if must_reject(seq) { REJECT } else { TAG };
                    let (o, temp) = send_until_final(
                        port,
                        "alice@sender.example",
                        &["bob@recipient.example"],
                        &numbered(seq, body),
                        Duration::from_millis(200),
                    );
                    answered.fetch_add(1, Ordering::SeqCst);
                    out.push((seq, o.accepted, temp));
                }
                out
            })
        })
        .collect();
    wait_for(WAIT, || {
        (answered.load(Ordering::SeqCst) >= SENDERS).then_some(())
    })
    .expect("load under way");
    fault();
    let mut r = LoadResult {
        accepted: BTreeSet::new(),
        rejected: BTreeSet::new(),
        temporary: 0,
    };
    for s in senders {
        for (seq, accepted, temp) in s.join().expect("sender thread") {
            if accepted {
                r.accepted.insert(seq);
            } else {
                r.rejected.insert(seq);
            }
            r.temporary += temp;
        }
    }
    r
}

/// Every message got the final answer its content calls for, and what Postfix
/// delivered is exactly the accepted set, each checked by the milter; once each
/// unless `at_least_once` (Postfix stopped mid-delivery may deliver a message again,
/// which SMTP allows: never lost, perhaps duplicated).
fn assert_nothing_lost_nothing_unchecked(
    pf: &Postfix,
    r: &LoadResult,
    milter: &MilterProcess,
    at_least_once: bool,
) {
    let all: BTreeSet<usize> = (0..SENDERS * PER_SENDER).collect();
    let refuse: BTreeSet<usize> = all.iter().copied().filter(|s| must_reject(*s)).collect();
    assert_eq!(r.rejected, refuse, "refused exactly the reject messages");
    let accept: BTreeSet<usize> = all.difference(&refuse).copied().collect();
    assert_eq!(r.accepted, accept, "accepted every other message");
    let distinct = || -> BTreeSet<usize> {
        pf.delivered()
            .iter()
            .filter_map(|m| seq_of(&m.data))
            .collect()
    };
    wait_for(WAIT, || (distinct().len() >= accept.len()).then_some(()));
    let mut seen = BTreeSet::new();
    for m in pf.delivered() {
        let raw = &m.data;
        let seq = seq_of(raw).expect("numbered message");
        assert!(
            seen.insert(seq) || at_least_once,
            "message {seq} delivered twice"
        );
        assert!(!must_reject(seq), "message {seq} should have been refused");
        let findings = header_value(raw, "X-SGE-Findings").unwrap_or_default();
        assert!(
            findings.contains("sge.test.tag"),
            "message {seq} was delivered unchecked\n{}",
            milter.log()
        );
    }
    assert_eq!(seen, accept, "delivered exactly the accepted messages");
    let empty = wait_for(WAIT, || pf.queue().is_empty().then_some(()));
    assert!(empty.is_some(), "queue not empty: {:?}", pf.queue());
}

/// The tag header marks a checked message; test mail (from 127.0.0.1) is outbound,
/// which gets it only when asked.
const CONFIG: &str = "[headers]\nfindings_outbound = true\n";

#[test]
fn sigkill_mid_load_loses_nothing_and_passes_nothing_unchecked() {
    let mut milter = MilterProcess::start(CONFIG);
    let pf = Postfix::start(&milter.listen_addr());
    let r = load_with_fault(pf.smtp_port(), || {
        milter.kill9();
        // Down long enough for sessions in flight to hit the gap.
        std::thread::sleep(Duration::from_secs(1));
        milter.respawn();
    });
    assert!(r.temporary > 0, "the kill hit messages in flight");
    assert!(
        pf.log().contains("451 4.7.1"),
        "Postfix applied milter_default_action = tempfail:\n{}",
        pf.log()
    );
    assert_nothing_lost_nothing_unchecked(&pf, &r, &milter, false);
}

#[test]
fn postfix_stop_start_under_load_leaves_no_connections_behind() {
    let (milter, metrics) = milter_with_metrics(CONFIG, &[]);
    let pf = Postfix::start(&milter.listen_addr());
    let r = load_with_fault(pf.smtp_port(), || {
        pf.stop();
        pf.start_again();
    });
    assert_nothing_lost_nothing_unchecked(&pf, &r, &milter, true);
    let m = wait_for(WAIT, || {
        let m = scrape(&metrics);
        (sample(&m, "sgemilter_connections_active") == Some(0.0)).then_some(m)
    });
    assert!(m.is_some(), "orphaned connections:\n{}", scrape(&metrics));
}
