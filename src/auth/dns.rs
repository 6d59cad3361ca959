//! The configured resolver (`[dns]`) and its record caches, shared by every
//! authentication check (and by any other evaluator, e.g. an own SPF implementation).

use super::cache::{DnsCacheStats, DnsCaches};
use crate::config::auth::DnsConfig;
use mail_auth::MessageAuthenticator;
use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The resolver plus caches. Cheap to clone.
#[derive(Clone)]
pub struct Dns {
    authenticator: Arc<MessageAuthenticator>,
    caches: Arc<DnsCaches>,
}

impl Dns {
    /// Builds the resolver from `[dns]`. No query is sent here.
    pub fn new(cfg: &DnsConfig) -> Result<Dns, String> {
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
            caches: Arc::new(DnsCaches::new(cfg.cache_entries, cfg.max_ttl.duration())),
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
