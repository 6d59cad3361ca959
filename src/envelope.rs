//! What the MTA tells us about one message before its content: who connected,
//! who sends, to whom, and which way the message travels.

use serde::Serialize;
use std::net::IpAddr;

/// Which way a message crosses the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Connection and SMTP envelope facts for one message.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Envelope {
    /// Postfix queue id (macro `i`), when the MTA gave one.
    pub queue_id: Option<String>,
    pub client_ip: Option<IpAddr>,
    pub client_name: Option<String>,
    pub helo: Option<String>,
    /// Envelope sender without angle brackets; empty for the null sender `<>`.
    pub mail_from: Option<String>,
    /// Envelope recipients without angle brackets.
    pub rcpts: Vec<String>,
    /// `{auth_authen}`: the SASL login name of an authenticated submission.
    pub auth_user: Option<String>,
    /// `{daemon_name}`: which MTA service received the message.
    pub daemon_name: Option<String>,
    /// `{tls_version}`: empty or absent when the message arrived in clear.
    pub tls_version: Option<String>,
    pub direction: Option<Direction>,
}

impl Envelope {
    /// The direction, inbound when it has not been decided yet (the safer default:
    /// inbound mail is authenticated, never signed).
    pub fn direction(&self) -> Direction {
        self.direction.unwrap_or(Direction::Inbound)
    }

    /// Whether the message arrived over TLS.
    pub fn has_tls(&self) -> bool {
        self.tls_version.as_deref().is_some_and(|v| !v.is_empty())
    }

    /// The domain part of every recipient, lower-cased.
    pub fn rcpt_domains(&self) -> impl Iterator<Item = (&str, String)> {
        self.rcpts
            .iter()
            .map(|r| (r.as_str(), domain_of(r).to_ascii_lowercase()))
    }
}

/// The domain part of an address (`user@Example.org` -> `Example.org`); the whole
/// string when it has no `@`.
pub fn domain_of(addr: &str) -> &str {
    addr.rsplit_once('@').map_or(addr, |(_, d)| d)
}

/// Strips SMTP angle brackets and surrounding whitespace: `<a@b>` -> `a@b`.
pub fn strip_brackets(addr: &str) -> &str {
    let a = addr.trim();
    a.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_brackets_and_finds_domains() {
        assert_eq!(strip_brackets(" <a@B.example> "), "a@B.example");
        assert_eq!(strip_brackets("<>"), "");
        assert_eq!(domain_of("a@B.example"), "B.example");
        let env = Envelope {
            rcpts: vec!["x@Agency.govt.nz".into()],
            ..Default::default()
        };
        let doms: Vec<_> = env.rcpt_domains().map(|(_, d)| d).collect();
        assert_eq!(doms, ["agency.govt.nz"]);
    }
}
