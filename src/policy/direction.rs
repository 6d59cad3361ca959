//! Deciding whether a message is inbound or outbound: outbound is an authenticated
//! submission (`{auth_authen}`), a client in `[direction] trusted_networks`, or a
//! configured `{daemon_name}`; everything else is inbound. Every log line shows the
//! result, and inbound is the safe default (inbound mail is authenticated, never
//! signed). Configuration: `[direction]` of sge-milter.toml (README.md).

use crate::config::{ConfigError, DirectionConfig};
use crate::envelope::{Direction, Envelope};
use ipnet::IpNet;

/// The compiled direction rules.
#[derive(Clone, Debug)]
pub struct DirectionPolicy {
    trusted: Vec<IpNet>,
    daemon_names: Vec<String>,
    authenticated_is_outbound: bool,
}

impl DirectionPolicy {
    pub fn compile(cfg: &DirectionConfig, origin: &str, text: &str) -> Result<Self, ConfigError> {
        let trusted = cfg
            .trusted_networks
            .iter()
            .map(|n| {
                n.parse::<IpNet>()
                    .or_else(|_| n.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        ConfigError::new(
                            origin.to_string(),
                            crate::config::line_containing(text, n),
                            format!("[direction] trusted_networks: {n:?} is not an address or CIDR network"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(DirectionPolicy {
            trusted,
            daemon_names: cfg.outbound_daemon_names.clone(),
            authenticated_is_outbound: cfg.authenticated_is_outbound,
        })
    }

    /// Outbound when authenticated, from a trusted network, or received by an
    /// outbound daemon; inbound otherwise.
    pub fn classify(&self, env: &Envelope) -> Direction {
        let authenticated = env.auth_user.as_deref().is_some_and(|u| !u.is_empty());
        let trusted_ip = env.client_ip.is_some_and(|ip| {
            let ip = canonical_ip(ip);
            self.trusted.iter().any(|n| n.contains(&ip))
        });
        let daemon = env
            .daemon_name
            .as_deref()
            .is_some_and(|d| self.daemon_names.iter().any(|n| n == d));
        if (authenticated && self.authenticated_is_outbound) || trusted_ip || daemon {
            Direction::Outbound
        } else {
            Direction::Inbound
        }
    }
}

/// `::ffff:10.0.0.1` is the IPv4 client 10.0.0.1.
pub fn canonical_ip(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> DirectionPolicy {
        DirectionPolicy::compile(
            &DirectionConfig {
                trusted_networks: vec!["10.0.0.0/8".into(), "192.0.2.7".into()],
                outbound_daemon_names: vec!["ORIGINATING".into()],
                authenticated_is_outbound: true,
            },
            "t",
            "",
        )
        .unwrap()
    }

    #[test]
    fn classifies_each_way() {
        let p = policy();
        let mut env = Envelope {
            client_ip: Some("203.0.113.5".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(p.classify(&env), Direction::Inbound);
        env.client_ip = Some("::ffff:10.1.2.3".parse().unwrap());
        assert_eq!(p.classify(&env), Direction::Outbound);
        env.client_ip = Some("192.0.2.7".parse().unwrap());
        assert_eq!(p.classify(&env), Direction::Outbound);
        env.client_ip = Some("203.0.113.5".parse().unwrap());
        env.daemon_name = Some("ORIGINATING".into());
        assert_eq!(p.classify(&env), Direction::Outbound);
        env.daemon_name = None;
        env.auth_user = Some("alice".into());
        assert_eq!(p.classify(&env), Direction::Outbound);
    }

    #[test]
    fn rejects_bad_network() {
        let cfg = DirectionConfig {
            trusted_networks: vec!["10.0.0.0/33".into()],
            ..Default::default()
        };
        assert!(DirectionPolicy::compile(&cfg, "t", "").is_err());
    }
}
