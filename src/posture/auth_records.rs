//! The `spf`, `dmarc` and `dkim` posture checks.

use super::{CheckResult, Status};
use crate::spf_eval::MacroString;
use crate::spf_eval::{DnsFailure, Mechanism, Qualifier, Record, SpfDns, is_spf_record};
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::dmarc::{Dmarc, Policy};

/// SPF's limit on DNS-querying terms (RFC 7208 §4.6.4).
const SPF_LOOKUP_LIMIT: usize = 10;
/// Weakest RSA key accepted for DKIM.
const MIN_RSA_BITS: usize = 2048;

/// The records of `name` that `select` keeps, or the failure as a detail text.
async fn txt_records<D: SpfDns>(
    dns: &D,
    name: &str,
    select: impl Fn(&[u8]) -> bool,
) -> Result<Vec<Vec<u8>>, String> {
    match dns.txt(name).await {
        Ok(records) => Ok(records.into_iter().filter(|r| select(r)).collect()),
        Err(DnsFailure::TempError) => Err(format!("DNS error looking up {name}")),
        Err(_) => Ok(Vec::new()),
    }
}

/// The one SPF record of `domain`, or why there is none.
async fn spf_record<D: SpfDns>(dns: &D, domain: &str) -> Result<Record, String> {
    let records = txt_records(dns, domain, is_spf_record).await?;
    match records.as_slice() {
        [one] => Record::parse(one).map_err(|e| format!("SPF record of {domain} is invalid: {e}")),
        [] => Err(format!("no SPF record at {domain}")),
        many => Err(format!(
            "{} SPF records at {domain} (permerror)",
            many.len()
        )),
    }
}

/// The domain of an include or redirect without macros (those depend on the sender
/// and cannot be followed here).
fn literal(m: &MacroString) -> Option<String> {
    (m.tokens.len() == 1 && !m.ends_with_macro()).then(|| m.literal_tail().to_ascii_lowercase())
}

/// DNS-querying terms of `domain`'s SPF, following literal includes and redirects;
/// the `all` qualifier of the record that ends evaluation.
/// (lookups, `all` qualifier) of a record and what it includes.
type LookupCount = Result<(usize, Option<Qualifier>), String>;

fn count_lookups<'a, D: SpfDns + Sync>(
    dns: &'a D,
    domain: String,
    depth: usize,
) -> std::pin::Pin<Box<dyn Future<Output = LookupCount> + Send + 'a>> {
    Box::pin(async move {
        let record = spf_record(dns, &domain).await?;
        if depth > SPF_LOOKUP_LIMIT {
            return Ok((SPF_LOOKUP_LIMIT + 1, None));
        }
        let mut count = 0;
        let mut all = None;
        for d in &record.directives {
            if d.mechanism.queries_dns() {
                count += 1;
            }
            match &d.mechanism {
                Mechanism::Include(target) => {
                    if let Some(t) = literal(target) {
                        count += Box::pin(count_lookups(dns, t, depth + 1)).await?.0;
                    }
                }
                Mechanism::All => {
                    all = Some(d.qualifier);
                    break;
                }
                _ => {}
            }
        }
        if all.is_none()
            && let Some(target) = &record.redirect
        {
            count += 1;
            if let Some(t) = literal(target) {
                let (n, a) = Box::pin(count_lookups(dns, t, depth + 1)).await?;
                count += n;
                all = a;
            }
        }
        Ok((count, all))
    })
}

/// `spf`: one record, ending in `-all`, within 10 DNS lookups.
pub async fn spf<D: SpfDns + Sync>(dns: &D, domain: &str) -> CheckResult {
    let (lookups, all) = match count_lookups(dns, domain.to_string(), 0).await {
        Ok(r) => r,
        Err(e) => return CheckResult::new("spf", Status::Fail, e),
    };
    let mut findings = Vec::new();
    match all {
        Some(Qualifier::Fail) => {}
        Some(Qualifier::SoftFail) => findings.push((Status::Warn, "ends in ~all, not -all".into())),
        Some(Qualifier::Pass) => {
            findings.push((Status::Fail, "ends in +all: anyone may send".into()))
        }
        Some(Qualifier::Neutral) => findings.push((Status::Fail, "ends in ?all".into())),
        None => findings.push((
            Status::Fail,
            "no all mechanism (defaults to neutral)".into(),
        )),
    }
    if lookups > SPF_LOOKUP_LIMIT {
        findings.push((
            Status::Fail,
            format!("{lookups} DNS lookups, over the limit of {SPF_LOOKUP_LIMIT}"),
        ));
    }
    CheckResult::worst("spf", findings, &format!("-all, {lookups} DNS lookup(s)"))
}

/// The value of tag `name` in a `tag=value; ...` record.
fn tag<'a>(record: &'a str, name: &str) -> Option<&'a str> {
    record.split(';').find_map(|t| {
        let (k, v) = t.split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn policy_rank(p: Policy) -> u8 {
    match p {
        Policy::Reject => 2,
        Policy::Quarantine => 1,
        Policy::None | Policy::Unspecified => 0,
    }
}

/// `dmarc`: `p=reject`, `sp` not weaker, `pct` 100 or absent, a `rua`.
pub async fn dmarc<D: SpfDns>(dns: &D, domain: &str) -> CheckResult {
    let name = format!("_dmarc.{domain}");
    let records = match txt_records(dns, &name, |r| {
        r.len() >= 8 && r[..8].eq_ignore_ascii_case(b"v=DMARC1")
    })
    .await
    {
        Ok(r) => r,
        Err(e) => return CheckResult::new("dmarc", Status::Fail, e),
    };
    let raw = match records.as_slice() {
        [one] => one,
        [] => return CheckResult::new("dmarc", Status::Fail, format!("no DMARC record at {name}")),
        _ => {
            return CheckResult::new(
                "dmarc",
                Status::Fail,
                format!("several DMARC records at {name}"),
            );
        }
    };
    let Ok(record) = Dmarc::parse(raw) else {
        return CheckResult::new("dmarc", Status::Fail, "DMARC record is invalid");
    };
    let text = String::from_utf8_lossy(raw);
    let mut findings = Vec::new();
    match record.p {
        Policy::Reject => {}
        Policy::Quarantine => findings.push((Status::Warn, "p=quarantine, not reject".into())),
        _ => findings.push((Status::Fail, "p=none: DMARC is not enforced".into())),
    }
    if tag(&text, "sp").is_some() && policy_rank(record.sp) < policy_rank(record.p) {
        findings.push((Status::Warn, "sp is weaker than p".into()));
    }
    if let Some(pct) = tag(&text, "pct")
        && pct != "100"
    {
        findings.push((
            Status::Warn,
            format!("pct={pct}: only part of the mail is covered"),
        ));
    }
    if record.rua.is_empty() {
        findings.push((Status::Warn, "no rua: no aggregate reports".into()));
    }
    CheckResult::worst("dmarc", findings, "p=reject with rua")
}

/// `dkim`: each selector has a key, RSA ≥ 2048 bits or Ed25519, not revoked.
pub async fn dkim<D: SpfDns>(dns: &D, domain: &str, selectors: &[String]) -> CheckResult {
    if selectors.is_empty() {
        return CheckResult::new(
            "dkim",
            Status::Warn,
            "no selector known (give --selector or [posture.selectors])",
        );
    }
    let mut findings = Vec::new();
    let mut good = Vec::new();
    for sel in selectors {
        let name = format!("{sel}._domainkey.{domain}");
        let records = match txt_records(dns, &name, |_| true).await {
            Ok(r) => r,
            Err(e) => {
                findings.push((Status::Fail, e));
                continue;
            }
        };
        let Some(raw) = records.first() else {
            findings.push((Status::Fail, format!("{sel}: no key at {name}")));
            continue;
        };
        match key_strength(&String::from_utf8_lossy(raw)) {
            Ok(kind) => good.push(format!("{sel}: {kind}")),
            Err(e) => findings.push((Status::Fail, format!("{sel}: {e}"))),
        }
    }
    CheckResult::worst("dkim", findings, &good.join(", "))
}

/// Describes a DKIM key record, or says why it is not acceptable.
fn key_strength(record: &str) -> Result<String, String> {
    use base64::Engine as _;
    let p: String = tag(record, "p")
        .ok_or("record has no p=")?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if p.is_empty() {
        return Err("key revoked (empty p=)".into());
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(&p)
        .map_err(|_| "p= is not base64")?;
    match tag(record, "k")
        .unwrap_or("rsa")
        .to_ascii_lowercase()
        .as_str()
    {
        "ed25519" if der.len() == 32 => Ok("Ed25519".into()),
        "ed25519" => Err("Ed25519 key is not 32 bytes".into()),
        "rsa" => {
            use rsa::pkcs1::DecodeRsaPublicKey;
            use rsa::pkcs8::DecodePublicKey;
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPublicKey::from_public_key_der(&der)
                .or_else(|_| rsa::RsaPublicKey::from_pkcs1_der(&der))
                .map_err(|_| "RSA key does not parse")?;
            let bits = key.n().bits();
            if bits >= MIN_RSA_BITS {
                Ok(format!("RSA {bits} bits"))
            } else {
                Err(format!("RSA key of {bits} bits, under {MIN_RSA_BITS}"))
            }
        }
        other => Err(format!("unknown key type k={other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spf_eval::MemoryDns;

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn spf_counts_lookups_through_includes() {
        let dns = MemoryDns::new()
            .with_txt("a.test", "v=spf1 include:b.test mx a -all")
            .with_txt("b.test", "v=spf1 a:x.test a:y.test a:z.test ~all")
            .with_txt(
                "big.test",
                "v=spf1 include:b.test include:b.test include:b.test -all",
            );
        let r = run(spf(&dns, "a.test"));
        assert_eq!(r.status, Status::Pass, "{}", r.detail);
        assert!(r.detail.contains("6 DNS lookup"), "{}", r.detail);
        let r = run(spf(&dns, "big.test"));
        assert_eq!(r.status, Status::Fail);
        assert!(r.detail.contains("12 DNS lookups"), "{}", r.detail);
        assert_eq!(run(spf(&dns, "b.test")).status, Status::Warn);
        assert_eq!(run(spf(&dns, "none.test")).status, Status::Fail);
    }

    #[test]
    fn dkim_key_strength() {
        assert!(
            key_strength("v=DKIM1; k=rsa; p=")
                .unwrap_err()
                .contains("revoked")
        );
        let ed = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
        assert_eq!(key_strength(ed).unwrap(), "Ed25519");
        assert!(key_strength("v=DKIM1; k=rsa; p=!!").is_err());
    }
}
