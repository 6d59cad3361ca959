//! Fault: the DNS server stops answering during inbound load. knotd serves the test
//! zone on loopback; it is frozen (SIGSTOP: queries time out, the hard case, unlike a
//! closed port that fails at once) while messages arrive through a real Postfix.
//! Expected: every message during the outage gets the milter's own temporary
//! failure (`dns_error_action`, 451 4.7.x) within Postfix's milter timeouts, none is
//! delivered (authentication never passes by default), and once DNS answers again
//! the same messages are accepted and delivered.

mod auth_fixture;
mod common;
mod metrics_support;

use auth_fixture::AuthFixture;
use common::faults::{milter_with_metrics, pid_with_arg, send_until_final};
use common::{Postfix, PostfixOptions, SmtpOutcome, WAIT, send_signal};
use metrics_support::{sample, scrape};
use std::time::Duration;

/// One inbound message from a domain of its own (under none.test, which has no SPF
/// or DMARC record), so no cached DNS answer can decide it.
fn message(seq: usize) -> (String, Vec<u8>) {
    let from = format!("user@m{seq}.none.test");
    let raw = format!(
        "From: {from}\r\nTo: alice@agency.test\r\nSubject: dns outage {seq} [UNCLASSIFIED]\r\n\
         Message-ID: <dns-{seq}@none.test>\r\n\r\nhello {seq}\r\n"
    );
    (from, raw.into_bytes())
}

/// Sends messages `seqs` at once, one SMTP client each.
fn send_all(pf: &Postfix, seqs: std::ops::Range<usize>) -> Vec<SmtpOutcome> {
    let port = pf.smtp_port();
    let threads: Vec<_> = seqs
        .map(|seq| {
            std::thread::spawn(move || {
                let (from, raw) = message(seq);
                common::smtp::send(port, &from, &["alice@agency.test"], &raw)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("sender"))
        .collect()
}

#[test]
fn dns_outage_tempfails_inbound_mail_and_mail_flows_again_after() {
    let f = AuthFixture::start();
    let knot_conf = f.dir.path().join("knot.conf");
    let knot_pid = pid_with_arg(&knot_conf.display().to_string()).expect("knotd pid");
    let config = format!(
        "[direction]\ntrusted_networks = []\n\
         [policy]\nlocal_domains = [\"agency.test\"]\n\
         [dns]\nnameservers = [\"{}\"]\ntimeout = \"500ms\"\nattempts = 2\n",
        f.dns_addr()
    );
    let (milter, metrics) = milter_with_metrics(&config, &[]);
    let pf = Postfix::start_with(
        &milter.listen_addr(),
        PostfixOptions {
            extra_main_cf: vec![
                "milter_command_timeout = 30s".into(),
                "milter_content_timeout = 30s".into(),
            ],
            ..Default::default()
        },
    );
    // DNS up: accepted.
    for r in send_all(&pf, 0..4) {
        assert!(r.accepted, "DNS up: {}\n{}", r.reply, milter.log());
    }
    pf.wait_delivered(4, WAIT);

    send_signal(knot_pid, "STOP");
    let during = send_all(&pf, 4..12);
    send_signal(knot_pid, "CONT");
    for r in &during {
        assert_eq!(r.code, 451, "DNS down: {}", r.reply);
        assert!(
            r.reply.contains("[sge:"),
            "the milter's own answer (within Postfix's milter timeouts), not milter_default_action: {}",
            r.reply
        );
    }
    let m = scrape(&metrics);
    assert!(
        sample(
            &m,
            r#"sgemilter_auth_results_total{method="spf",result="temperror"}"#
        )
        .is_some_and(|n| n >= 8.0),
        "{m}"
    );
    assert!(
        sample(
            &m,
            r#"sgemilter_messages_total{action="tempfail",direction="inbound"}"#
        )
        .is_some_and(|n| n >= 8.0),
        "{m}"
    );
    assert_eq!(pf.delivered().len(), 4, "nothing passed during the outage");

    // DNS back: the same messages, retried by their senders, are accepted.
    let port = pf.smtp_port();
    for seq in 4..12 {
        let (from, raw) = message(seq);
        let (r, _) = send_until_final(
            port,
            &from,
            &["alice@agency.test"],
            &raw,
            Duration::from_millis(500),
        );
        assert!(
            r.accepted,
            "mail did not flow again after DNS returned: {}\n{}",
            r.reply,
            milter.log()
        );
    }
    let delivered = pf.wait_delivered(12, WAIT);
    assert_eq!(delivered.len(), 12);
}
