//! Sending the reports of finished periods: one per (policy domain, `rua`
//! destination), each handed to the MTA once.
//!
//! Order of work for a period and domain: for each destination not yet marked
//! sent, build the report, hand it to the MTA, then record the sent marker; once
//! every destination is marked, delete the rows. A crash before the marker can at
//! worst resend that one report, with the same report id (the id is derived from
//! host, period, domain and destination, so a receiver sees a duplicate, not a
//! second report); a crash after it resends nothing.

use super::record::{DmarcRecord, Published};
use super::report::{self, Identity};
use super::store::Store;
use super::transport::Transport;
use crate::config::dmarc_reports::DmarcReportsConfig;
use crate::domain::is_within;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::time::Duration;

/// Whether a destination outside the policy domain agreed to take its reports
/// (RFC 7489 §7.1: the `<domain>._report._dmarc.<dest-domain>` TXT record).
pub trait DestinationCheck {
    fn accepts(&self, policy_domain: &str, dest_domain: &str) -> bool;
}

/// Where reports go: to the MTA, or into a directory (`--dry-run --out DIR`).
pub enum Output {
    Mta(Transport),
    Directory(PathBuf),
}

/// What one run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SendSummary {
    /// Reports handed to the MTA (or written, in a dry run).
    pub sent: usize,
    /// Destinations dropped for good (not verified, over `!size`, not mailto).
    pub skipped: usize,
    /// Reports the MTA did not take; retried next run.
    pub failed: usize,
}

pub struct Sender<'a> {
    pub cfg: &'a DmarcReportsConfig,
    pub store: &'a dyn Store,
    pub check: &'a dyn DestinationCheck,
    pub output: Output,
}

impl Sender<'_> {
    /// Sends every period that ended by `now` (seconds since the epoch).
    pub fn send_due(&self, now: u64) -> Result<SendSummary> {
        let interval = self.cfg.interval.duration().as_secs().max(1);
        let current = super::record::period_start(now, interval);
        let mut summary = SendSummary::default();
        let due = self.store.due(current)?;
        let mut periods: Vec<u64> = due.iter().map(|(p, _)| *p).collect();
        periods.dedup();
        for period in periods {
            // One sender per period across the fleet; the others find the rows
            // gone (or the markers set) on their next run.
            let lock = format!("send:{period}");
            let Some(token) = self.store.try_lock(&lock, Duration::from_secs(900))? else {
                tracing::info!(
                    period,
                    "another gateway is sending this period's DMARC reports"
                );
                continue;
            };
            let range = (period, period + interval - 1);
            let result = due
                .iter()
                .filter(|(p, _)| *p == period)
                .try_for_each(|(_, domain)| self.send_domain(range, domain, &mut summary));
            self.store.unlock(&lock, &token)?;
            result?;
        }
        Ok(summary)
    }

    fn send_domain(
        &self,
        range: (u64, u64),
        domain: &str,
        summary: &mut SendSummary,
    ) -> Result<()> {
        let period = range.0;
        let (rows, published) = self.store.load(period, domain)?;
        let Some(published) = published.filter(|_| !rows.is_empty()) else {
            return self.finish(period, domain);
        };
        let mut pending = false;
        for (dest, max_size) in &published.rua {
            if self.store.is_sent(period, domain, dest)? {
                continue;
            }
            match self.send_one(range, &published, &rows, dest, *max_size) {
                Ok(Delivery::Sent) => summary.sent += 1,
                Ok(Delivery::Skipped(why)) => {
                    tracing::warn!(domain, dest, reason = %why, "DMARC report not sent");
                    summary.skipped += 1;
                }
                Err(e) => {
                    tracing::error!(domain, dest, error = %format!("{e:#}"), "DMARC report not sent; will retry");
                    summary.failed += 1;
                    pending = true;
                    continue;
                }
            }
            if matches!(self.output, Output::Mta(_)) {
                self.store.mark_sent(period, domain, dest)?;
            }
        }
        if pending || matches!(self.output, Output::Directory(_)) {
            return Ok(());
        }
        self.finish(period, domain)
    }

    fn finish(&self, period: u64, domain: &str) -> Result<()> {
        if matches!(self.output, Output::Mta(_)) {
            self.store.delete(period, domain)?;
        }
        Ok(())
    }

    fn send_one(
        &self,
        range: (u64, u64),
        published: &Published,
        rows: &[(DmarcRecord, u64)],
        dest: &str,
        max_size: usize,
    ) -> Result<Delivery> {
        let domain = &published.domain;
        let Some((_, dest_domain)) = dest.rsplit_once('@') else {
            return Ok(Delivery::Skipped(format!("{dest:?} is not an address")));
        };
        let dest_domain = dest_domain.to_ascii_lowercase();
        if !is_within(&dest_domain, domain)
            && !is_within(domain, &dest_domain)
            && !self.check.accepts(domain, &dest_domain)
        {
            return Ok(Delivery::Skipped(format!(
                "{domain}._report._dmarc.{dest_domain} does not authorise the destination"
            )));
        }
        let host = host_name();
        let submitter = submitter(self.cfg);
        let id = report_id(&host, range.0, domain, dest);
        let identity = Identity {
            org_name: self.cfg.org_name.clone(),
            email: self.cfg.email.clone(),
            extra_contact_info: self.cfg.extra_contact_info.clone(),
        };
        let report = report::build(&identity, &id, range, published, rows);
        let mut mail = Vec::new();
        report.write_rfc5322(
            &submitter,
            (self.cfg.org_name.as_str(), self.cfg.email.as_str()),
            [dest].into_iter(),
            &mut mail,
        )?;
        if max_size > 0 && mail.len() > max_size {
            return Ok(Delivery::Skipped(format!(
                "report of {} bytes is over the destination's !size limit of {max_size}",
                mail.len()
            )));
        }
        match &self.output {
            Output::Directory(dir) => {
                let name = format!("{dest}!{}", report::file_name(&submitter, domain, range));
                let path = dir.join(name.replace('/', "_"));
                std::fs::write(&path, report::gzip_xml(&report)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            Output::Mta(transport) => {
                transport.send(&self.cfg.email, dest, &mail)?;
                tracing::info!(domain, dest, report_id = %id, rows = rows.len(), "DMARC report sent");
            }
        }
        Ok(Delivery::Sent)
    }
}

enum Delivery {
    Sent,
    Skipped(String),
}

/// The report's submitter: the domain of `email`.
fn submitter(cfg: &DmarcReportsConfig) -> String {
    cfg.email
        .rsplit_once('@')
        .map_or_else(host_name, |(_, d)| d.to_ascii_lowercase())
}

/// Unique per (host, period, domain, destination), and the same when a crash
/// makes the same report go out again.
pub fn report_id(host: &str, period: u64, domain: &str, dest: &str) -> String {
    // FNV-1a: stable across builds and processes (std's hashers promise neither).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in domain.bytes().chain([0]).chain(dest.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{host}.{period}.{h:016x}")
}

/// This host's name (report ids, SMTP EHLO).
pub fn host_name() -> String {
    crate::auth::host_name()
}

/// Checks `[dmarc_reports]` before anything is sent.
pub fn validate(cfg: &DmarcReportsConfig) -> Result<()> {
    if cfg.org_name.trim().is_empty() || !cfg.email.contains('@') {
        bail!("[dmarc_reports] needs org_name and email (the reports' From) to send reports");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_ids_are_stable_and_distinct() {
        let a = report_id("mx", 0, "a.test", "r@a.test");
        assert_eq!(a, report_id("mx", 0, "a.test", "r@a.test"));
        assert_ne!(a, report_id("mx", 0, "a.test", "s@a.test"));
        assert_ne!(a, report_id("mx", 86_400, "a.test", "r@a.test"));
        assert_ne!(a, report_id("mx2", 0, "a.test", "r@a.test"));
    }
}
