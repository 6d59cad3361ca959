//! Content coverage behind a real Postfix (issue 10): identifiers in a CSV labelled
//! application/octet-stream, in a zip inside a zip and in a PDF (FlateDecode) are
//! refused at SMTP; an
//! encrypted PDF is held (hold queue) with the part and the reason in a header
//! of the held message; controls without identifiers are delivered. Needs root and postfix: run
//! through `integration/test.sh`.

mod common;

use common::corpus::*;
use common::{MilterProcess, Postfix, WAIT};

const FROM: &str = "alice@agency.example";
const TO: &str = "bob@external.example";
const CONFIG: &str = "[policy]\nmarking_enforcement = \"monitor\"\n";

#[test]
fn identifiers_in_containers_are_refused_and_controls_delivered() {
    let milter = MilterProcess::start(CONFIG);
    let pf = Postfix::start(&milter.listen_addr());

    let csv = attach("application/octet-stream", "staff.dat", ird_csv());
    let doc = docx(&ird_csv());
    let inner = zip(&[("staff.docx", &doc[..])]);
    let nested = attach(
        "application/zip",
        "all.zip",
        zip(&[("inner.zip", &inner[..])]),
    );
    for (name, eml) in [("csv as octet-stream", csv), ("zip in zip", nested)] {
        let out = pf.smtp(FROM, &[TO], &eml);
        assert!(!out.accepted, "{name} accepted: {}", out.reply);
        assert_eq!(out.code, 550, "{name}: {}", out.reply);
        assert!(out.reply.contains("[sge:dlp."), "{name}: {}", out.reply);
    }

    let counts = attach("application/octet-stream", "counts.dat", counts_csv());
    let out = pf.smtp(FROM, &[TO], &counts);
    assert!(out.accepted, "control refused: {}", out.reply);
    let delivered = pf.wait_delivered(1, WAIT);
    assert_eq!(delivered.len(), 1);
}

#[test]
fn an_encrypted_pdf_is_held_naming_the_part() {
    let milter = MilterProcess::start(CONFIG);
    let pf = Postfix::start(&milter.listen_addr());
    let eml = attach("application/pdf", "secret.pdf", encrypted_pdf());
    let out = pf.smtp(FROM, &[TO], &eml);
    assert!(
        out.accepted,
        "held mail is accepted, then held: {}",
        out.reply
    );
    let held = pf.wait_hold(1, WAIT);
    assert_eq!(held.len(), 1);
    let content = pf.postcat(&held[0]);
    let header = content
        .lines()
        .find(|l| l.starts_with("X-SGE-Uninspectable:"))
        .unwrap_or_else(|| panic!("held message:\n{content}"));
    assert!(
        header.contains("secret.pdf") && header.contains("encrypted PDF"),
        "{header}"
    );
}
