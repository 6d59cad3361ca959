//! check_host() (RFC 7208 section 4): record lookup and selection, mechanism
//! evaluation, redirect, explanation, and the processing limits of section 4.6.4.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;

use super::SpfResult;
use super::dns::{DnsFailure, SpfDns};
use super::macros::{MacroString, MacroValues};
use super::name::{domain_for_query, is_valid_domain};
use super::record::{Mechanism, Qualifier, Record, is_spf_record};

/// Terms that cause DNS queries, per evaluation including includes and redirects.
pub const MAX_DNS_TERMS: u32 = 10;
/// Mechanism queries answering NXDOMAIN or no records (section 4.6.4: "SHOULD limit ...
/// to two").
pub const MAX_VOID_LOOKUPS: u32 = 2;
/// Names considered from one MX or PTR answer.
pub const MAX_NAMES_PER_MECHANISM: usize = 10;
/// Longest explanation kept (after sanitising).
pub const MAX_EXPLANATION: usize = 256;

/// Result of one check_host() level.
pub(crate) struct Outcome {
    pub result: SpfResult,
    pub explanation: Option<String>,
}

impl Outcome {
    fn of(result: SpfResult) -> Self {
        Self {
            result,
            explanation: None,
        }
    }
}

/// Ends evaluation of a whole record: the error results.
enum Abort {
    Temp,
    Perm,
}

type BoxedOutcome<'s> = Pin<Box<dyn Future<Output = Outcome> + Send + 's>>;

/// State shared by every level of one evaluation (the limits are global to it).
pub(crate) struct Evaluator<'a, D: SpfDns> {
    dns: &'a D,
    ip: IpAddr,
    sender: String,
    local_part: String,
    sender_domain: String,
    helo: String,
    receiver: String,
    dns_terms: u32,
    void_lookups: u32,
    validated_names: Option<Vec<String>>,
}

impl<'a, D: SpfDns> Evaluator<'a, D> {
    pub fn new(
        dns: &'a D,
        ip: IpAddr,
        sender: String,
        local_part: String,
        sender_domain: String,
        helo: String,
        receiver: String,
    ) -> Self {
        Self {
            dns,
            ip,
            sender,
            local_part,
            sender_domain,
            helo,
            receiver,
            dns_terms: 0,
            void_lookups: 0,
            validated_names: None,
        }
    }

    /// check_host(ip, domain, sender). Boxed because include and redirect recurse.
    pub fn check_host(&mut self, domain: String) -> BoxedOutcome<'_> {
        Box::pin(async move {
            // Section 4.3: a malformed or single-label domain yields "none".
            if !is_valid_domain(&domain) {
                return Outcome::of(SpfResult::None);
            }
            let domain = domain
                .strip_suffix('.')
                .unwrap_or(&domain)
                .to_ascii_lowercase();
            let record = match self.fetch_record(&domain).await {
                Ok(Some(record)) => record,
                Ok(None) => return Outcome::of(SpfResult::None),
                Err(Abort::Temp) => return Outcome::of(SpfResult::TempError),
                Err(Abort::Perm) => return Outcome::of(SpfResult::PermError),
            };
            match self.evaluate(&domain, &record).await {
                Ok(outcome) => outcome,
                Err(Abort::Temp) => Outcome::of(SpfResult::TempError),
                Err(Abort::Perm) => Outcome::of(SpfResult::PermError),
            }
        })
    }

    /// Section 4.4 and 4.5: the one SPF record of `domain`, if any.
    async fn fetch_record(&self, domain: &str) -> Result<Option<Record>, Abort> {
        let records = match self.dns.txt(domain).await {
            Ok(records) => records,
            Err(DnsFailure::NxDomain | DnsFailure::NoData) => return Ok(None),
            Err(DnsFailure::TempError) => return Err(Abort::Temp),
        };
        let mut spf = records.iter().filter(|txt| is_spf_record(txt));
        let Some(first) = spf.next() else {
            return Ok(None);
        };
        if spf.next().is_some() {
            return Err(Abort::Perm);
        }
        Record::parse(first).map(Some).map_err(|_| Abort::Perm)
    }

    async fn evaluate(&mut self, domain: &str, record: &Record) -> Result<Outcome, Abort> {
        for directive in &record.directives {
            if directive.mechanism.queries_dns() {
                self.count_dns_term()?;
            }
            if self.matches(domain, &directive.mechanism).await? {
                let result = match directive.qualifier {
                    Qualifier::Pass => SpfResult::Pass,
                    Qualifier::Fail => SpfResult::Fail,
                    Qualifier::SoftFail => SpfResult::SoftFail,
                    Qualifier::Neutral => SpfResult::Neutral,
                };
                let explanation = match (&result, &record.explanation) {
                    (SpfResult::Fail, Some(exp)) => self.explanation(domain, exp).await,
                    _ => None,
                };
                return Ok(Outcome {
                    result,
                    explanation,
                });
            }
        }
        if let Some(redirect) = &record.redirect {
            self.count_dns_term()?;
            let target = self.target_name(domain, redirect).await?;
            let outcome = self.check_host(target).await;
            // Section 6.1: a redirect to a domain without a record is a permerror.
            if outcome.result == SpfResult::None {
                return Err(Abort::Perm);
            }
            return Ok(outcome);
        }
        Ok(Outcome::of(SpfResult::Neutral))
    }

    fn count_dns_term(&mut self) -> Result<(), Abort> {
        self.dns_terms += 1;
        if self.dns_terms > MAX_DNS_TERMS {
            Err(Abort::Perm)
        } else {
            Ok(())
        }
    }

    /// Records a query answering NXDOMAIN/NODATA; too many is a permerror.
    fn count_void(&mut self) -> Result<(), Abort> {
        self.void_lookups += 1;
        if self.void_lookups > MAX_VOID_LOOKUPS {
            Err(Abort::Perm)
        } else {
            Ok(())
        }
    }

    async fn matches(&mut self, domain: &str, mechanism: &Mechanism) -> Result<bool, Abort> {
        match mechanism {
            Mechanism::All => Ok(true),
            Mechanism::Ip4 { network, prefix } => Ok(match self.ip {
                IpAddr::V4(ip) => v4_in_network(ip, *network, *prefix),
                IpAddr::V6(_) => false,
            }),
            Mechanism::Ip6 { network, prefix } => Ok(match self.ip {
                IpAddr::V6(ip) => v6_in_network(ip, *network, *prefix),
                IpAddr::V4(_) => false,
            }),
            Mechanism::A {
                domain: spec,
                v4_prefix,
                v6_prefix,
            } => {
                let target = self.optional_target(domain, spec.as_ref()).await?;
                match self.addresses_of(&target, *v4_prefix, *v6_prefix).await {
                    Ok(found) => Ok(found),
                    Err(DnsFailure::TempError) => Err(Abort::Temp),
                    Err(_) => self.count_void().map(|()| false),
                }
            }
            Mechanism::Mx {
                domain: spec,
                v4_prefix,
                v6_prefix,
            } => {
                let target = self.optional_target(domain, spec.as_ref()).await?;
                let exchanges = match self.dns.mx(&target).await {
                    Ok(exchanges) => exchanges,
                    Err(DnsFailure::TempError) => return Err(Abort::Temp),
                    Err(_) => return self.count_void().map(|()| false),
                };
                // Section 4.6.4: more than 10 MX names is a permerror.
                if exchanges.len() > MAX_NAMES_PER_MECHANISM {
                    return Err(Abort::Perm);
                }
                for exchange in exchanges {
                    // A null MX (RFC 7505, exchange ".") or unqueryable name matches nothing.
                    let Some(exchange) = domain_for_query(&exchange) else {
                        continue;
                    };
                    match self.addresses_of(&exchange, *v4_prefix, *v6_prefix).await {
                        Ok(true) => return Ok(true),
                        Ok(false) | Err(DnsFailure::NxDomain | DnsFailure::NoData) => {}
                        Err(DnsFailure::TempError) => return Err(Abort::Temp),
                    }
                }
                Ok(false)
            }
            Mechanism::Ptr(spec) => {
                let target = self.optional_target(domain, spec.as_ref()).await?;
                let names = self.validated_names(Some(&target)).await;
                Ok(names.iter().any(|name| is_same_or_subdomain(name, &target)))
            }
            Mechanism::Exists(spec) => {
                let target = self.target_name(domain, spec).await?;
                // Always an A query, whatever the client's address family (section 5.7).
                match self.dns.a(&target).await {
                    Ok(_) => Ok(true),
                    Err(DnsFailure::TempError) => Err(Abort::Temp),
                    Err(_) => self.count_void().map(|()| false),
                }
            }
            Mechanism::Include(spec) => {
                let target = self.target_name(domain, spec).await?;
                let outcome = self.check_host(target).await;
                match outcome.result {
                    SpfResult::Pass => Ok(true),
                    SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral => Ok(false),
                    SpfResult::TempError => Err(Abort::Temp),
                    SpfResult::PermError | SpfResult::None => Err(Abort::Perm),
                }
            }
        }
    }

    /// Whether any A (IPv4 client) or AAAA (IPv6 client) record of `name` covers the
    /// client within the given prefix.
    async fn addresses_of(
        &self,
        name: &str,
        v4_prefix: u8,
        v6_prefix: u8,
    ) -> Result<bool, DnsFailure> {
        match self.ip {
            IpAddr::V4(ip) => {
                let records = self.dns.a(name).await?;
                Ok(records.iter().any(|net| v4_in_network(ip, *net, v4_prefix)))
            }
            IpAddr::V6(ip) => {
                let records = self.dns.aaaa(name).await?;
                Ok(records.iter().any(|net| v6_in_network(ip, *net, v6_prefix)))
            }
        }
    }

    async fn optional_target(
        &mut self,
        domain: &str,
        spec: Option<&MacroString>,
    ) -> Result<String, Abort> {
        match spec {
            Some(spec) => self.target_name(domain, spec).await,
            None => Ok(domain.to_string()),
        }
    }

    /// Expands a domain-spec into a name fit to query; a name that cannot be queried
    /// (empty label, label over 63 octets) is a permerror, never a temperror.
    async fn target_name(&mut self, domain: &str, spec: &MacroString) -> Result<String, Abort> {
        let expanded = self.expand(domain, spec, false).await;
        domain_for_query(&expanded).ok_or(Abort::Perm)
    }

    async fn expand(&mut self, domain: &str, spec: &MacroString, for_explanation: bool) -> String {
        let validated = if spec.uses_validated_name() {
            let names = self.validated_names(None).await;
            pick_validated_name(&names, domain)
        } else {
            String::new()
        };
        let values = MacroValues {
            sender: &self.sender,
            local_part: &self.local_part,
            sender_domain: &self.sender_domain,
            domain,
            ip: self.ip,
            helo: &self.helo,
            receiver: &self.receiver,
            validated_name: &validated,
            timestamp: if for_explanation { now() } else { 0 },
        };
        spec.expand(&values)
    }

    /// Names from the client's PTR records whose A/AAAA records include the client
    /// (section 5.5), the first 10 only. With `only_under`, names outside that domain are
    /// not validated (they could not match, so their lookups are skipped).
    async fn validated_names(&mut self, only_under: Option<&str>) -> Vec<String> {
        if only_under.is_none()
            && let Some(names) = &self.validated_names
        {
            return names.clone();
        }
        let Ok(names) = self.dns.ptr(self.ip).await else {
            return Vec::new();
        };
        let mut validated = Vec::new();
        for name in names.into_iter().take(MAX_NAMES_PER_MECHANISM) {
            if only_under.is_some_and(|target| !is_same_or_subdomain(&name, target)) {
                continue;
            }
            if domain_for_query(&name).is_none() {
                continue;
            }
            let covers = match self.ip {
                IpAddr::V4(ip) => self.dns.a(&name).await.is_ok_and(|r| r.contains(&ip)),
                IpAddr::V6(ip) => self.dns.aaaa(&name).await.is_ok_and(|r| r.contains(&ip)),
            };
            if covers {
                validated.push(name);
            }
        }
        if only_under.is_none() {
            self.validated_names = Some(validated.clone());
        }
        validated
    }

    /// Section 6.2: the explanation for a fail, or `None` when anything about it is
    /// wrong (the result stays "fail" either way).
    async fn explanation(&mut self, domain: &str, exp: &MacroString) -> Option<String> {
        let expanded = self.expand(domain, exp, false).await;
        let name = domain_for_query(&expanded)?;
        let records = self.dns.txt(&name).await.ok()?;
        let [record] = records.as_slice() else {
            return None;
        };
        let text = std::str::from_utf8(record).ok().filter(|t| t.is_ascii())?;
        let explain = MacroString::parse(text, true).ok()?;
        let expanded = self.expand(domain, &explain, true).await;
        Some(sanitise_explanation(&expanded))
    }
}

/// Printable ASCII only (no CR/LF that could split an SMTP reply), at most
/// [`MAX_EXPLANATION`] octets.
pub fn sanitise_explanation(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX_EXPLANATION)
        .collect()
}

fn pick_validated_name(names: &[String], domain: &str) -> String {
    names
        .iter()
        .find(|n| n.as_str() == domain)
        .or_else(|| names.iter().find(|n| is_same_or_subdomain(n, domain)))
        .or_else(|| names.first())
        .cloned()
        .unwrap_or_else(|| "unknown".to_string())
}

fn is_same_or_subdomain(name: &str, domain: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    name.eq_ignore_ascii_case(domain)
        || (name.len() > domain.len()
            && name.as_bytes()[name.len() - domain.len() - 1] == b'.'
            && name[name.len() - domain.len()..].eq_ignore_ascii_case(domain))
}

fn v4_in_network(ip: Ipv4Addr, network: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    u32::from(ip) & mask == u32::from(network) & mask
}

fn v6_in_network(ip: Ipv6Addr, network: Ipv6Addr, prefix: u8) -> bool {
    let mask = u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0);
    u128::from(ip) & mask == u128::from(network) & mask
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let ip: Ipv4Addr = "192.0.2.77".parse().unwrap();
        assert!(v4_in_network(ip, "192.0.2.0".parse().unwrap(), 24));
        assert!(!v4_in_network(ip, "192.0.3.0".parse().unwrap(), 24));
        assert!(v4_in_network(ip, "10.0.0.0".parse().unwrap(), 0));
        assert!(v4_in_network(ip, ip, 32));
        let ip6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert!(v6_in_network(ip6, "::".parse().unwrap(), 0));
        assert!(v6_in_network(ip6, "2001:db8::".parse().unwrap(), 32));
        assert!(!v6_in_network(ip6, "2001:db9::".parse().unwrap(), 32));
    }

    #[test]
    fn subdomains() {
        assert!(is_same_or_subdomain("mail.example.com", "example.com"));
        assert!(is_same_or_subdomain("Example.com", "example.com."));
        assert!(!is_same_or_subdomain("badexample.com", "example.com"));
    }

    #[test]
    fn explanation_is_sanitised() {
        assert_eq!(sanitise_explanation("a\r\nb\u{7f}c"), "abc");
        assert_eq!(
            sanitise_explanation(&"x".repeat(1000)).len(),
            MAX_EXPLANATION
        );
    }
}
