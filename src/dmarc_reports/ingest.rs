//! Reading the aggregate reports other receivers send about our domains: bare
//! XML, gzip, zip, or a whole report mail (RFC 7489 §7.2.1.1).
//!
//! Input is untrusted: sizes are capped, every failure is an error value (logged
//! and counted by the caller), never a panic.

use super::store::{IngestedRow, Store};
use crate::domain::DomainSet;
use anyhow::{Context, Result, anyhow, bail};
use mail_auth::report::{ActionDisposition, DmarcResult, Report};
use std::io::Read;

/// Largest report accepted, compressed or not (real ones are kilobytes).
pub const MAX_REPORT_SIZE: usize = 20 * 1024 * 1024;

/// Parses one file or message holding one aggregate report.
pub fn parse(bytes: &[u8]) -> Result<Report> {
    if bytes.len() > MAX_REPORT_SIZE {
        bail!("larger than {MAX_REPORT_SIZE} bytes");
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let xml = read_capped(flate2::read::GzDecoder::new(bytes)).context("bad gzip data")?;
        parse_xml(&xml)
    } else if bytes.starts_with(b"PK\x03\x04") {
        parse_xml(&unzip_first_xml(bytes)?)
    } else if looks_like_xml(bytes) {
        parse_xml(bytes)
    } else {
        Report::parse_rfc5322(bytes, MAX_REPORT_SIZE)
            .map_err(|e| anyhow!("no readable DMARC report in the message: {e:?}"))
    }
}

fn looks_like_xml(bytes: &[u8]) -> bool {
    let b = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'<')
}

fn parse_xml(xml: &[u8]) -> Result<Report> {
    Report::parse_xml(xml).map_err(|e| anyhow!("not a DMARC aggregate report: {e}"))
}

fn read_capped(r: impl Read) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(MAX_REPORT_SIZE as u64 + 1).read_to_end(&mut out)?;
    if out.len() > MAX_REPORT_SIZE {
        bail!("uncompresses to more than {MAX_REPORT_SIZE} bytes");
    }
    Ok(out)
}

fn unzip_first_xml(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).context("bad zip archive")?;
    for i in 0..archive.len() {
        let file = archive.by_index(i).context("bad zip entry")?;
        if file
            .name()
            .is_ok_and(|n| n.to_ascii_lowercase().ends_with(".xml"))
        {
            return read_capped(file);
        }
    }
    bail!("zip archive holds no .xml file")
}

/// The report's rows, as `summary` keeps them.
pub fn rows(report: &Report) -> Vec<(IngestedRow, u64)> {
    let domain = report.domain().trim_end_matches('.').to_ascii_lowercase();
    report
        .records()
        .iter()
        .map(|r| {
            (
                IngestedRow {
                    domain: domain.clone(),
                    source_ip: r.source_ip().map(|ip| ip.to_string()).unwrap_or_default(),
                    dkim: result_word(r.dmarc_dkim_result()).into(),
                    spf: result_word(r.dmarc_spf_result()).into(),
                    disposition: disposition_word(r.action_disposition()).into(),
                    org: report.org_name().to_string(),
                },
                u64::from(r.count()),
            )
        })
        .collect()
}

fn result_word(r: DmarcResult) -> &'static str {
    match r {
        DmarcResult::Pass => "pass",
        DmarcResult::Fail => "fail",
        DmarcResult::Unspecified => "none",
    }
}

fn disposition_word(d: ActionDisposition) -> &'static str {
    match d {
        ActionDisposition::None | ActionDisposition::Pass => "none",
        ActionDisposition::Quarantine => "quarantine",
        ActionDisposition::Reject => "reject",
        ActionDisposition::Unspecified => "unspecified",
    }
}

/// Identifies a report, so the same report ingested twice counts once.
pub fn report_key(report: &Report) -> String {
    format!(
        "{}|{}|{}",
        report.org_name(),
        report.report_id(),
        report.domain()
    )
}

/// The `domain` label: the configured local domain the report is about, else
/// `other`, so a report about anything else cannot add label values.
pub fn domain_label<'a>(domain: &str, local_domains: &'a DomainSet) -> &'a str {
    local_domains
        .longest_match(domain)
        .map_or("other", |(d, _)| d)
}

/// What ingesting one report did.
#[derive(Debug)]
pub struct Ingested {
    pub domain: String,
    pub org: String,
    pub messages: u64,
    /// False when a report with the same org, id and domain was seen before.
    pub new: bool,
}

/// Parses, keeps (when new) and counts one report.
pub fn ingest(bytes: &[u8], store: &dyn Store, local_domains: &DomainSet) -> Result<Ingested> {
    let report = parse(bytes)?;
    let rows = rows(&report);
    let new = store.add_ingested(&report_key(&report), &rows)?;
    if new {
        count(&rows, local_domains);
    }
    Ok(Ingested {
        domain: report.domain().to_string(),
        org: report.org_name().to_string(),
        messages: rows.iter().map(|(_, n)| n).sum(),
        new,
    })
}

fn count(rows: &[(IngestedRow, u64)], local_domains: &DomainSet) {
    let metrics = crate::metrics::global();
    for (row, n) in rows {
        let domain = domain_label(&row.domain, local_domains);
        metrics.dmarc_report_messages([domain, &row.dkim, &row.spf, &row.disposition], *n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_an_error() {
        assert!(parse(b"").is_err());
        assert!(parse(b"<feedback>").is_err());
        assert!(parse(b"\x1f\x8b\x08\x00garbage").is_err());
        assert!(parse(b"PK\x03\x04garbage").is_err());
        assert!(parse(b"Subject: hi\r\n\r\nno report\r\n").is_err());
    }

    #[test]
    fn labels_are_bounded() {
        let local = DomainSet::from_names(["agency.govt.nz"]);
        assert_eq!(
            domain_label("mail.agency.govt.nz", &local),
            "agency.govt.nz"
        );
        assert_eq!(domain_label("evil.test", &local), "other");
    }
}
