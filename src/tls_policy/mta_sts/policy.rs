//! The MTA-STS policy file (RFC 8461 §3.2). Hand-written: mail-auth 0.13 parses the
//! `_mta-sts` TXT record but not the policy file, and the format is a few lines of
//! `key: value`.

/// Largest policy body read (RFC 8461 §3.3 suggests 64 KiB).
pub const MAX_POLICY_SIZE: usize = 64 * 1024;
/// Largest `max_age` allowed (RFC 8461 §3.2: 31557600, about a year).
pub const MAX_MAX_AGE: u64 = 31_557_600;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Testing,
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A parsed policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// MX patterns, lower-case: `mx.example.com` or `*.example.com`.
    pub mx: Vec<String>,
    /// Seconds the policy may be cached.
    pub max_age: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("policy is not UTF-8 text")]
    NotText,
    #[error("policy has no \"version: STSv1\"")]
    NoVersion,
    #[error("policy mode {0:?} is not enforce, testing or none")]
    BadMode(String),
    #[error("policy has no mode")]
    NoMode,
    #[error("policy max_age {0:?} is not a number of seconds up to 31557600")]
    BadMaxAge(String),
    #[error("policy has no max_age")]
    NoMaxAge,
    #[error("policy in mode {0} lists no mx")]
    NoMx(&'static str),
}

impl Policy {
    /// Parses a policy body. Unknown keys are ignored (§3.2: extensions); of a
    /// repeated single-valued key the first wins.
    pub fn parse(body: &[u8]) -> Result<Policy, PolicyError> {
        let text = std::str::from_utf8(body).map_err(|_| PolicyError::NotText)?;
        let (mut version, mut mode, mut max_age) = (None, None, None);
        let mut mx = Vec::new();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "version" => {
                    version.get_or_insert(value);
                }
                "mode" => {
                    mode.get_or_insert(value);
                }
                "max_age" => {
                    max_age.get_or_insert(value);
                }
                "mx" => mx.push(value.trim_end_matches('.').to_ascii_lowercase()),
                _ => {}
            }
        }
        if version != Some("STSv1") {
            return Err(PolicyError::NoVersion);
        }
        let mode = match mode.ok_or(PolicyError::NoMode)? {
            "enforce" => Mode::Enforce,
            "testing" => Mode::Testing,
            "none" => Mode::None,
            other => return Err(PolicyError::BadMode(other.to_string())),
        };
        let raw_age = max_age.ok_or(PolicyError::NoMaxAge)?;
        let max_age = raw_age
            .parse::<u64>()
            .ok()
            .filter(|a| *a <= MAX_MAX_AGE && raw_age.len() <= 10)
            .ok_or_else(|| PolicyError::BadMaxAge(raw_age.to_string()))?;
        if mx.is_empty() && mode != Mode::None {
            return Err(PolicyError::NoMx(mode.as_str()));
        }
        Ok(Policy { mode, mx, max_age })
    }

    /// Whether an MX host name matches one of the patterns (§4.1: `*.` stands for
    /// exactly one left-most label).
    pub fn matches_mx(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(parent) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
            None => *p == host,
        })
    }

    /// The Postfix `match=` list for these patterns: `*.example.com` becomes
    /// `.example.com`. Postfix's `.domain` also matches deeper sub-domains, one label
    /// more permissive than RFC 8461 §4.1; the certificate must still verify.
    pub fn postfix_match(&self) -> String {
        self.mx
            .iter()
            .map(|p| p.strip_prefix('*').unwrap_or(p))
            .collect::<Vec<_>>()
            .join(":")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &[u8] =
        b"version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.Example.net.\r\nmax_age: 604800\r\n";

    #[test]
    fn parses_rfc_example() {
        let p = Policy::parse(GOOD).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.mx, ["mx1.example.com", "*.example.net"]);
        assert_eq!(p.max_age, 604800);
        assert_eq!(p.postfix_match(), "mx1.example.com:.example.net");
    }

    #[test]
    fn wildcard_matches_one_label() {
        let p = Policy::parse(GOOD).unwrap();
        assert!(p.matches_mx("MX1.example.com."));
        assert!(p.matches_mx("a.example.net"));
        assert!(!p.matches_mx("example.net"));
        assert!(!p.matches_mx("a.b.example.net"));
        assert!(!p.matches_mx("mx2.example.com"));
    }

    #[test]
    fn rejects_broken_policies() {
        let e = |t: &str| Policy::parse(t.as_bytes()).unwrap_err();
        assert_eq!(
            e("mode: enforce\nmx: a\nmax_age: 1\n"),
            PolicyError::NoVersion
        );
        assert_eq!(
            e("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n"),
            PolicyError::BadMode("strict".into())
        );
        assert_eq!(
            e("version: STSv1\nmode: enforce\nmx: a\nmax_age: 99999999999\n"),
            PolicyError::BadMaxAge("99999999999".into())
        );
        assert_eq!(
            e("version: STSv1\nmode: enforce\nmax_age: 5\n"),
            PolicyError::NoMx("enforce")
        );
        assert_eq!(Policy::parse(b"\xff"), Err(PolicyError::NotText));
        assert!(Policy::parse(b"version: STSv1\nmode: none\nmax_age: 5\n").is_ok());
    }
}
