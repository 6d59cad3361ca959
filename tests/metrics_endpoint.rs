//! The `/metrics` endpoint of a running `sge-milter run`: messages driven through
//! the milter protocol show up in the families, the output passes
//! `promtool check metrics`, reloads and connections are counted, and a busy metrics
//! address stops start-up with a clear error.

mod common;
mod metrics_support;

use common::client::send_message;
use common::{WAIT, free_port, sge_milter_bin, wait_for};
use metrics_support::{run_promtool, sample, scrape, start_milter};
use std::process::Command;

const REJECT: &str = "SGE-MILTER-TEST-REJECT-4F1C9";
const QUARANTINE: &str = "SGE-MILTER-TEST-QUARANTINE-8B27D";
const TAG: &str = "SGE-MILTER-TEST-TAG-2A6E0";

/// A message marked UNCLASSIFIED (unmarked mail is refused by the default policy)
/// whose body is `text`.
fn marked(text: &str) -> (Vec<(&'static str, &'static str)>, Vec<u8>) {
    (
        vec![
            ("From", "alice@sender.example"),
            ("To", "bob@recipient.example"),
            ("Subject", "test [UNCLASSIFIED]"),
        ],
        format!("{text}\r\n").into_bytes(),
    )
}

fn wait_sample(addr: &str, prefix: &str, want: f64) -> String {
    wait_for(WAIT, || {
        let m = scrape(addr);
        (sample(&m, prefix) == Some(want)).then_some(m)
    })
    .unwrap_or_else(|| {
        panic!(
            "{prefix} never became {want}:\n{}",
            scrape(addr)
                .lines()
                .filter(|l| l.starts_with(prefix.split('{').next().unwrap_or(prefix)))
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

#[test]
fn messages_show_in_metrics_and_output_passes_promtool() {
    let (milter, addr) = start_milter("[log]\nformat = \"json\"\n");
    for body in ["nothing to see here", TAG, QUARANTINE, REJECT] {
        let (headers, body) = marked(body);
        send_message(&milter.listen_addr(), &headers, &body);
    }
    // The client closes after each message: the gauge returns to zero.
    let m = wait_sample(&addr, "sgemilter_connections_active", 0.0);
    // 127.0.0.0/8 is trusted by default, so the test client's mail is outbound.
    for action in ["accept", "tag", "quarantine", "reject"] {
        assert_eq!(
            sample(
                &m,
                &format!(r#"sgemilter_messages_total{{action="{action}",direction="outbound"}}"#)
            ),
            Some(1.0),
            "{action}:\n{m}"
        );
    }
    for (rule, action) in [
        ("sge.test.tag", "tag"),
        ("sge.test.quarantine", "quarantine"),
        ("sge.test.reject", "reject"),
    ] {
        assert_eq!(
            sample(
                &m,
                &format!(r#"sgemilter_rule_matches_total{{action="{action}",rule="{rule}"}}"#)
            ),
            Some(1.0),
            "{rule}:\n{m}"
        );
    }
    assert_eq!(
        sample(
            &m,
            r#"sgemilter_classification_total{direction="outbound",level="UNCLASSIFIED"}"#
        ),
        Some(4.0),
        "{m}"
    );
    assert_eq!(sample(&m, "sgemilter_message_size_bytes_count"), Some(4.0));
    assert_eq!(
        sample(&m, "sgemilter_message_duration_seconds_count"),
        Some(4.0)
    );
    assert_eq!(
        sample(&m, "sgemilter_eom_duration_seconds_count"),
        Some(4.0)
    );
    assert!(m.contains("process_resident_memory_bytes"), "{m}");
    assert!(!m.contains("sender.example") && !m.contains("recipient.example"));

    let out = run_promtool(&["check", "metrics"], Some(&m), milter.config_dir());
    assert!(!out.contains("problem"), "{out}");

    // The decision line, one per message, carries the fields admins grep for.
    let log = milter.log();
    let decisions: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 4, "{log}");
    for d in &decisions {
        for key in [
            "queue_id",
            "direction",
            "action",
            "rules",
            "classification",
            "auth",
            "duration_ms",
        ] {
            assert!(d.get(key).is_some(), "{key} missing in {d}");
        }
        assert_eq!(d["classification"], "UNCLASSIFIED");
    }
    assert!(decisions.iter().any(|d| d["rules"] == "sge.test.reject"));
}

#[test]
fn text_decision_line_carries_classification_auth_and_duration() {
    let (milter, _addr) = start_milter("");
    let (headers, body) = marked(TAG);
    send_message(&milter.listen_addr(), &headers, &body);
    assert!(milter.wait_for_log("decision", WAIT), "{}", milter.log());
    let log = milter.log();
    let line = log
        .lines()
        .find(|l| l.contains("decision"))
        .expect("decision line");
    for field in [
        "queue_id=",
        "direction=outbound",
        "action=tag",
        "rules=sge.test.tag",
        "classification=\"UNCLASSIFIED\"",
        "auth=-",
        "duration_ms=",
    ] {
        assert!(line.contains(field), "{field} missing in {line}");
    }
}

#[test]
fn connections_gauge_follows_open_connections() {
    let (milter, addr) = start_milter("");
    let listen = milter.listen_addr();
    let target = listen.strip_prefix("inet:").unwrap().to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let conn = runtime.block_on(async {
        let mut c = indymilter_test::TestConnection::open(target).await.unwrap();
        c.connect("client.example", ([127, 0, 0, 1], 40000))
            .await
            .unwrap();
        c
    });
    wait_sample(&addr, "sgemilter_connections_active", 1.0);
    runtime.block_on(conn.close()).unwrap();
    wait_sample(&addr, "sgemilter_connections_active", 0.0);
}

#[test]
fn reloads_are_counted_and_a_failed_one_is_flagged_until_a_good_one() {
    let (milter, addr) = start_milter("");
    let good = std::fs::read_to_string(milter.config_path()).unwrap();
    milter.write_config(&format!("{good}[milter]\nbogus = 1\n"));
    milter.signal("HUP");
    let m = wait_sample(
        &addr,
        r#"sgemilter_config_reloads_total{result="error"}"#,
        1.0,
    );
    assert_eq!(
        sample(&m, "sgemilter_config_last_reload_success"),
        Some(0.0)
    );
    milter.write_config(&good);
    milter.signal("HUP");
    let m = wait_sample(
        &addr,
        r#"sgemilter_config_reloads_total{result="success"}"#,
        1.0,
    );
    assert_eq!(
        sample(&m, "sgemilter_config_last_reload_success"),
        Some(1.0)
    );
}

#[test]
fn busy_metrics_address_fails_start_up_with_a_clear_error() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = held.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sge-milter.toml");
    std::fs::write(&cfg, format!("[metrics]\nlisten = \"{busy}\"\n")).unwrap();
    let out = Command::new(sge_milter_bin())
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .arg("--listen")
        .arg(format!("inet:127.0.0.1:{}", free_port()))
        .output()
        .expect("sge-milter runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen for /metrics on {busy}")),
        "{stderr}"
    );
}
