//! sge-milter behind a real Postfix (Debian package): SMTP and sendmail paths,
//! reject/quarantine/tag outcomes and `milter_default_action`. Needs root and
//! postfix installed: run through `integration/test.sh`.

mod common;

use common::{MilterProcess, Postfix, PostfixOptions, WAIT, header_value};

const REJECT: &str = "SGE-MILTER-TEST-REJECT-4F1C9";
const QUARANTINE: &str = "SGE-MILTER-TEST-QUARANTINE-8B27D";
const TAG: &str = "SGE-MILTER-TEST-TAG-2A6E0";

const FROM: &str = "alice@sender.example";
const TO: &str = "bob@recipient.example";

/// The default config: 127.0.0.0/8 is trusted, so test mail is outbound.
const DEFAULT_CONFIG: &str = "";
/// Nothing trusted: mail on the plain smtpd port is inbound; the ORIGINATING port
/// is outbound.
const INBOUND_CONFIG: &str = "[direction]\ntrusted_networks = []\n";
/// The default config, with the rule ids in X-SGE-Findings on outbound mail too.
const FINDINGS_OUT_CONFIG: &str = "[headers]\nfindings_outbound = true\n";

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice <{FROM}>\r\nTo: Bob <{TO}>\r\nSubject: {subject} [UNCLASSIFIED]\r\n\
         Message-ID: <{subject}@sender.example>\r\nDate: Sun, 29 Nov 2026 10:00:00 +1300\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn with_subject<'a>(msgs: &'a [Vec<u8>], subject: &str) -> Option<&'a Vec<u8>> {
    msgs.iter().find(|m| {
        header_value(m, "Subject").is_some_and(|s| s == format!("{subject} [UNCLASSIFIED]"))
    })
}

#[test]
fn clean_message_is_delivered_and_tagged_message_carries_the_header() {
    let milter = MilterProcess::start(FINDINGS_OUT_CONFIG);
    let pf = Postfix::start(&milter.listen_addr());

    let clean = pf.smtp(FROM, &[TO], &message("clean", "Nothing to see here."));
    assert!(clean.accepted, "clean message refused: {}", clean.reply);
    let tagged = pf.smtp(
        FROM,
        &[TO],
        &message("tagged", &format!("Body with {TAG} inside.")),
    );
    assert!(tagged.accepted, "tagged message refused: {}", tagged.reply);

    let delivered = pf.wait_delivered(2, WAIT);
    let clean = with_subject(&delivered, "clean").expect("clean message delivered");
    assert_eq!(header_value(clean, "X-SGE-Findings"), None);
    let tagged = with_subject(&delivered, "tagged").expect("tagged message delivered");
    let findings = header_value(tagged, "X-SGE-Findings").unwrap_or_else(|| {
        panic!(
            "no X-SGE-Findings header on the tagged message:\n{}",
            String::from_utf8_lossy(tagged)
        )
    });
    assert!(
        findings.contains("sge.test.tag"),
        "X-SGE-Findings: {findings}"
    );
    // Written with the customary space after the colon (LEADING_SPACE handling).
    assert!(
        String::from_utf8_lossy(tagged).contains("\r\nX-SGE-Findings: sge.test.tag"),
        "{}",
        String::from_utf8_lossy(tagged)
    );
    assert!(
        milter.log().contains("action=tag"),
        "milter log:\n{}",
        milter.log()
    );
}

#[test]
fn reject_rule_is_refused_at_smtp_with_the_milter_reply() {
    let milter = MilterProcess::start(DEFAULT_CONFIG);
    let pf = Postfix::start(&milter.listen_addr());

    let out = pf.smtp(
        FROM,
        &[TO],
        &message("rejected", &format!("Contains {REJECT}.")),
    );
    assert!(!out.accepted, "reject string accepted: {}", out.reply);
    assert_eq!(out.code, 550, "reply: {}", out.reply);
    assert!(
        out.reply.contains("5.7.1") && out.reply.contains("[sge:sge.test.reject]"),
        "the client must see the milter's reply text, got: {}",
        out.reply
    );
    // Nothing of the rejected message reaches the sink: a clean message sent after
    // it is the only delivery.
    let clean = pf.smtp(FROM, &[TO], &message("after", "clean"));
    assert!(clean.accepted, "{}", clean.reply);
    let delivered = pf.wait_delivered(1, WAIT);
    assert!(with_subject(&delivered, "rejected").is_none());
    assert!(
        pf.log().contains("milter-reject"),
        "postfix log:\n{}",
        pf.log()
    );
}

#[test]
fn quarantine_rule_leaves_the_message_on_hold() {
    let milter = MilterProcess::start(DEFAULT_CONFIG);
    let pf = Postfix::start(&milter.listen_addr());

    let out = pf.smtp(
        FROM,
        &[TO],
        &message("held", &format!("Contains {QUARANTINE}.")),
    );
    assert!(
        out.accepted,
        "quarantined mail is accepted, then held: {}",
        out.reply
    );
    let held = pf.wait_hold(1, WAIT);
    assert_eq!(held.len(), 1);
    let content = pf.postcat(&held[0]);
    assert!(content.contains(QUARANTINE), "held message:\n{content}");
    assert!(
        pf.log().contains("milter triggers HOLD action"),
        "postfix log:\n{}",
        pf.log()
    );
    let clean = pf.smtp(FROM, &[TO], &message("after", "clean"));
    assert!(clean.accepted, "{}", clean.reply);
    let delivered = pf.wait_delivered(1, WAIT);
    assert!(with_subject(&delivered, "held").is_none());
}

#[test]
fn sendmail_submissions_pass_the_milter() {
    let milter = MilterProcess::start(FINDINGS_OUT_CONFIG);
    let pf = Postfix::start(&milter.listen_addr());

    let tagged = pf.sendmail(
        FROM,
        &[TO],
        &message("sendmail-tag", &format!("Has {TAG}.")),
    );
    assert!(tagged.success, "sendmail: {}", tagged.output);
    // Rejected non-SMTP mail is not delivered: Postfix's cleanup bounces it to the
    // sender with the milter's reason (sendmail itself has already exited 0).
    let rejected = pf.sendmail(
        FROM,
        &[TO],
        &message("sendmail-reject", &format!("Has {REJECT}.")),
    );
    assert!(rejected.success, "sendmail: {}", rejected.output);

    let delivered = pf.wait_delivered_envelopes(2, WAIT);
    let bounce = delivered
        .iter()
        .find(|m| m.mail_from.is_empty() && m.rcpts == [FROM.to_string()])
        .expect("a bounce to the sender of the rejected message");
    assert!(
        bounce.text().contains("[sge:sge.test.reject]"),
        "{}",
        bounce.text()
    );
    let tagged = delivered
        .iter()
        .find(|m| header_value(&m.data, "Subject").is_some_and(|s| s.starts_with("sendmail-tag")))
        .expect("tagged sendmail message delivered");
    assert_eq!(tagged.rcpts, vec![TO.to_string()]);
    let findings =
        header_value(&tagged.data, "X-SGE-Findings").expect("X-SGE-Findings on non-SMTP mail");
    assert!(findings.contains("sge.test.tag"));
    assert!(
        pf.wait_for_log("milter-reject", WAIT),
        "postfix log:\n{}",
        pf.log()
    );
    assert!(
        pf.delivered()
            .iter()
            .all(|m| !(m.rcpts.contains(&TO.to_string()) && m.text().contains(REJECT))),
        "rejected sendmail message reached its recipient"
    );
}

#[test]
fn inbound_and_outbound_ports_reach_the_milter_with_their_direction() {
    let milter = MilterProcess::start(INBOUND_CONFIG);
    let pf = Postfix::start_with(
        &milter.listen_addr(),
        PostfixOptions {
            submission_port: true,
            ..Default::default()
        },
    );
    let inbound = pf.smtp(FROM, &[TO], &message("in", TAG));
    assert!(inbound.accepted, "{}", inbound.reply);
    let outbound = pf.submit(FROM, &[TO], &message("out", TAG));
    assert!(outbound.accepted, "{}", outbound.reply);
    pf.wait_delivered(2, WAIT);
    let log = milter.log();
    assert!(log.contains("direction=inbound"), "milter log:\n{log}");
    assert!(log.contains("direction=outbound"), "milter log:\n{log}");
}

/// Every `X-SGE-Findings` value in the header block of a delivered message.
fn findings_headers(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n")
        .filter_map(|l| {
            l.get(..15)
                .filter(|n| n.eq_ignore_ascii_case("X-SGE-Findings:"))
                .map(|_| l[15..].trim().to_string())
        })
        .collect()
}

#[test]
fn findings_header_is_never_forged_and_stays_inside_by_default() {
    // Keyword rules alone: authentication would add findings of its own.
    let milter = MilterProcess::start(
        "[direction]\ntrusted_networks = []\n[auth]\nenabled = false\n[policy]\nmarking_enforcement = \"off\"\n",
    );
    let pf = Postfix::start_with(
        &milter.listen_addr(),
        PostfixOptions {
            submission_port: true,
            ..Default::default()
        },
    );
    let forged = |subject: &str, body: &str| {
        [
            b"X-SGE-Findings: forged.rule\r\n".as_slice(),
            &message(subject, body),
        ]
        .concat()
    };
    for (port, subject, body) in [
        ("smtp", "in-tagged", TAG),
        ("smtp", "in-clean", "Nothing to see."),
        ("submit", "out-tagged", TAG),
    ] {
        let raw = forged(subject, body);
        let out = match port {
            "smtp" => pf.smtp(FROM, &[TO], &raw),
            _ => pf.submit(FROM, &[TO], &raw),
        };
        assert!(out.accepted, "{subject}: {}", out.reply);
    }
    let delivered = pf.wait_delivered(3, WAIT);
    let findings =
        |subject: &str| findings_headers(with_subject(&delivered, subject).expect("delivered"));
    // Inbound: the forged copy is gone, ours is the only one.
    assert_eq!(findings("in-tagged"), ["sge.test.tag"]);
    assert_eq!(findings("in-clean"), Vec::<String>::new());
    // Outbound: no rule ids leave, not even forged ones.
    assert_eq!(findings("out-tagged"), Vec::<String>::new());
}

#[test]
fn milter_down_with_default_action_tempfail_gives_451() {
    let addr = {
        let milter = MilterProcess::start(DEFAULT_CONFIG);
        milter.listen_addr()
        // Stopped here.
    };
    let pf = Postfix::start(&addr);
    let out = pf.smtp(FROM, &[TO], &message("down", "clean"));
    assert!(!out.accepted);
    assert_eq!(out.code, 451, "reply: {}", out.reply);
    assert!(out.reply.contains("4.7.1"), "reply: {}", out.reply);
}

#[test]
fn milter_down_with_default_action_accept_delivers() {
    let addr = {
        let milter = MilterProcess::start(DEFAULT_CONFIG);
        milter.listen_addr()
    };
    let pf = Postfix::start_with(
        &addr,
        PostfixOptions {
            milter_default_action: "accept".into(),
            ..Default::default()
        },
    );
    let out = pf.smtp(FROM, &[TO], &message("down-accept", REJECT));
    assert!(out.accepted, "{}", out.reply);
    let delivered = pf.wait_delivered(1, WAIT);
    assert!(with_subject(&delivered, "down-accept").is_some());
}

#[test]
fn malformed_messages_through_postfix_get_a_decision() {
    let mut milter = MilterProcess::start(DEFAULT_CONFIG);
    let pf = Postfix::start(&milter.listen_addr());

    // 8-bit junk and a NUL in headers; Postfix passes them on (or cleans them up).
    let mut junk = b"From: alice@sender.example\r\nTo: bob@recipient.example\r\n\
        Subject: caf\xe9 \xff\xfe =?utf-8?B?////?=\r\nX-Junk: a\x00b \x80\x81\r\n\r\n"
        .to_vec();
    junk.extend_from_slice(format!("{TAG}\r\n").as_bytes());
    // A 1 MB single-line header (Postfix keeps the first header_size_limit bytes).
    let mut huge = format!("From: {FROM}\r\nTo: {TO}\r\nSubject: huge\r\nX-Huge: ").into_bytes();
    huge.extend(std::iter::repeat_n(b'h', 1024 * 1024));
    huge.extend_from_slice(format!("\r\n\r\n{TAG}\r\n").as_bytes());
    // 100-deep multipart nesting, unterminated, with broken base64 at the bottom.
    let mut deep = format!(
        "From: {FROM}\r\nTo: {TO}\r\nSubject: deep\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"d0\"\r\n\r\n"
    );
    for level in 1..100 {
        deep.push_str(&format!(
            "--d{}\r\nContent-Type: multipart/mixed; boundary=\"d{level}\"\r\n\r\n",
            level - 1
        ));
    }
    deep.push_str(
        "--d99\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         !!!not*base64===\r\nU0dF\r\n",
    );

    for (name, raw) in [("junk", junk), ("huge", huge), ("deep", deep.into_bytes())] {
        let out = pf.smtp(FROM, &[TO], &raw);
        // A milter failure would show as Postfix's default action: 451 4.7.1.
        assert_ne!(
            out.code / 100,
            4,
            "{name}: {}\nmilter log:\n{}",
            out.reply,
            milter.log()
        );
        assert!(
            milter.is_running(),
            "{name} killed the milter:\n{}",
            milter.log()
        );
    }
    let out = pf.smtp(FROM, &[TO], &message("after", REJECT));
    assert_eq!(out.code, 550, "the milter still decides: {}", out.reply);
    assert!(!milter.log().contains("panicked"), "{}", milter.log());
}
