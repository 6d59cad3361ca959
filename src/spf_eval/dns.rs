//! The DNS queries SPF needs, behind a small trait so the evaluator can run against the
//! process-wide resolver in production and an in-memory zone in tests and benches.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mail_auth::MessageAuthenticator;
use mail_auth::hickory_resolver::net::{DnsError as HickoryDnsError, NetError};
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::hickory_resolver::proto::rr::{Name, RData, RecordType};

/// Why a query produced no records. SPF treats the first two as "void" lookups and the
/// last as a temporary error (RFC 7208 section 2.6.6 and 4.6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsFailure {
    /// RCODE 3: the name does not exist.
    NxDomain,
    /// The name exists but has no records of the requested type.
    NoData,
    /// Timeout, SERVFAIL, refused, or a name the resolver cannot query.
    TempError,
}

/// The outcome of one query: the records, or why there are none.
pub type DnsAnswer<T> = Result<Vec<T>, DnsFailure>;

/// The lookups an SPF evaluation performs. Names are passed without a trailing dot and
/// have already been validated (labels 1..=63 octets, at most 253 octets in total).
pub trait SpfDns: Sync {
    /// TXT records of `name`, one entry per record (its strings concatenated).
    fn txt(&self, name: &str) -> impl Future<Output = DnsAnswer<Vec<u8>>> + Send;
    /// A records of `name`.
    fn a(&self, name: &str) -> impl Future<Output = DnsAnswer<Ipv4Addr>> + Send;
    /// AAAA records of `name`.
    fn aaaa(&self, name: &str) -> impl Future<Output = DnsAnswer<Ipv6Addr>> + Send;
    /// MX exchange names of `name` (without trailing dot), in any order.
    fn mx(&self, name: &str) -> impl Future<Output = DnsAnswer<String>> + Send;
    /// PTR names of `ip` (without trailing dot).
    fn ptr(&self, ip: IpAddr) -> impl Future<Output = DnsAnswer<String>> + Send;
}

/// Strips the root dot that resolvers put on every absolute name, and lowercases it so
/// names compare as DNS compares them.
pub fn normalise_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// The `in-addr.arpa` / `ip6.arpa` name of an address, without trailing dot.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut out = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                for nibble in [byte & 0xf, byte >> 4] {
                    out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                    out.push('.');
                }
            }
            out.push_str("ip6.arpa");
            out
        }
    }
}

/// The production implementation: the process-wide mail-auth resolver (hickory), so SPF,
/// DKIM and DMARC share one resolver and one cache. Queried through hickory directly
/// because mail-auth's own TXT helper parses records into its SPF type and merges all
/// records, which would hide "two SPF records" and non-ASCII records from us.
impl SpfDns for MessageAuthenticator {
    async fn txt(&self, name: &str) -> DnsAnswer<Vec<u8>> {
        let lookup = hickory_lookup(self, name, RecordType::TXT).await?;
        let records: Vec<Vec<u8>> = lookup
            .into_iter()
            .filter_map(|rdata| match rdata {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .flat_map(|s| s.iter().copied())
                        .collect(),
                ),
                _ => None,
            })
            .collect();
        non_empty(records)
    }

    async fn a(&self, name: &str) -> DnsAnswer<Ipv4Addr> {
        let lookup = hickory_lookup(self, name, RecordType::A).await?;
        non_empty(
            lookup
                .into_iter()
                .filter_map(|rdata| match rdata {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect(),
        )
    }

    async fn aaaa(&self, name: &str) -> DnsAnswer<Ipv6Addr> {
        let lookup = hickory_lookup(self, name, RecordType::AAAA).await?;
        non_empty(
            lookup
                .into_iter()
                .filter_map(|rdata| match rdata {
                    RData::AAAA(aaaa) => Some(aaaa.0),
                    _ => None,
                })
                .collect(),
        )
    }

    async fn mx(&self, name: &str) -> DnsAnswer<String> {
        let lookup = hickory_lookup(self, name, RecordType::MX).await?;
        non_empty(
            lookup
                .into_iter()
                .filter_map(|rdata| match rdata {
                    RData::MX(mx) => Some(name_text(&mx.exchange)),
                    _ => None,
                })
                .collect(),
        )
    }

    async fn ptr(&self, ip: IpAddr) -> DnsAnswer<String> {
        let lookup = hickory_lookup(self, &reverse_name(ip), RecordType::PTR).await?;
        non_empty(
            lookup
                .into_iter()
                .filter_map(|rdata| match rdata {
                    RData::PTR(ptr) => Some(name_text(&ptr.0)),
                    _ => None,
                })
                .filter(|name| !name.is_empty())
                .collect(),
        )
    }
}

/// A name from an answer as SPF compares it: raw labels joined by dots (no escaping of
/// unusual characters, no root dot), lowercased.
fn name_text(name: &Name) -> String {
    let labels: Vec<String> = name
        .iter()
        .map(|label| String::from_utf8_lossy(label).into_owned())
        .collect();
    labels.join(".").to_ascii_lowercase()
}

fn non_empty<T>(records: Vec<T>) -> DnsAnswer<T> {
    if records.is_empty() {
        Err(DnsFailure::NoData)
    } else {
        Ok(records)
    }
}

/// One query through hickory, returning the answer records of the requested type (CNAME
/// chains are followed by the resolver; the CNAME records themselves are filtered out by
/// the callers' type match).
async fn hickory_lookup(
    auth: &MessageAuthenticator,
    name: &str,
    record_type: RecordType,
) -> Result<Vec<RData>, DnsFailure> {
    // Raw labels: SPF names may hold any printable ASCII (`a:foo:bar.example`, macro
    // output), which hickory's text parser refuses. `from_labels` builds an absolute
    // name, so the resolver's search list is never applied.
    let Ok(query) = Name::from_labels(name.split('.').map(str::as_bytes)) else {
        return Err(DnsFailure::TempError);
    };
    let started = std::time::Instant::now();
    let result = auth.resolver().lookup(query, record_type).await;
    // Only a failure to get an answer counts as an error; NXDOMAIN/NODATA are answers.
    let failed = matches!(&result, Err(e) if classify(e) == DnsFailure::TempError);
    crate::metrics::global().dns_lookup(started.elapsed(), failed);
    match result {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter(|record| record.record_type() == record_type)
            .map(|record| record.data.clone())
            .collect()),
        Err(error) => Err(classify(&error)),
    }
}

fn classify(error: &NetError) -> DnsFailure {
    match error {
        NetError::Dns(HickoryDnsError::NoRecordsFound(no_records)) => {
            if no_records.response_code == ResponseCode::NXDomain {
                DnsFailure::NxDomain
            } else {
                DnsFailure::NoData
            }
        }
        NetError::Dns(HickoryDnsError::ResponseCode(ResponseCode::NXDomain)) => {
            DnsFailure::NxDomain
        }
        _ => DnsFailure::TempError,
    }
}

/// An in-memory zone: for tests, benches and fuzzing. Names are matched
/// case-insensitively; a name listed in `temp_errors` fails every query.
#[derive(Debug, Default, Clone)]
pub struct MemoryDns {
    txt: HashMap<String, Vec<Vec<u8>>>,
    a: HashMap<String, Vec<Ipv4Addr>>,
    aaaa: HashMap<String, Vec<Ipv6Addr>>,
    mx: HashMap<String, Vec<String>>,
    ptr: HashMap<IpAddr, Vec<String>>,
    temp_errors: Vec<String>,
}

impl MemoryDns {
    /// An empty zone: every query is NXDOMAIN.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a TXT record.
    pub fn with_txt(self, name: &str, value: &str) -> Self {
        self.with_txt_bytes(name, value.as_bytes())
    }

    /// Adds a TXT record that need not be text (DNS allows any octets).
    pub fn with_txt_bytes(mut self, name: &str, value: &[u8]) -> Self {
        self.txt
            .entry(normalise_name(name))
            .or_default()
            .push(value.to_vec());
        self
    }

    /// Adds an A or AAAA record.
    pub fn with_ip(mut self, name: &str, ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => self.a.entry(normalise_name(name)).or_default().push(v4),
            IpAddr::V6(v6) => self.aaaa.entry(normalise_name(name)).or_default().push(v6),
        }
        self
    }

    /// Adds an MX record.
    pub fn with_mx(mut self, name: &str, exchange: &str) -> Self {
        self.mx
            .entry(normalise_name(name))
            .or_default()
            .push(normalise_name(exchange));
        self
    }

    /// Adds a PTR record.
    pub fn with_ptr(mut self, ip: IpAddr, name: &str) -> Self {
        self.ptr.entry(ip).or_default().push(normalise_name(name));
        self
    }

    /// Makes every query for `name` fail temporarily.
    pub fn with_temp_error(mut self, name: &str) -> Self {
        self.temp_errors.push(normalise_name(name));
        self
    }

    fn exists(&self, name: &str) -> bool {
        self.txt.contains_key(name)
            || self.a.contains_key(name)
            || self.aaaa.contains_key(name)
            || self.mx.contains_key(name)
    }

    fn answer<T: Clone>(&self, map: &HashMap<String, Vec<T>>, name: &str) -> DnsAnswer<T> {
        let name = normalise_name(name);
        if self.temp_errors.contains(&name) {
            return Err(DnsFailure::TempError);
        }
        match map.get(&name) {
            Some(records) if !records.is_empty() => Ok(records.clone()),
            _ if self.exists(&name) => Err(DnsFailure::NoData),
            _ => Err(DnsFailure::NxDomain),
        }
    }
}

impl SpfDns for MemoryDns {
    async fn txt(&self, name: &str) -> DnsAnswer<Vec<u8>> {
        self.answer(&self.txt, name)
    }

    async fn a(&self, name: &str) -> DnsAnswer<Ipv4Addr> {
        self.answer(&self.a, name)
    }

    async fn aaaa(&self, name: &str) -> DnsAnswer<Ipv6Addr> {
        self.answer(&self.aaaa, name)
    }

    async fn mx(&self, name: &str) -> DnsAnswer<String> {
        self.answer(&self.mx, name)
    }

    async fn ptr(&self, ip: IpAddr) -> DnsAnswer<String> {
        match self.ptr.get(&ip) {
            Some(names) if !names.is_empty() => Ok(names.clone()),
            _ => Err(DnsFailure::NxDomain),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("192.0.2.1".parse().unwrap()),
            "1.2.0.192.in-addr.arpa"
        );
        let v6 = reverse_name("2001:db8::1".parse().unwrap());
        assert!(v6.starts_with("1.0.0.0.0.0.0.0."));
        assert!(v6.ends_with("8.b.d.0.1.0.0.2.ip6.arpa"));
    }

    #[test]
    fn trailing_dot_is_stripped() {
        assert_eq!(normalise_name("Mail.Example.COM."), "mail.example.com");
    }
}
