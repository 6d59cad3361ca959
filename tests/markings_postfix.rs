//! Protective markings behind a real Postfix: route ceilings refuse at SMTP time
//! naming the recipients, the restricted group receives, inbound mail above the
//! system ceiling is refused, and the non-SMTP (sendmail) path is covered too
//! (NZISM 15.2.43.C.01). Needs root and postfix: run through `integration/test.sh`.

mod common;

use common::{MilterProcess, Postfix, PostfixOptions, WAIT, header_value};

/// Plain smtpd port = inbound; the ORIGINATING submission port = outbound.
// Markings alone: authentication (which would refuse unauthenticated mail claiming
// a local domain from outside, NZISM 15.2.37) has its own tests.
const CONFIG: &str = r#"
[auth]
enabled = false
[direction]
trusted_networks = []

[policy]
local_domains = ["agency.govt.nz"]
system_ceiling = "RESTRICTED"

[routes]
default_ceiling = "IN-CONFIDENCE"
restricted_group = ["partner.govt.nz"]
"#;

const SENDER: &str = "alice@agency.govt.nz";
const PARTNER: &str = "bob@partner.govt.nz";
const OUTSIDER: &str = "carol@example.com";

fn message(subject: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "From: Alice <{SENDER}>\r\nTo: Bob <{PARTNER}>\r\nSubject: {subject}\r\n{extra_headers}\
         Message-ID: <{}@agency.govt.nz>\r\nDate: Sun, 29 Nov 2026 10:00:00 +1300\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n",
        subject.len()
    )
    .into_bytes()
}

fn start() -> (MilterProcess, Postfix) {
    let milter = MilterProcess::start(CONFIG);
    let pf = Postfix::start_with(
        &milter.listen_addr(),
        PostfixOptions {
            submission_port: true,
            ..Default::default()
        },
    );
    (milter, pf)
}

#[test]
fn restricted_mail_reaches_the_restricted_group_only() {
    let (milter, pf) = start();

    let ok = pf.submit(SENDER, &[PARTNER], &message("plan [RESTRICTED]", ""));
    assert!(
        ok.accepted,
        "RESTRICTED to the restricted group refused: {}",
        ok.reply
    );

    let refused = pf.submit(
        SENDER,
        &[PARTNER, OUTSIDER],
        &message("plan two [RESTRICTED]", ""),
    );
    assert!(
        !refused.accepted,
        "RESTRICTED to an ordinary domain accepted"
    );
    assert!(refused.reply.starts_with("550"), "{}", refused.reply);
    assert!(
        refused.reply.contains("marking.route_ceiling") && refused.reply.contains(OUTSIDER),
        "reply does not name the recipient: {}",
        refused.reply
    );
    assert!(!refused.reply.contains(PARTNER), "{}", refused.reply);

    let delivered = pf.wait_delivered_envelopes(1, WAIT);
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].rcpts, vec![PARTNER.to_string()]);
    assert_eq!(
        header_value(&delivered[0].data, "Subject").as_deref(),
        Some("plan [RESTRICTED]")
    );
    // 15.2.40.C.02: the block is logged with rule, level and recipients.
    assert!(
        milter.wait_for_log("protective marking block", WAIT),
        "milter log:\n{}",
        milter.log()
    );
    let log = milter.log();
    assert!(
        log.contains("marking.route_ceiling") && log.contains(OUTSIDER),
        "{log}"
    );
}

#[test]
fn inbound_above_the_system_ceiling_is_refused_and_accepted_mail_is_traced() {
    let (_milter, pf) = start();

    let secret = pf.smtp(OUTSIDER, &[SENDER], &message("[SECRET] plan", ""));
    assert!(!secret.accepted, "inbound SECRET accepted");
    assert!(
        secret.reply.contains("marking.system_ceiling"),
        "{}",
        secret.reply
    );

    let restricted_header =
        "X-Protective-Marking: VER=2018.1, NS=govt.nz,\r\n SEC=RESTRICTED, CAVEAT=SH:BUDGET\r\n";
    // From the Restricted group, RESTRICTED must come over a TLS connector
    // (marking.restricted_no_tls, reject by default); this test Postfix has no TLS.
    let from_partner = pf.smtp(PARTNER, &[SENDER], &message("plan", restricted_header));
    assert!(!from_partner.accepted, "{}", from_partner.reply);
    assert!(
        from_partner.reply.contains("marking.restricted_no_tls"),
        "{}",
        from_partner.reply
    );

    // From elsewhere, within the system ceiling: accepted, traced and tagged.
    let restricted = pf.smtp(OUTSIDER, &[SENDER], &message("plan", restricted_header));
    assert!(restricted.accepted, "{}", restricted.reply);
    let delivered = pf.wait_delivered(1, WAIT);
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        header_value(&delivered[0], "X-SGE-Classification").as_deref(),
        Some("RESTRICTED; source=header; endorsements=BUDGET")
    );
    // Arrived in clear: tagged (marking.no_tls), the subject untouched.
    let findings = header_value(&delivered[0], "X-SGE-Findings").unwrap_or_default();
    assert!(findings.contains("marking.no_tls"), "{findings}");
    assert_eq!(
        header_value(&delivered[0], "Subject").as_deref(),
        Some("plan")
    );
}

#[test]
fn sendmail_path_is_held_to_the_same_ceilings() {
    let (_milter, pf) = start();
    // Rejected non-SMTP mail is bounced to the sender by cleanup, never delivered.
    let out = pf.sendmail(SENDER, &[PARTNER], &message("[TOP SECRET] plan", ""));
    assert!(out.success, "sendmail: {}", out.output);
    let ok = pf.sendmail(SENDER, &[PARTNER], &message("[IN-CONFIDENCE] notes", ""));
    assert!(ok.success, "sendmail: {}", ok.output);
    let delivered = pf.wait_delivered_envelopes(2, WAIT);
    let bounce = delivered
        .iter()
        .find(|m| m.mail_from.is_empty())
        .expect("a bounce for the TOP SECRET message");
    assert!(
        bounce.text().contains("marking.system_ceiling"),
        "{}",
        bounce.text()
    );
    assert!(
        delivered
            .iter()
            .any(|m| m.rcpts == [PARTNER.to_string()]
                && m.text().contains("[IN-CONFIDENCE] notes")),
        "IN-CONFIDENCE sendmail message not delivered"
    );
    assert!(
        delivered
            .iter()
            .all(|m| !(m.rcpts.contains(&PARTNER.to_string()) && m.text().contains("TOP SECRET"))),
        "TOP SECRET reached its recipient"
    );
}
