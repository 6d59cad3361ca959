//! A real Prometheus (Debian package `prometheus`) scrapes sge-milter every second
//! while mail of each kind goes through a real Postfix; then every PromQL expression
//! of the shipped Grafana dashboard is run against Prometheus's HTTP API and must
//! return data. Needs root, postfix and prometheus: run through `integration/test.sh`.

mod common;
mod dmarc_reports_support;
mod metrics_support;

use common::{Postfix, PostfixOptions, WAIT, free_port, wait_for};
use metrics_support::{dashboard_queries, grafana_dir, http_get, start_milter};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const REJECT: &str = "SGE-MILTER-TEST-REJECT-4F1C9";
const QUARANTINE: &str = "SGE-MILTER-TEST-QUARANTINE-8B27D";
const TAG: &str = "SGE-MILTER-TEST-TAG-2A6E0";
const FROM: &str = "alice@sender.example";
const TO: &str = "bob@recipient.example";

/// A Prometheus server on a free loopback port, killed by PID on drop.
struct Prometheus {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Scrapes `target` (HOST:PORT of /metrics) every second, with the shipped alert
    /// rules loaded (so a rule Prometheus refuses fails here too).
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::copy(
            grafana_dir().join("sge-milter-alerts.yml"),
            dir.path().join("sge-milter-alerts.yml"),
        )
        .expect("copy alert rules");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - sge-milter-alerts.yml\n\
             scrape_configs:\n  - job_name: sge-milter\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("write config");
        let mut last = String::new();
        for _ in 0..5 {
            let addr = format!("127.0.0.1:{}", free_port());
            let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
            let mut child = Command::new(prometheus_bin())
                .arg(format!(
                    "--config.file={}",
                    dir.path().join("prometheus.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .expect("prometheus starts");
            let ready = wait_for(WAIT, || {
                if let Ok(Some(_)) = child.try_wait() {
                    return Some(false);
                }
                std::net::TcpStream::connect(&addr)
                    .ok()
                    .and_then(|_| (http_get(&addr, "/-/ready").0 == 200).then_some(true))
            });
            if ready == Some(true) {
                return Prometheus { child, addr, dir };
            }
            let _ = child.kill();
            let _ = child.wait();
            last = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
            if !last.contains("address already in use") {
                break;
            }
        }
        panic!("prometheus did not start:\n{last}");
    }

    /// An instant query; returns the `data.result` array.
    fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let (status, body) = http_get(
            &self.addr,
            &format!("/api/v1/query?query={}", percent_encode(promql)),
        );
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{status} {e}: {body}"))?;
        if v["status"] != "success" {
            return Err(format!("{status}: {body}"));
        }
        Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus_bin() -> &'static str {
    ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| panic!("prometheus not found: apt-get install prometheus"))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Grafana's variables as the dashboard would expand them: every instance, a rate
/// window of several 1 s scrapes, the range of the test run.
fn expand_variables(expr: &str) -> String {
    expr.replace("$instance", ".*")
        .replace("$__rate_interval", "1m")
        .replace("$__range", "10m")
}

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice <{FROM}>\r\nTo: Bob <{TO}>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@sender.example>\r\nDate: Sun, 29 Nov 2026 10:00:00 +1300\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// The sum of a counter across its series, as Prometheus last scraped it.
fn scraped_total(prom: &Prometheus, metric: &str) -> f64 {
    prom.query(&format!("sum({metric})"))
        .ok()
        .and_then(|r| r.first().cloned())
        .and_then(|s| s["value"][1].as_str().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

#[test]
fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    // Nothing trusted: the plain smtpd port is inbound, the submission port outbound.
    // The resolver is a closed loopback port: inbound authentication gets temperror
    // (a DNS failure, counted as such) and, by config, still accepts the mail.
    // The posture monitor (one domain, failing on the closed resolver) and DMARC
    // report capture are on, so their dashboard rows have data too.
    let store = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "[direction]\ntrusted_networks = []\n\
         [dns]\nnameservers = [\"127.0.0.1:{}\"]\ntimeout = \"200ms\"\nattempts = 1\n\
         [auth]\ndns_error_action = \"accept\"\n\
         [policy]\nlocal_domains = [\"agency.test\"]\n\
         [posture]\ndomains = [\"posture.invalid\"]\n{}",
        free_port(),
        dmarc_reports_support::reports_section(
            &format!("file:{}", store.path().join("dmarc").display()),
            "sendmail:/nonexistent",
            "ingest_addresses = [\"dmarc@agency.test\"]",
        )
    );
    let (milter, metrics_addr) = start_milter(&config);
    let prom = Prometheus::start(&metrics_addr);
    let pf = Postfix::start_with(
        &milter.listen_addr(),
        PostfixOptions {
            submission_port: true,
            ..Default::default()
        },
    );

    let mut sent = 0.0;
    for (subject, body) in [
        (
            "clean [UNCLASSIFIED]",
            "Minutes of the meeting are attached.",
        ),
        ("tag [UNCLASSIFIED]", TAG),
        ("quarantine [UNCLASSIFIED]", QUARANTINE),
        ("reject [UNCLASSIFIED]", REJECT),
        // For the DLP scanner: a valid IRD number next to its keyword.
        (
            "dlp [UNCLASSIFIED]",
            "As requested, my IRD number is 136-410-132.",
        ),
        ("marked [IN-CONFIDENCE]", "Quarterly figures."),
    ] {
        pf.smtp(FROM, &[TO], &message(subject, body));
        pf.submit(FROM, &[TO], &message(&format!("out {subject}"), body));
        sent += 2.0;
    }
    // A DMARC aggregate report about our domain, mailed to the rua mailbox.
    let report = dmarc_reports_support::report(
        "mailbox.example",
        "prom-1",
        "agency.test",
        &[
            ("198.51.100.9", 4, "reject", "fail", "fail"),
            ("192.0.2.1", 6, "none", "pass", "pass"),
        ],
    );
    let mail = dmarc_reports_support::as_file(&dmarc_reports_support::report_mail(
        "dmarc@agency.test",
        &dmarc_reports_support::gzip(report.as_bytes()),
    ));
    pf.smtp("noreply@mailbox.example", &["dmarc@agency.test"], &mail);
    sent += 1.0;
    // Every decision reached Prometheus, then a few more scrapes so every rate window
    // holds samples from after the traffic.
    let seen = wait_for(WAIT, || {
        (scraped_total(&prom, "sgemilter_messages_total") >= sent).then_some(())
    });
    assert!(
        seen.is_some(),
        "Prometheus saw {} of {sent} messages\nmilter log:\n{}\nprometheus log:\n{}",
        scraped_total(&prom, "sgemilter_messages_total"),
        milter.log(),
        prom.log()
    );
    for family in [
        "sgemilter_posture_last_run_timestamp_seconds",
        "sgemilter_dmarc_report_messages_total",
    ] {
        let seen = wait_for(WAIT, || (scraped_total(&prom, family) > 0.0).then_some(()));
        assert!(
            seen.is_some(),
            "no {family} in Prometheus\nmilter log:\n{}",
            milter.log()
        );
    }
    std::thread::sleep(Duration::from_secs(3));

    let up = prom.query("up{job=\"sge-milter\"}").expect("up query");
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(up[0]["value"][1], "1");

    let mut empty = Vec::new();
    let mut failed = Vec::new();
    let queries = dashboard_queries();
    assert!(!queries.is_empty());
    for (title, expr) in &queries {
        let promql = expand_variables(expr);
        match prom.query(&promql) {
            Ok(result) if result.is_empty() => empty.push(format!("{title}: {promql}")),
            Ok(_) => {}
            Err(e) => failed.push(format!("{title}: {promql}: {e}")),
        }
    }
    assert!(
        failed.is_empty(),
        "queries Prometheus refused:\n{}",
        failed.join("\n")
    );
    assert!(
        empty.is_empty(),
        "dashboard queries without data:\n{}",
        empty.join("\n")
    );

    // Both directions and the refused and held messages are on the traffic panel.
    let by_action = prom
        .query("sum by (direction, action) (sgemilter_messages_total) > 0")
        .expect("query");
    for (direction, action) in [
        ("inbound", "accept"),
        ("inbound", "reject"),
        ("outbound", "quarantine"),
        ("outbound", "tag"),
    ] {
        assert!(
            by_action
                .iter()
                .any(|s| s["metric"]["direction"] == direction && s["metric"]["action"] == action),
            "no {direction} {action} in {by_action:?}"
        );
    }
}
