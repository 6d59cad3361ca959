//! Fault: a panic anywhere in the message path. With fault injection armed (debug
//! builds only, `SGE_MILTER_FAULT_INJECTION=1`, see src/fault.rs) a message from
//! `panic-<point>@...` panics at that point: MAIL FROM, a header, end of headers, a
//! body chunk, end of message and DKIM signing. Through a real Postfix, each such
//! message must get `internal_error_action` (451 4.3.0) and be counted, while the
//! next message on the same SMTP session (and so the same milter connection) is
//! checked, signed and delivered, and the milter process keeps running.

mod common;
mod metrics_support;

use common::faults::{SmtpSession, TAG, milter_with_metrics};
use common::{Postfix, PostfixOptions, WAIT, header_value, sge_milter_bin, wait_for};
use metrics_support::{sample, scrape};
use std::process::Command;

const POINTS: [&str; 6] = ["mail", "header", "eoh", "body", "eom", "sign"];

fn message(from: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: bob@recipient.example\r\nSubject: panic test [UNCLASSIFIED]\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// The `sign` panic comes in a message with a gzip attachment: such a message
/// finishes off the async workers (`milter::offload`), so the panic crosses the
/// blocking pool and must be contained the same way.
fn message_with_attachment(from: &str, body: &str) -> Vec<u8> {
    use base64::Engine as _;
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"meeting notes\r\n").expect("gzip into a Vec");
    let gz = base64::engine::general_purpose::STANDARD.encode(gz.finish().expect("gzip"));
    format!(
        "From: {from}\r\nTo: bob@recipient.example\r\nSubject: panic test [UNCLASSIFIED]\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\n{body}\r\n\
         --b\r\nContent-Type: application/gzip; name=\"notes.gz\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{gz}\r\n--b--\r\n"
    )
    .into_bytes()
}

#[test]
fn a_panic_at_any_point_tempfails_that_message_only_and_is_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("agency.ed25519.pem");
    let out = Command::new(sge_milter_bin())
        .args([
            "dkim-keygen",
            "--type",
            "ed25519",
            "--domain",
            "agency.govt.nz",
        ])
        .args(["--selector", "sge", "--out"])
        .arg(&key)
        .output()
        .expect("run dkim-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = format!(
        "[headers]\nfindings_outbound = true\n\
         [policy]\nlocal_domains = [\"agency.govt.nz\"]\n\
         [[auth.dkim_keys]]\ndomain = \"agency.govt.nz\"\nselector = \"sge\"\nkey_file = \"{}\"\n",
        key.display()
    );
    let (mut milter, metrics) =
        milter_with_metrics(&config, &[("SGE_MILTER_FAULT_INJECTION", "1")]);
    let pid = milter.pid();
    let pf = Postfix::start_with(
        &milter.listen_addr(),
        PostfixOptions {
            submission_port: true,
            ..Default::default()
        },
    );
    let port = pf.submission_port().expect("submission port");
    for point in POINTS {
        let mut session = SmtpSession::open(port).expect("SMTP session");
        let from = format!("panic-{point}@agency.govt.nz");
        let panicking = match point {
            "sign" => message_with_attachment(&from, TAG),
            _ => message(&from, TAG),
        };
        let r = session
            .send(&from, &["bob@recipient.example"], &panicking)
            .expect("panic message answered");
        assert_eq!(
            r.code,
            451,
            "{point}: {}\nmilter log:\n{}",
            r.reply,
            milter.log()
        );
        assert!(r.reply.contains("4.3.0"), "{point}: {}", r.reply);
        // The same SMTP session, so the same milter connection: checked as usual.
        let from = "alice@agency.govt.nz";
        let r = session
            .send(from, &["bob@recipient.example"], &message(from, TAG))
            .expect("next message answered");
        assert!(
            r.accepted,
            "{point}: next message: {}\n{}",
            r.reply,
            milter.log()
        );
        session.quit();
    }
    let delivered = pf.wait_delivered(POINTS.len(), WAIT);
    assert_eq!(
        delivered.len(),
        POINTS.len(),
        "only the clean messages arrive"
    );
    for raw in &delivered {
        assert!(header_value(raw, "X-SGE-Findings").is_some_and(|v| v.contains("sge.test.tag")));
        assert!(
            header_value(raw, "DKIM-Signature").is_some(),
            "signed after a signing panic"
        );
        assert_eq!(
            header_value(raw, "From").as_deref(),
            Some("alice@agency.govt.nz")
        );
    }
    assert!(milter.is_running(), "the milter survived every panic");
    assert_eq!(milter.pid(), pid);
    assert_eq!(
        milter.log().matches("injected fault: panic at").count(),
        POINTS.len()
    );
    let m = wait_for(WAIT, || {
        let m = scrape(&metrics);
        (sample(&m, "sgemilter_connections_active") == Some(0.0)).then_some(m)
    })
    .expect("connections_active back to 0");
    assert_eq!(
        sample(&m, r#"sgemilter_errors_total{kind="internal"}"#),
        Some(POINTS.len() as f64),
        "{m}"
    );
    assert!(
        pf.queue().is_empty(),
        "nothing left in the queue: {:?}",
        pf.queue()
    );
}
