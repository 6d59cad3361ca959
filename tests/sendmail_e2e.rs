//! sge-milter behind a real Sendmail (Debian's sendmail 8.17, unpacked privately
//! by `integration/sendmail-prepare.sh`), wired with the README's
//! `INPUT_MAIL_FILTER` line: the same outcomes as the Postfix tests — the
//! rule-named reply at SMTP, quarantine in sendmail's quarantine, added headers in
//! the delivered copy, an outbound DKIM signature that dkimpy verifies, and
//! `F=T` / `F=R` when the milter is down. Needs root: run through
//! `integration/test.sh`.

mod auth_fixture;
mod common;

use auth_fixture::AuthFixture;
use common::sendmail::{FilterFlag, Sendmail};
use common::{MilterProcess, WAIT, free_port, header_value};

const REJECT: &str = "SGE-MILTER-TEST-REJECT-4F1C9";
const QUARANTINE: &str = "SGE-MILTER-TEST-QUARANTINE-8B27D";
const TAG: &str = "SGE-MILTER-TEST-TAG-2A6E0";

const FROM: &str = "alice@sender.example";
const TO: &str = "bob@recipient.example";

fn message(from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice <{from}>\r\nTo: Bob <{TO}>\r\nSubject: {subject} [UNCLASSIFIED]\r\n\
         Message-ID: <{subject}@sender.example>\r\nDate: Sun, 29 Nov 2026 10:00:00 +1300\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn subject_is(raw: &[u8], subject: &str) -> bool {
    header_value(raw, "Subject").is_some_and(|s| s == format!("{subject} [UNCLASSIFIED]"))
}

#[test]
fn reject_reply_names_the_rule_and_tagged_mail_carries_the_header() {
    // 127.0.0.0/8 is trusted by default: mail from the test client is outbound,
    // and outbound mail carries rule ids only with findings_outbound.
    let milter = MilterProcess::start("[headers]\nfindings_outbound = true\n");
    let sm = Sendmail::start(&milter.listen_addr(), FilterFlag::Tempfail);

    let refused = sm.smtp(FROM, &[TO], &message(FROM, "refused", REJECT));
    assert!(!refused.accepted, "reject test string accepted");
    assert_eq!(refused.code, 550, "{}", refused.reply);
    assert!(
        refused.reply.contains("[sge:sge.test.reject]"),
        "sendmail did not pass the milter's reply through: {}",
        refused.reply
    );

    let clean = sm.smtp(FROM, &[TO], &message(FROM, "clean", "Nothing to see."));
    assert!(clean.accepted, "{}", clean.reply);
    let tagged = sm.smtp(FROM, &[TO], &message(FROM, "tagged", TAG));
    assert!(tagged.accepted, "{}", tagged.reply);

    let delivered = sm.wait_delivered(2, WAIT);
    assert_eq!(delivered.len(), 2, "only clean and tagged are delivered");
    let clean = delivered.iter().find(|m| subject_is(m, "clean")).unwrap();
    assert_eq!(header_value(clean, "X-SGE-Findings"), None);
    let tagged = delivered
        .iter()
        .find(|m| subject_is(m, "tagged"))
        .expect("tagged message delivered");
    let findings = header_value(tagged, "X-SGE-Findings").unwrap_or_else(|| {
        panic!(
            "no X-SGE-Findings on the delivered copy:\n{}",
            String::from_utf8_lossy(tagged)
        )
    });
    assert!(findings.contains("sge.test.tag"), "{findings}");
}

#[test]
fn quarantined_message_lands_in_sendmails_quarantine() {
    let milter = MilterProcess::start("");
    let sm = Sendmail::start(&milter.listen_addr(), FilterFlag::Tempfail);

    let held = sm.smtp(FROM, &[TO], &message(FROM, "held", QUARANTINE));
    assert!(
        held.accepted,
        "quarantine is accepted then held: {}",
        held.reply
    );
    let listing = common::wait_for(WAIT, || {
        let l = sm.quarantine_listing();
        l.contains("sge.test.quarantine").then_some(l)
    })
    .unwrap_or_else(|| {
        panic!(
            "not in sendmail's quarantine (mailq -qQ):\n{}\nmilter log:\n{}",
            sm.quarantine_listing(),
            milter.log()
        )
    });
    assert!(listing.contains(FROM), "{listing}");
    // Held, not delivered: a clean message sent after it arrives alone.
    let clean = sm.smtp(FROM, &[TO], &message(FROM, "after", "clean"));
    assert!(clean.accepted, "{}", clean.reply);
    let delivered = sm.wait_delivered(1, WAIT);
    assert!(
        delivered.iter().all(|m| !subject_is(m, "held")),
        "quarantined message was delivered"
    );
    // Released as the README says, it is delivered.
    let queue_id = listing
        .lines()
        .skip_while(|l| !l.starts_with("-----Q-ID"))
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no queue id in:\n{listing}"));
    sm.release(queue_id);
    let delivered = sm.wait_delivered(2, WAIT);
    assert!(
        delivered.iter().any(|m| subject_is(m, "held")),
        "released message not delivered"
    );
}

#[test]
fn outbound_dkim_signature_verifies_with_dkimpy() {
    let f = AuthFixture::start();
    let cfg = f.signing_config(
        "milter.toml",
        "agency.test",
        &[("sge", &f.agency_rsa), ("sgeed", &f.agency_ed)],
    );
    let milter = MilterProcess::start(&std::fs::read_to_string(&cfg).unwrap());
    let sm = Sendmail::start(&milter.listen_addr(), FilterFlag::Tempfail);

    let from = "chief@agency.test";
    let out = sm.smtp(
        from,
        &[TO],
        &message(from, "signed", "Signed by the gateway."),
    );
    assert!(out.accepted, "{}\nmilter log:\n{}", out.reply, milter.log());
    let delivered = sm.wait_delivered(1, WAIT);
    let signed = &delivered[0];
    let text = String::from_utf8_lossy(signed);
    assert_eq!(
        text.matches("DKIM-Signature:").count(),
        2,
        "RSA and Ed25519 signatures expected:\n{text}"
    );
    assert!(f.dkimpy_verifies(signed), "dkimpy rejected:\n{text}");
}

#[test]
fn milter_down_tempfails_with_f_t_and_rejects_with_f_r() {
    // Nothing listens on this port.
    let down = format!("inet:127.0.0.1:{}", free_port());

    let tempfail = Sendmail::start(&down, FilterFlag::Tempfail);
    let out = tempfail.smtp(FROM, &[TO], &message(FROM, "tf", "hello"));
    assert!(!out.accepted);
    assert_eq!(out.code / 100, 4, "F=T must tempfail: {}", out.reply);

    let reject = Sendmail::start(&down, FilterFlag::Reject);
    let out = reject.smtp(FROM, &[TO], &message(FROM, "rj", "hello"));
    assert!(!out.accepted);
    assert_eq!(out.code / 100, 5, "F=R must reject: {}", out.reply);
}

#[test]
fn daemon_name_marks_the_submission_daemon_as_outbound() {
    // Nothing trusted: only the daemon name makes mail outbound.
    let milter = MilterProcess::start(
        "[direction]\ntrusted_networks = []\noutbound_daemon_names = [\"MSA\"]\n",
    );
    let mta = Sendmail::start(&milter.listen_addr(), FilterFlag::Tempfail);
    let msa = Sendmail::start_named(&milter.listen_addr(), FilterFlag::Tempfail, "MSA");

    let (inbound, outbound) = ("in@sender.example", "out@sender.example");
    let sent = mta.smtp(inbound, &[TO], &message(inbound, "in", "hello"));
    assert!(sent.accepted, "{}", sent.reply);
    let sent = msa.smtp(outbound, &[TO], &message(outbound, "out", "hello"));
    assert!(sent.accepted, "{}", sent.reply);
    mta.wait_delivered(1, WAIT);
    msa.wait_delivered(1, WAIT);
    let log = milter.log();
    let direction_of = |from: &str| {
        log.lines()
            .find(|l| l.contains(" decision ") && l.contains(&format!("from=\"{from}\"")))
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("direction=")))
            .map(str::to_string)
    };
    assert_eq!(
        direction_of(inbound).as_deref(),
        Some("direction=inbound"),
        "{log}"
    );
    assert_eq!(
        direction_of(outbound).as_deref(),
        Some("direction=outbound"),
        "{log}"
    );
}
