//! The posture monitor: checks a domain's public SGE configuration (SPF, DMARC, DKIM,
//! MTA-STS, TLS-RPT, MX) the way a sending or receiving agency would see it. Used by
//! `sge-milter posture` and, with `[posture] domains`, by `run` (see [`monitor`]).

mod auth_records;
pub mod monitor;
mod transport;

use crate::spf_eval::SpfDns;
use crate::tls_policy::mta_sts::Fetcher;
use serde::Serialize;
use std::sync::Arc;

/// The check names, in report order.
pub const CHECKS: [&str; 6] = ["spf", "dmarc", "dkim", "mta_sts", "tls_rpt", "mx"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// The `sgemilter_posture_check` value: 1 pass, 0.5 warn, 0 fail.
    pub fn gauge(self) -> f64 {
        match self {
            Status::Pass => 1.0,
            Status::Warn => 0.5,
            Status::Fail => 0.0,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
}

impl CheckResult {
    fn new(check: &'static str, status: Status, detail: impl Into<String>) -> Self {
        CheckResult {
            check,
            status,
            detail: detail.into(),
        }
    }

    /// The worst of `findings` (pass when empty), details joined.
    fn worst(check: &'static str, findings: Vec<(Status, String)>, ok: &str) -> Self {
        let status = findings.iter().map(|f| f.0).max().unwrap_or(Status::Pass);
        let detail = if findings.is_empty() {
            ok.to_string()
        } else {
            findings
                .into_iter()
                .map(|f| f.1)
                .collect::<Vec<_>>()
                .join("; ")
        };
        CheckResult::new(check, status, detail)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct DomainReport {
    pub domain: String,
    pub checks: Vec<CheckResult>,
}

impl DomainReport {
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }
}

/// Runs the checks. Cheap to share.
pub struct Checker<D> {
    dns: Arc<D>,
    fetcher: Fetcher,
}

impl<D: SpfDns> Checker<D> {
    pub fn new(dns: Arc<D>, fetcher: Fetcher) -> Self {
        Checker { dns, fetcher }
    }

    /// Every check for `domain`; `selectors` are its DKIM selectors.
    pub async fn check(&self, domain: &str, selectors: &[String]) -> DomainReport {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        let dns = &*self.dns;
        let checks = vec![
            auth_records::spf(dns, &domain).await,
            auth_records::dmarc(dns, &domain).await,
            auth_records::dkim(dns, &domain, selectors).await,
            transport::mta_sts(dns, &self.fetcher, &domain).await,
            transport::tls_rpt(dns, &domain).await,
            transport::mx(dns, &domain).await,
        ];
        DomainReport { domain, checks }
    }
}

/// Builds a checker from the configuration: the `[dns]` resolver and the
/// `[tls_policy]` trust store (`ca_file`) and fetch timeout.
pub fn checker(
    config: &crate::config::Config,
    base_dir: &std::path::Path,
) -> Result<Checker<mail_auth::MessageAuthenticator>, String> {
    let dns = crate::auth::dns::Dns::new(&config.dns)?;
    let tls = &config.tls_policy;
    let ca = tls.ca_file.as_ref().map(|f| base_dir.join(f));
    let fetcher = Fetcher::new(ca.as_deref(), tls.fetch_timeout.duration())?;
    Ok(Checker::new(Arc::clone(dns.authenticator()), fetcher))
}

/// The DKIM selectors of `domain`: `[posture.selectors]` plus the extra ones given.
pub fn selectors_for(
    cfg: &crate::config::PostureConfig,
    domain: &str,
    extra: &[String],
) -> Vec<String> {
    let mut out: Vec<String> = cfg
        .selectors
        .iter()
        .filter(|(d, _)| {
            d.trim_end_matches('.')
                .eq_ignore_ascii_case(domain.trim_end_matches('.'))
        })
        .flat_map(|(_, s)| s.iter().cloned())
        .chain(extra.iter().cloned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A readable table of reports.
pub fn table(reports: &[DomainReport]) -> String {
    let width = reports
        .iter()
        .map(|r| r.domain.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = format!("{:width$}  {:8} {:6} DETAIL\n", "DOMAIN", "CHECK", "STATUS");
    for r in reports {
        for c in &r.checks {
            out.push_str(&format!(
                "{:width$}  {:8} {:6} {}\n",
                r.domain,
                c.check,
                c.status.as_str(),
                c.detail
            ));
        }
    }
    out
}
