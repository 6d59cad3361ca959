//! DLP behind a real Postfix: an outbound unmarked message with a valid IRD number
//! is refused at SMTP with the rule in the reply (and the number nowhere in the
//! reply or the milter log); the same message with a wrong check digit is
//! delivered. Needs root and postfix installed: run through `integration/test.sh`.

mod common;

use common::{MilterProcess, Postfix, WAIT};

const FROM: &str = "alice@agency.govt.nz";
const TO: &str = "bob@recipient.example";

/// 127.0.0.0/8 is trusted (default), so test mail is outbound. Markings in monitor
/// mode: an unmarked message is tagged rather than refused before DLP reads it.
const CONFIG: &str = "[policy]\nmarking_enforcement = \"monitor\"\n";

fn message(subject: &str, ird: &str) -> Vec<u8> {
    format!(
        "From: Alice <{FROM}>\r\nTo: Bob <{TO}>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@agency.govt.nz>\r\nDate: Sun, 29 Nov 2026 10:00:00 +1300\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Kia ora Bob,\r\n\r\nAs requested, my IRD number is {ird}.\r\n\r\nAlice\r\n"
    )
    .into_bytes()
}

#[test]
fn unmarked_outbound_ird_is_rejected_and_a_wrong_check_digit_is_delivered() {
    let milter = MilterProcess::start(CONFIG);
    let pf = Postfix::start(&milter.listen_addr());

    let valid = "136-410-132";
    let out = pf.smtp(FROM, &[TO], &message("valid-ird", valid));
    assert!(!out.accepted, "valid IRD number accepted: {}", out.reply);
    assert_eq!(out.code, 550, "reply: {}", out.reply);
    assert!(
        out.reply.contains("[sge:dlp.nz_identifiers.unmarked]"),
        "{}",
        out.reply
    );
    assert!(
        !out.reply.contains(valid) && !out.reply.contains("136410132"),
        "the reply echoes the identifier: {}",
        out.reply
    );

    let invalid = "136-410-133";
    let out = pf.smtp(FROM, &[TO], &message("invalid-ird", invalid));
    assert!(
        out.accepted,
        "IRD-shaped number with a wrong check digit refused: {}",
        out.reply
    );
    let delivered = pf.wait_delivered(1, WAIT);
    assert_eq!(delivered.len(), 1);
    let body = String::from_utf8_lossy(&delivered[0]);
    assert!(body.contains("Subject: invalid-ird"), "{body}");
    assert!(body.contains(invalid), "{body}");

    let log = milter.log();
    assert!(log.contains("dlp.nz_identifiers.unmarked"), "{log}");
    assert!(
        !log.contains(valid) && !log.contains("136410132"),
        "the milter log echoes the identifier:\n{log}"
    );
}
