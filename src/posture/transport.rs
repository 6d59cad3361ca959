//! The `mta_sts`, `tls_rpt` and `mx` posture checks.

use super::{CheckResult, Status};
use crate::spf_eval::{DnsFailure, SpfDns};
use crate::tls_policy::mta_sts::{Fetcher, Mode, StsRecord, sts_record};
use mail_auth::common::parse::TxtRecordParser;

/// Shortest `max_age` that does not warn: one day.
const MIN_MAX_AGE: u64 = 86_400;

/// `mta_sts`: TXT present, policy fetched over verified HTTPS, enforce, a day or more
/// of max_age, and every MX matched by the policy.
pub async fn mta_sts<D: SpfDns>(dns: &D, fetcher: &Fetcher, domain: &str) -> CheckResult {
    let fail = |d: String| CheckResult::new("mta_sts", Status::Fail, d);
    match sts_record(dns, domain).await {
        StsRecord::Id(_) => {}
        StsRecord::Absent(why) => return fail(why.to_string()),
        StsRecord::DnsError => return fail(format!("DNS error looking up _mta-sts.{domain}")),
    }
    let policy = match fetcher.fetch(dns, domain).await {
        Ok(p) => p,
        Err(e) => return fail(format!("policy fetch failed: {e}")),
    };
    let mut findings = Vec::new();
    match policy.mode {
        Mode::Enforce => {}
        Mode::Testing => findings.push((Status::Warn, "mode testing: TLS not enforced".into())),
        Mode::None => findings.push((Status::Fail, "mode none: policy withdrawn".into())),
    }
    if policy.max_age < MIN_MAX_AGE {
        findings.push((
            Status::Warn,
            format!("max_age {} is under {MIN_MAX_AGE}", policy.max_age),
        ));
    }
    match dns.mx(domain).await {
        Ok(hosts) => {
            let unmatched: Vec<&String> = hosts
                .iter()
                .filter(|h| !h.is_empty() && !policy.matches_mx(h))
                .collect();
            if !unmatched.is_empty() {
                findings.push((
                    Status::Fail,
                    format!("MX not in the policy: {}", join(&unmatched)),
                ));
            }
        }
        Err(DnsFailure::TempError) => {
            findings.push((Status::Fail, format!("DNS error looking up MX of {domain}")))
        }
        Err(_) => findings.push((Status::Fail, "no MX to match the policy against".into())),
    }
    CheckResult::worst(
        "mta_sts",
        findings,
        &format!("enforce, max_age {}, every MX matched", policy.max_age),
    )
}

/// `tls_rpt`: an `_smtp._tls` TXT with `v=TLSRPTv1` and a rua.
pub async fn tls_rpt<D: SpfDns>(dns: &D, domain: &str) -> CheckResult {
    let name = format!("_smtp._tls.{domain}");
    let records = match dns.txt(&name).await {
        Ok(r) => r,
        Err(DnsFailure::TempError) => {
            return CheckResult::new(
                "tls_rpt",
                Status::Fail,
                format!("DNS error looking up {name}"),
            );
        }
        Err(_) => Vec::new(),
    };
    let parsed = records
        .iter()
        .filter(|r| r.len() >= 10 && r[..10].eq_ignore_ascii_case(b"v=TLSRPTv1"))
        .find_map(|r| mail_auth::mta_sts::TlsRpt::parse(r).ok());
    match parsed {
        Some(rpt) if !rpt.rua.is_empty() => CheckResult::new(
            "tls_rpt",
            Status::Pass,
            format!("{} report address(es)", rpt.rua.len()),
        ),
        Some(_) => CheckResult::new("tls_rpt", Status::Fail, format!("{name} has no rua")),
        None => CheckResult::new(
            "tls_rpt",
            Status::Fail,
            format!("no v=TLSRPTv1 record at {name}"),
        ),
    }
}

/// `mx`: at least one MX that resolves; a null MX (RFC 7505) fails, since the
/// monitored domains send mail and replies must reach them.
pub async fn mx<D: SpfDns>(dns: &D, domain: &str) -> CheckResult {
    let hosts = match dns.mx(domain).await {
        Ok(h) => h,
        Err(DnsFailure::TempError) => {
            return CheckResult::new(
                "mx",
                Status::Fail,
                format!("DNS error looking up MX of {domain}"),
            );
        }
        Err(_) => return CheckResult::new("mx", Status::Fail, "no MX record"),
    };
    if hosts.iter().any(|h| h.is_empty()) {
        return CheckResult::new("mx", Status::Fail, "null MX: the domain receives no mail");
    }
    let mut resolving = Vec::new();
    let mut dead = Vec::new();
    for h in &hosts {
        if dns.a(h).await.is_ok() || dns.aaaa(h).await.is_ok() {
            resolving.push(h);
        } else {
            dead.push(h);
        }
    }
    match (resolving.is_empty(), dead.is_empty()) {
        (true, _) => CheckResult::new(
            "mx",
            Status::Fail,
            format!("no MX resolves: {}", join(&dead)),
        ),
        (false, true) => CheckResult::new("mx", Status::Pass, join(&resolving)),
        (false, false) => CheckResult::new(
            "mx",
            Status::Warn,
            format!("{} do not resolve", join(&dead)),
        ),
    }
}

fn join(hosts: &[&String]) -> String {
    hosts
        .iter()
        .map(|h| h.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
