//! Building the RFC 7489 §7.2 aggregate report with mail-auth's report types.

use super::record::{Disposition, DmarcRecord, Published};
use mail_auth::report::{
    ActionDisposition, Alignment, DKIMAuthResult, Disposition as Policy, DkimResult, DmarcResult,
    PolicyOverride, PolicyOverrideReason, Record, Report, SPFAuthResult, SPFDomainScope, SpfResult,
};

/// Who we are in the report's metadata.
#[derive(Clone, Debug)]
pub struct Identity {
    pub org_name: String,
    pub email: String,
    pub extra_contact_info: Option<String>,
}

/// One report: a period's rows for one policy domain.
pub fn build(
    identity: &Identity,
    report_id: &str,
    (begin, end): (u64, u64),
    published: &Published,
    rows: &[(DmarcRecord, u64)],
) -> Report {
    let mut report = Report::new()
        .with_version(1.0)
        .with_org_name(&identity.org_name)
        .with_email(&identity.email)
        .with_report_id(report_id)
        .with_date_range_begin(begin)
        .with_date_range_end(end)
        .with_generator(concat!("sge-milter ", env!("CARGO_PKG_VERSION")))
        .with_domain(&published.domain)
        .with_adkim(alignment(&published.adkim))
        .with_aspf(alignment(&published.aspf))
        .with_p(policy(&published.p))
        .with_sp(policy(&published.sp))
        .with_testing(published.testing);
    if let Some(info) = &identity.extra_contact_info {
        report = report.with_extra_contact_info(info);
    }
    for (row, count) in rows {
        report.add_record(record(row, *count));
    }
    report
}

fn record(row: &DmarcRecord, count: u64) -> Record {
    let pass_fail = |ok| {
        if ok {
            DmarcResult::Pass
        } else {
            DmarcResult::Fail
        }
    };
    let mut r = Record::new()
        .with_count(u32::try_from(count).unwrap_or(u32::MAX))
        .with_action_disposition(match row.disposition {
            Disposition::None => ActionDisposition::None,
            Disposition::Quarantine => ActionDisposition::Quarantine,
            Disposition::Reject => ActionDisposition::Reject,
        })
        .with_dmarc_dkim_result(pass_fail(row.dkim_aligned))
        .with_dmarc_spf_result(pass_fail(row.spf_aligned))
        .with_header_from(&row.header_from)
        .with_envelope_from(&row.envelope_from)
        .with_spf_auth_result(
            SPFAuthResult::new()
                .with_domain(&row.spf.domain)
                .with_scope(if row.spf.scope == "helo" {
                    SPFDomainScope::Helo
                } else {
                    SPFDomainScope::MailFrom
                })
                .with_result(spf_result(&row.spf.result)),
        );
    if let Some(ip) = row.source_ip {
        r = r.with_source_ip(ip);
    }
    for d in &row.dkim {
        r = r.with_dkim_auth_result(
            DKIMAuthResult::new()
                .with_domain(&d.domain)
                .with_selector(&d.selector)
                .with_result(dkim_result(&d.result)),
        );
    }
    for reason in &row.reasons {
        r = r.with_policy_override_reason(
            PolicyOverrideReason::new(match reason.kind.as_str() {
                "trusted_forwarder" => PolicyOverride::TrustedForwarder,
                "local_policy" => PolicyOverride::LocalPolicy,
                // mail-auth 0.13 follows DMARCbis, which dropped `sampled_out`.
                _ => PolicyOverride::Other,
            })
            .with_comment(&reason.comment),
        );
    }
    r
}

fn alignment(a: &str) -> Alignment {
    if a == "s" {
        Alignment::Strict
    } else {
        Alignment::Relaxed
    }
}

fn policy(p: &str) -> Policy {
    match p {
        "reject" => Policy::Reject,
        "quarantine" => Policy::Quarantine,
        _ => Policy::None,
    }
}

fn spf_result(r: &str) -> SpfResult {
    match r {
        "pass" => SpfResult::Pass,
        "fail" => SpfResult::Fail,
        "softfail" => SpfResult::SoftFail,
        "neutral" => SpfResult::Neutral,
        "temperror" => SpfResult::TempError,
        "permerror" => SpfResult::PermError,
        _ => SpfResult::None,
    }
}

fn dkim_result(r: &str) -> DkimResult {
    match r {
        "pass" => DkimResult::Pass,
        "fail" => DkimResult::Fail,
        "policy" => DkimResult::Policy,
        "neutral" => DkimResult::Neutral,
        "temperror" => DkimResult::TempError,
        "permerror" => DkimResult::PermError,
        _ => DkimResult::None,
    }
}

/// RFC 7489 §7.2.1.1 file name: `receiver!policy-domain!begin!end.xml.gz`.
pub fn file_name(submitter: &str, domain: &str, (begin, end): (u64, u64)) -> String {
    format!("{submitter}!{domain}!{begin}!{end}.xml.gz")
}

/// The report XML, gzip-compressed.
pub fn gzip_xml(report: &Report) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(report.to_xml().as_bytes())?;
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dmarc_reports::record::{DkimAuth, SpfAuth};

    #[test]
    fn report_holds_rows_and_counts() {
        let row = DmarcRecord {
            policy_domain: "sender.test".into(),
            source_ip: "192.0.2.7".parse().ok(),
            header_from: "sender.test".into(),
            envelope_from: "sender.test".into(),
            dkim: vec![DkimAuth {
                domain: "sender.test".into(),
                selector: "s1".into(),
                result: "fail".into(),
            }],
            spf: SpfAuth {
                domain: "sender.test".into(),
                scope: "mfrom".into(),
                result: "softfail".into(),
            },
            disposition: Disposition::Reject,
            ..Default::default()
        };
        let published = Published {
            domain: "sender.test".into(),
            p: "reject".into(),
            ..Default::default()
        };
        let id = Identity {
            org_name: "Agency".into(),
            email: "dmarc@agency.test".into(),
            extra_contact_info: None,
        };
        let r = build(&id, "id-1", (0, 86_399), &published, &[(row, 3)]);
        let xml = r.to_xml();
        assert!(xml.contains("<count>3</count>"), "{xml}");
        assert!(xml.contains("<disposition>reject</disposition>"), "{xml}");
        assert!(xml.contains("<source_ip>192.0.2.7</source_ip>"), "{xml}");
        let back = Report::parse_xml(xml.as_bytes()).unwrap();
        assert_eq!(back.records()[0].count(), 3);
        assert_eq!(
            file_name("mx.agency.test", "sender.test", (0, 1)),
            "mx.agency.test!sender.test!0!1.xml.gz"
        );
    }
}
