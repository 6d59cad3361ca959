//! Authentication behind a real Postfix: outbound mail arrives at the sink with
//! DKIM signatures that an independent verifier (dkimpy) accepts against the test
//! DNS; inbound mail gets one Authentication-Results header on top with forged ones
//! removed, and a DMARC p=reject failure is refused at SMTP. Needs root, postfix,
//! knot and dkimpy: run through `integration/test.sh`.

mod auth_fixture;
mod common;

use auth_fixture::{AUTHSERV_ID, AuthFixture};
use common::{MilterProcess, Postfix, PostfixOptions, WAIT};
use std::process::{Command, Stdio};

fn msg(from: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <bob@recipient.example>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@x.test>\r\nDate: Sun, 29 Nov 2026 10:00:00 +1300\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\
         X-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=UNCLASSIFIED\r\n\r\nHello from {from}.\r\n"
    )
    .into_bytes()
}

fn headers(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_string();
    let mut out: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.push_str(line);
            }
        } else {
            out.push(line.to_string());
        }
    }
    out
}

fn subject_is(raw: &[u8], s: &str) -> bool {
    headers(raw).iter().any(|h| h == &format!("Subject: {s}"))
}

fn dkimpy_sign(f: &AuthFixture, raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/dkimsign.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(&f.dkim_rsa)
        .arg("rsa")
        .arg("dkim.test")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with dkimpy");
    child.stdin.take().unwrap().write_all(raw).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "dkimsign.py failed");
    out.stdout
}

#[test]
fn signed_outbound_verifies_and_inbound_is_authenticated() {
    let f = AuthFixture::start();
    let cfg = f.signing_config(
        "milter.toml",
        "agency.test",
        &[("sge", &f.agency_rsa), ("sgeed", &f.agency_ed)],
    );
    let text = format!(
        "[direction]\ntrusted_networks = []\n\n{}",
        std::fs::read_to_string(&cfg).unwrap()
    );
    let milter = MilterProcess::start(&text);
    let pf = Postfix::start_with(
        &milter.listen_addr(),
        PostfixOptions {
            submission_port: true,
            ..Default::default()
        },
    );

    // Outbound (ORIGINATING port): signed with both keys.
    let out = pf.submit(
        "chief@agency.test",
        &["bob@recipient.example"],
        &msg("chief@agency.test", "outbound"),
    );
    assert!(out.accepted, "{}", out.reply);

    // Inbound DMARC p=reject failure (reject.test does not list 127.0.0.1): 550 at SMTP.
    let out = pf.smtp(
        "a@reject.test",
        &["bob@recipient.example"],
        &msg("a@reject.test", "spoofed"),
    );
    assert!(!out.accepted, "{}", out.reply);
    assert!(
        out.reply.contains("550") && out.reply.contains("DMARC"),
        "{}",
        out.reply
    );

    // Inbound, authenticated; carries a forged result claiming our authserv-id.
    let mut forged = format!(
        "Authentication-Results: {AUTHSERV_ID}; dkim=pass header.d=agency.test\r\n\
         Authentication-Results: elsewhere.example; spf=pass\r\n"
    )
    .into_bytes();
    forged.extend(msg("a@loop.test", "inbound"));
    let out = pf.smtp("a@loop.test", &["bob@recipient.example"], &forged);
    assert!(out.accepted, "{}", out.reply);

    // Inbound, signed by a third party (dkimpy) with simple/simple over a folded
    // Subject: passes only if the milter rebuilds the header folding exactly.
    let folded = b"From: <a@dkim.test>\r\nTo: <bob@recipient.example>\r\nSubject: folded\r\n  across\r\n\tlines\r\nMessage-ID: <folded@dkim.test>\r\nDate: Sun, 29 Nov 2026 10:00:00 +1300\r\n\r\nsimple body\r\n";
    let signed = dkimpy_sign(&f, folded);
    let out = pf.smtp("a@loop.test", &["bob@recipient.example"], &signed);
    assert!(
        out.accepted,
        "simple/simple signature failed DMARC: {}",
        out.reply
    );

    let delivered = pf.wait_delivered(3, WAIT);
    let outbound = delivered
        .iter()
        .find(|m| subject_is(m, "outbound"))
        .expect("outbound delivered");
    let sigs = headers(outbound)
        .into_iter()
        .filter(|h| h.starts_with("DKIM-Signature:"))
        .count();
    assert_eq!(sigs, 2, "{}", String::from_utf8_lossy(outbound));
    assert!(
        f.dkimpy_verifies(outbound),
        "dkimpy rejected:\n{}",
        String::from_utf8_lossy(outbound)
    );

    let folded = delivered
        .iter()
        .find(|m| String::from_utf8_lossy(m).contains("Subject: folded\r\n  across\r\n\tlines"))
        .expect("folded message delivered with its folding intact");
    let folded_ar = headers(folded)
        .into_iter()
        .find(|h| h.starts_with(&format!("Authentication-Results: {AUTHSERV_ID}")))
        .expect("results header");
    assert!(
        folded_ar.contains("dkim=pass") && folded_ar.contains("dmarc=pass"),
        "{folded_ar}"
    );

    let inbound = delivered
        .iter()
        .find(|m| subject_is(m, "inbound"))
        .expect("inbound delivered");
    let ar: Vec<String> = headers(inbound)
        .into_iter()
        .filter(|h| h.starts_with("Authentication-Results:"))
        .collect();
    let ours: Vec<&String> = ar.iter().filter(|h| h.contains(AUTHSERV_ID)).collect();
    assert_eq!(ours.len(), 1, "{ar:?}");
    assert!(
        ours[0].contains("spf=pass") && ours[0].contains("dmarc=pass"),
        "{ar:?}"
    );
    assert!(
        !ours[0].contains("header.d=agency.test"),
        "forged kept: {ar:?}"
    );
    assert!(
        ar.iter().any(|h| h.contains("elsewhere.example")),
        "foreign results are kept: {ar:?}"
    );
    // Ours is above every other header the message brought.
    let pos = |needle: &str| {
        headers(inbound)
            .iter()
            .position(|h| h.starts_with(needle))
            .unwrap()
    };
    assert!(
        pos(&format!("Authentication-Results: {AUTHSERV_ID}"))
            < pos("Authentication-Results: elsewhere"),
        "{}",
        String::from_utf8_lossy(inbound)
    );
}
