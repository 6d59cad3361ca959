//! The configured resolver (`[dns]`) and its record caches, shared by every
//! authentication check (and by any other evaluator, e.g. an own SPF implementation).

use super::cache::{DnsCacheStats, DnsCaches};
use crate::config::auth::DnsConfig;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::resolver::UnwrapTxtRecord;
use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::{DnsError, Error, MessageAuthenticator, ResolverCache, Txt};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The resolver plus caches. Cheap to clone.
#[derive(Clone)]
pub struct Dns {
    authenticator: Arc<MessageAuthenticator>,
    caches: Arc<DnsCaches>,
    /// How long "no such record" is remembered (`[dns] negative_ttl`).
    negative_ttl: Duration,
    /// The settings it was built from, for a reload to compare.
    cfg: DnsConfig,
}

/// What [`Dns::reuse`] kept of the running resolver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsReuse {
    /// `[dns]` unchanged: resolver and caches carry over.
    Kept,
    /// Only query settings changed: a new resolver, the same caches.
    NewResolver,
    /// Name servers or cache settings changed: resolver and caches are new (answers
    /// from other name servers, or sized or aged differently, are not kept).
    Rebuilt,
}

impl Dns {
    /// Builds the resolver from `[dns]`. No query is sent here.
    pub fn new(cfg: &DnsConfig) -> Result<Dns, String> {
        let caches = Arc::new(DnsCaches::new(cfg.cache_entries, cfg.max_ttl.duration()));
        Dns::with_caches(cfg, caches)
    }

    /// For a reload: `previous` as it is when `[dns]` did not change, else a new
    /// resolver that keeps `previous`'s caches unless their own settings changed.
    pub fn reuse(cfg: &DnsConfig, previous: &Dns) -> Result<(Dns, DnsReuse), String> {
        // Debug text compares every field (the config types have no PartialEq).
        let text = |v: &dyn std::fmt::Debug| format!("{v:?}");
        if text(cfg) == text(&previous.cfg) {
            return Ok((previous.clone(), DnsReuse::Kept));
        }
        let cache_key = |c: &DnsConfig| text(&(&c.nameservers, c.cache_entries, &c.max_ttl));
        if cache_key(cfg) == cache_key(&previous.cfg) {
            let dns = Dns::with_caches(cfg, Arc::clone(&previous.caches))?;
            return Ok((dns, DnsReuse::NewResolver));
        }
        Ok((Dns::new(cfg)?, DnsReuse::Rebuilt))
    }

    fn with_caches(cfg: &DnsConfig, caches: Arc<DnsCaches>) -> Result<Dns, String> {
        let (config, mut opts) = if cfg.nameservers.is_empty() {
            match mail_auth::hickory_resolver::system_conf::read_system_conf() {
                Ok(system) => system,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the system resolver configuration; using 127.0.0.1:53");
                    (
                        ResolverConfig::from_name_servers(vec![NameServerConfig::udp_and_tcp(
                            IpAddr::from([127, 0, 0, 1]),
                        )]),
                        ResolverOpts::default(),
                    )
                }
            }
        } else {
            let servers = cfg
                .nameservers
                .iter()
                .map(|s| parse_nameserver(s))
                .collect::<Result<Vec<_>, _>>()?;
            (
                ResolverConfig::from_name_servers(servers),
                ResolverOpts::default(),
            )
        };
        opts.timeout = cfg.timeout.duration();
        opts.attempts = cfg.attempts.max(1);
        opts.positive_max_ttl = Some(cfg.max_ttl.duration());
        opts.negative_max_ttl = Some(cfg.negative_ttl.duration());
        // Our own caches hold parsed records; hickory's cache still serves negative
        // answers (which mail-auth does not cache) within negative_ttl.
        opts.cache_size = cfg.cache_entries;
        let authenticator = MessageAuthenticator::new(config, opts)
            .map_err(|e| format!("cannot build the DNS resolver: {e}"))?;
        Ok(Dns {
            authenticator: Arc::new(authenticator),
            caches,
            negative_ttl: cfg.negative_ttl.duration(),
            cfg: cfg.clone(),
        })
    }

    /// The mail-auth resolver (wraps hickory's `TokioResolver`).
    pub fn authenticator(&self) -> &Arc<MessageAuthenticator> {
        &self.authenticator
    }

    /// The record caches to pass to every mail-auth call (`caches().params(..)`).
    pub fn caches(&self) -> &Arc<DnsCaches> {
        &self.caches
    }

    pub fn stats(&self) -> DnsCacheStats {
        self.caches.stats()
    }

    /// A TXT lookup through the record cache that also remembers "no such record"
    /// (NXDOMAIN or no TXT) for `[dns] negative_ttl`. mail-auth caches only records
    /// it found, so without this every message would ask again for each missing
    /// `_dmarc` parent of the tree walk and each unpublished DKIM selector.
    /// `key` is a fully qualified name with the trailing dot, as mail-auth keys it.
    pub async fn txt_cached<T>(&self, key: &str) -> mail_auth::Result<Arc<T>>
    where
        T: TxtRecordParser + Into<Txt> + UnwrapTxtRecord,
    {
        let found = self
            .authenticator
            .txt_lookup::<T>(key, Some(&self.caches.txt))
            .await;
        if let Err(e @ Error::Dns(DnsError::RecordNotFound(_))) = &found {
            let until = Instant::now() + self.negative_ttl;
            self.caches
                .txt
                .insert(key.into(), Txt::Error(e.clone()), until);
        }
        found
    }

    /// Fills the cache with every answer of the DMARC tree walk (RFC 9989 §4.10)
    /// for `domain`, negative ones included, so mail-auth's walk at end of message
    /// is answered from memory once a domain has been seen.
    pub async fn prefetch_dmarc(&self, domain: &str) {
        let domain = mail_auth::common::to_a_label(domain.trim_end_matches('.'));
        for name in dmarc_walk(&domain) {
            let key = format!("_dmarc.{name}.");
            match self.txt_cached::<mail_auth::dmarc::Dmarc>(&key).await {
                // psd=y/n ends the walk there, as in mail-auth.
                Ok(d) if !matches!(d.psd, mail_auth::dmarc::Psd::Default) => break,
                Ok(_) | Err(Error::Dns(DnsError::RecordNotFound(_))) => {}
                // Other errors are mail-auth's to report.
                Err(_) => break,
            }
        }
    }
}

/// The names the DMARC tree walk asks for, longest first: the domain itself, then
/// (for 8 or more labels) its last 7 labels, then one label fewer each time.
fn dmarc_walk(domain: &str) -> Vec<&str> {
    let labels: Vec<usize> = std::iter::once(0)
        .chain(domain.match_indices('.').map(|(i, _)| i + 1))
        .collect();
    let total = labels.len();
    if total < 2 || domain.is_empty() {
        return Vec::new();
    }
    let mut names = vec![domain];
    let mut count = if total >= 8 { 7 } else { total - 1 };
    while count >= 1 {
        names.push(&domain[labels[total - count]..]);
        count -= 1;
    }
    names
}

/// `IP`, `IP:PORT` or `[IPv6]:PORT`.
fn parse_nameserver(s: &str) -> Result<NameServerConfig, String> {
    let (ip, port) = if let Ok(sa) = s.parse::<SocketAddr>() {
        (sa.ip(), sa.port())
    } else if let Ok(ip) = s.parse::<IpAddr>() {
        (ip, 53)
    } else {
        return Err(format!(
            "[dns] nameservers: {s:?} is not an IP address or IP:PORT"
        ));
    };
    let mut ns = NameServerConfig::udp_and_tcp(ip);
    for c in &mut ns.connections {
        c.port = port;
    }
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dmarc_walk_names_match_the_tree_walk() {
        assert_eq!(
            dmarc_walk("a.agency.govt.nz"),
            ["a.agency.govt.nz", "agency.govt.nz", "govt.nz", "nz"]
        );
        assert_eq!(dmarc_walk("nz"), Vec::<&str>::new());
        let long = "a.b.c.d.e.f.g.h.i";
        let w = dmarc_walk(long);
        assert_eq!(w[..3], [long, "c.d.e.f.g.h.i", "d.e.f.g.h.i"]);
        assert_eq!(w.last(), Some(&"i"));
    }

    #[test]
    fn a_reload_keeps_what_did_not_change() {
        let cfg = DnsConfig {
            nameservers: vec!["127.0.0.1:5353".into()],
            ..Default::default()
        };
        let first = Dns::new(&cfg).unwrap();
        let (same, how) = Dns::reuse(&cfg, &first).unwrap();
        assert_eq!(how, DnsReuse::Kept);
        assert!(Arc::ptr_eq(&same.authenticator, &first.authenticator));
        let slower = DnsConfig {
            timeout: crate::config::Seconds(9.0),
            ..cfg.clone()
        };
        let (dns, how) = Dns::reuse(&slower, &first).unwrap();
        assert_eq!(how, DnsReuse::NewResolver);
        assert!(Arc::ptr_eq(&dns.caches, &first.caches));
        assert!(!Arc::ptr_eq(&dns.authenticator, &first.authenticator));
        let other = DnsConfig {
            nameservers: vec!["127.0.0.2:5353".into()],
            ..cfg
        };
        let (dns, how) = Dns::reuse(&other, &first).unwrap();
        assert_eq!(how, DnsReuse::Rebuilt);
        assert!(!Arc::ptr_eq(&dns.caches, &first.caches));
    }

    #[test]
    fn parses_nameservers() {
        let ns = parse_nameserver("127.0.0.1:5353").unwrap();
        assert_eq!(ns.ip, IpAddr::from([127, 0, 0, 1]));
        assert!(ns.connections.iter().all(|c| c.port == 5353));
        assert!(parse_nameserver("[::1]:53").is_ok());
        assert!(
            parse_nameserver("::1")
                .unwrap()
                .connections
                .iter()
                .all(|c| c.port == 53)
        );
        assert!(parse_nameserver("dns.example").is_err());
    }
}
