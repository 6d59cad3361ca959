//! Reports about our own domains: `dmarc-reports ingest` reads real-world-shaped
//! .xml, .xml.gz, .zip and .eml reports, refuses malformed ones with a clear
//! error, counts a report once; `summary` lists the failing sources; a report
//! mailed to `ingest_addresses` through the milter is delivered and counted in
//! `sgemilter_dmarc_report_messages_total`.

mod common;
mod dmarc_reports_support;
mod metrics_support;

use common::{WAIT, wait_for};
use dmarc_reports_support::{as_file, dmarc_reports, gzip, report, report_mail, send_raw};
use indymilter_test::Status;
use std::io::Write;
use std::path::Path;

fn zip_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap().into_inner()
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p.display().to_string()
}

fn config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let text = format!(
        "[policy]\nlocal_domains = [\"agency.test\"]\n[auth]\nenabled = false\n\n{}",
        dmarc_reports_support::reports_section(
            &format!("file:{}", dir.join("store").display()),
            "sendmail:/nonexistent",
            extra
        )
    );
    let path = dir.join("sge-milter.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn ingest_reads_good_reports_refuses_bad_ones_and_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = config(d, "");
    let r1 = report(
        "bigmail.example",
        "r1",
        "agency.test",
        &[
            ("203.0.113.5", 7, "reject", "fail", "fail"),
            ("192.0.2.30", 20, "none", "pass", "pass"),
        ],
    );
    let r2 = report(
        "other.example",
        "r2",
        "agency.test",
        &[
            ("203.0.113.5", 3, "quarantine", "fail", "fail"),
            ("198.51.100.9", 1, "none", "fail", "fail"),
        ],
    );
    let r3 = report(
        "zip.example",
        "r3",
        "elsewhere.example",
        &[("203.0.113.77", 9, "reject", "fail", "fail")],
    );
    let r4 = report(
        "mailbox.example",
        "r4",
        "agency.test",
        &[("198.51.100.9", 4, "reject", "fail", "fail")],
    );
    let good = [
        write(d, "r1.xml", r1.as_bytes()),
        write(d, "r2.xml.gz", &gzip(r2.as_bytes())),
        write(
            d,
            "r3.zip",
            &zip_of("zip.example!elsewhere.example!1!2.xml", r3.as_bytes()),
        ),
        write(
            d,
            "r4.eml",
            &as_file(&report_mail("dmarc@agency.test", &gzip(r4.as_bytes()))),
        ),
        write(d, "r1-again.xml", r1.as_bytes()),
    ];
    let mut truncated = gzip(r1.as_bytes());
    truncated.truncate(truncated.len() / 2);
    let bad = [
        write(d, "truncated.xml.gz", &truncated),
        write(d, "not-a-report.xml", b"<html><body>hello</body></html>"),
        write(d, "no-xml.zip", &zip_of("readme.txt", b"nothing here")),
        write(
            d,
            "no-report.eml",
            b"From: a@b.example\r\nSubject: hi\r\n\r\njust text\r\n",
        ),
        write(
            d,
            "no-policy.xml",
            r1.replace("<policy_published>", "<x>")
                .replace("</policy_published>", "</x>")
                .as_bytes(),
        ),
    ];
    let mut args = vec!["ingest"];
    args.extend(good.iter().chain(&bad).map(String::as_str));
    let out = dmarc_reports(&cfg, &args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "some files were bad: {stdout}{stderr}"
    );
    assert!(
        stdout.contains("r1.xml: report from bigmail.example about agency.test: 27 messages"),
        "{stdout}"
    );
    assert!(
        stdout.contains("r2.xml.gz: report from other.example about agency.test: 4 messages"),
        "{stdout}"
    );
    assert!(
        stdout.contains("r3.zip: report from zip.example about elsewhere.example: 9 messages"),
        "{stdout}"
    );
    assert!(
        stdout.contains("r4.eml: report from mailbox.example about agency.test: 4 messages"),
        "{stdout}"
    );
    assert!(
        stdout.contains("r1-again.xml") && stdout.contains("already ingested"),
        "{stdout}"
    );
    for b in &bad {
        assert!(stderr.contains(b.as_str()), "no error for {b}: {stderr}");
    }
    assert!(stderr.contains("bad gzip data"), "{stderr}");
    assert!(stderr.contains("holds no .xml"), "{stderr}");
    assert!(stderr.contains("policy_published"), "{stderr}");

    let out = dmarc_reports(&cfg, &["summary", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let agency = s
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "agency.test")
        .expect("agency.test");
    assert_eq!(agency["messages"], 35, "{agency}");
    assert_eq!(agency["failed"], 15, "{agency}");
    let top: Vec<(&str, u64)> = agency["top_failing_sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["source_ip"].as_str().unwrap(),
                s["messages"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(top, [("203.0.113.5", 10), ("198.51.100.9", 5)]);
    let text = dmarc_reports(&cfg, &["summary"]);
    assert!(
        String::from_utf8_lossy(&text.stdout)
            .contains("agency.test: 35 messages reported, 15 failed DMARC")
    );
}

#[test]
fn reports_mailed_to_the_rua_mailbox_are_delivered_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = config(d, "ingest_addresses = [\"dmarc@agency.test\"]");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let (milter, metrics) = metrics_support::start_milter(&text);
    let listen = milter.listen_addr();
    let ip = "192.0.2.200".parse().unwrap();

    let r = report(
        "mailbox.example",
        "m1",
        "agency.test",
        &[("198.51.100.9", 4, "reject", "fail", "fail")],
    );
    let (headers, body) = report_mail("dmarc@agency.test", &gzip(r.as_bytes()));
    let headers: Vec<(&str, String)> = headers.into_iter().collect();
    let s = send_raw(
        &listen,
        ip,
        "noreply@mailbox.example",
        "dmarc@agency.test",
        &headers,
        &body,
    );
    assert!(
        matches!(s, Status::Continue | Status::Accept),
        "still delivered: {s:?}"
    );
    // Broken report mail: delivered too, and counted as an error.
    let s = send_raw(
        &listen,
        ip,
        "noreply@mailbox.example",
        "dmarc@agency.test",
        &headers,
        b"--b1--\r\n",
    );
    assert!(
        matches!(s, Status::Continue | Status::Accept),
        "still delivered: {s:?}"
    );

    let line = wait_for(WAIT, || {
        metrics_support::scrape(&metrics)
            .lines()
            .find(|l| {
                l.starts_with("sgemilter_dmarc_report_messages_total{")
                    && l.contains("domain=\"agency.test\"")
            })
            .map(str::to_string)
    })
    .expect("the report is counted");
    for label in ["dkim=\"fail\"", "spf=\"fail\"", "disposition=\"reject\""] {
        assert!(line.contains(label), "{line}");
    }
    assert!(line.ends_with(" 4"), "{line}");
    let errors = wait_for(WAIT, || {
        metrics_support::sample(
            &metrics_support::scrape(&metrics),
            "sgemilter_errors_total{kind=\"dmarc_report\"}",
        )
        .filter(|v| *v >= 1.0)
    });
    assert!(errors.is_some(), "the broken report is counted as an error");
    // The report is kept for `summary` too.
    let out = dmarc_reports(&cfg, &["summary", "--json"]);
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        s[0]["top_failing_sources"][0]["source_ip"], "198.51.100.9",
        "{s}"
    );
}
