//! `dmarc-reports summary`: who sends mail as our domains and fails DMARC,
//! from the reports ingested so far.

use super::store::IngestedRow;
use serde::Serialize;
use std::collections::BTreeMap;

/// Sources listed per domain.
pub const TOP: usize = 10;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct DomainSummary {
    pub domain: String,
    /// Messages reported about this domain.
    pub messages: u64,
    /// Of those, messages that failed DMARC (neither aligned DKIM nor SPF passed).
    pub failed: u64,
    /// The sources with the most failing messages, most first.
    pub top_failing_sources: Vec<Source>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Source {
    pub source_ip: String,
    pub messages: u64,
    /// Messages per disposition the receivers applied.
    pub dispositions: BTreeMap<String, u64>,
    /// The organisations that reported them.
    pub reported_by: Vec<String>,
}

/// Summarises ingested rows per domain (domains in name order).
pub fn summarise(rows: &[(IngestedRow, u64)]) -> Vec<DomainSummary> {
    let mut domains: BTreeMap<&str, (u64, u64, BTreeMap<&str, Source>)> = BTreeMap::new();
    for (row, n) in rows {
        let d = domains.entry(&row.domain).or_default();
        d.0 += n;
        if row.dkim == "pass" || row.spf == "pass" {
            continue;
        }
        d.1 += n;
        let s = d.2.entry(&row.source_ip).or_insert_with(|| Source {
            source_ip: row.source_ip.clone(),
            messages: 0,
            dispositions: BTreeMap::new(),
            reported_by: Vec::new(),
        });
        s.messages += n;
        *s.dispositions.entry(row.disposition.clone()).or_default() += n;
        if !s.reported_by.contains(&row.org) {
            s.reported_by.push(row.org.clone());
        }
    }
    domains
        .into_iter()
        .map(|(domain, (messages, failed, sources))| {
            let mut top: Vec<Source> = sources.into_values().collect();
            top.sort_by(|a, b| {
                b.messages
                    .cmp(&a.messages)
                    .then(a.source_ip.cmp(&b.source_ip))
            });
            top.truncate(TOP);
            DomainSummary {
                domain: domain.to_string(),
                messages,
                failed,
                top_failing_sources: top,
            }
        })
        .collect()
}

/// The plain-text form.
pub fn render(summaries: &[DomainSummary]) -> String {
    let mut out = String::new();
    for d in summaries {
        out.push_str(&format!(
            "{}: {} messages reported, {} failed DMARC\n",
            d.domain, d.messages, d.failed
        ));
        for s in &d.top_failing_sources {
            let disp: Vec<String> = s
                .dispositions
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push_str(&format!(
                "  {:<40} {:>8}  {}  (reported by {})\n",
                s.source_ip,
                s.messages,
                disp.join(" "),
                s.reported_by.join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ip: &str, dkim: &str, spf: &str) -> IngestedRow {
        IngestedRow {
            domain: "agency.test".into(),
            source_ip: ip.into(),
            dkim: dkim.into(),
            spf: spf.into(),
            disposition: "reject".into(),
            org: "big.example".into(),
        }
    }

    #[test]
    fn lists_failing_sources_most_first() {
        let s = summarise(&[
            (row("192.0.2.1", "fail", "fail"), 2),
            (row("192.0.2.2", "fail", "fail"), 5),
            (row("192.0.2.3", "pass", "fail"), 100),
        ]);
        assert_eq!(s[0].messages, 107);
        assert_eq!(s[0].failed, 7);
        let ips: Vec<&str> = s[0]
            .top_failing_sources
            .iter()
            .map(|s| s.source_ip.as_str())
            .collect();
        assert_eq!(ips, ["192.0.2.2", "192.0.2.1"]);
    }
}
