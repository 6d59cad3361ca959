//! The shipped Grafana dashboard, alert rules and Prometheus example: promtool checks
//! and unit tests, and every metric they use is one sge-milter exports.

mod common;
mod metrics_support;

use metrics_support::{dashboard_queries, grafana_dir, run_promtool};
use serde_json::Value;
use sge_milter::envelope::Envelope;
use sge_milter::metrics::Metrics;
use sge_milter::policy::{Action, Decision, Finding, FindingKind};
use sge_milter::scan::MessageFacts;
use std::collections::BTreeSet;
use std::time::Duration;

fn dashboard() -> Value {
    let path = grafana_dir().join("sge-milter-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("dashboard JSON readable");
    serde_json::from_str(&text).expect("dashboard is valid JSON")
}

/// Family names (`# TYPE` lines) sge-milter exports once every family has a sample.
fn exported_families() -> BTreeSet<String> {
    let m = Metrics::new();
    let d = Decision::from_findings(vec![
        Finding::new("r", FindingKind::Keyword, Action::Tag, "x"),
        Finding::new("d", FindingKind::Dlp, Action::Tag, "x"),
    ]);
    sge_milter::report::record_decision(
        &m,
        &Envelope::default(),
        &d,
        &MessageFacts::default(),
        1,
        Duration::ZERO,
    );
    // Only ingested DMARC reports create series in this family.
    m.dmarc_report_messages(["agency.test", "fail", "fail", "reject"], 1);
    // Posture results have a sample once the monitor has run.
    m.connectors.posture_check("good.example", "spf", 1.0);
    String::from_utf8(m.render())
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// `sgemilter_*` names used in `text`, with histogram suffixes stripped.
fn referenced_families(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"sgemilter_[a-z_]+").unwrap();
    re.find_iter(text)
        .map(|m| {
            let n = m.as_str();
            ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| n.strip_suffix(s))
                .unwrap_or(n)
                .to_string()
        })
        .collect()
}

#[test]
fn alert_rules_pass_promtool_check_and_unit_tests() {
    let dir = grafana_dir();
    let out = run_promtool(&["check", "rules", "sge-milter-alerts.yml"], None, &dir);
    assert!(out.contains("10 rules found"), "{out}");
    let out = run_promtool(&["test", "rules", "sge-milter-alerts.test.yml"], None, &dir);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn example_prometheus_config_passes_promtool() {
    run_promtool(&["check", "config", "prometheus.yml"], None, &grafana_dir());
}

#[test]
fn dashboard_uses_datasource_and_instance_variables() {
    let d = dashboard();
    let vars = d["templating"]["list"].as_array().expect("templating");
    let ds = vars
        .iter()
        .find(|v| v["name"] == "DS_PROMETHEUS")
        .expect("data source variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let inst = vars
        .iter()
        .find(|v| v["name"] == "instance")
        .expect("instance variable");
    assert_eq!(inst["type"], "query");
    for p in d["panels"].as_array().unwrap() {
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(
            p["datasource"]["uid"], "${DS_PROMETHEUS}",
            "panel {}",
            p["title"]
        );
    }
    let queries = dashboard_queries();
    assert!(queries.len() >= 20, "{}", queries.len());
    for (title, expr) in &queries {
        assert!(
            expr.contains(r#"instance=~"$instance""#),
            "panel {title:?} ignores the instance selector: {expr}"
        );
    }
}

#[test]
fn dashboard_has_the_panels_admins_need() {
    let d = dashboard();
    let titles: Vec<String> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap_or("").to_lowercase())
        .collect();
    for wanted in [
        "messages/s by action and direction",
        "reject and quarantine ratio",
        "top rules",
        "classification mix",
        "dlp detections",
        "auth pass rate",
        "message latency p50 / p95 / p99",
        "dns lookup latency",
        "cache hit ratio",
        "active milter connections",
        "config reloads",
        "errors",
        "failing dmarc as our domains",
        "tls policy lookups",
        "mta-sts fetches",
        "posture checks",
        "direction hints",
        "in-flight byte budget refusals",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "no panel {wanted:?} in {titles:?}"
        );
    }
}

#[test]
fn dashboard_and_alerts_only_use_exported_metrics() {
    let exported = exported_families();
    let dash = std::fs::read_to_string(grafana_dir().join("sge-milter-dashboard.json")).unwrap();
    let alerts = std::fs::read_to_string(grafana_dir().join("sge-milter-alerts.yml")).unwrap();
    let used: BTreeSet<String> = referenced_families(&dash)
        .into_iter()
        .chain(referenced_families(&alerts))
        .collect();
    let unknown: Vec<_> = used.difference(&exported).collect();
    assert!(unknown.is_empty(), "not exported: {unknown:?}");
    // And the dashboard shows every family but the build/config plumbing.
    let dash_used = referenced_families(&dash);
    for family in &exported {
        if family.starts_with("sgemilter_") && family != "sgemilter_config_last_reload_success" {
            assert!(dash_used.contains(family), "{family} is on no panel");
        }
    }
}
