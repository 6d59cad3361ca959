//! The TLS policy server for Postfix (outbound connectors): answers
//! `smtp_tls_policy_maps = socketmap:inet:HOST:PORT:sge` with the policy each next
//! hop gets. In order: `[tls_policy.domains]`, then the Restricted group (and any
//! domain whose route ceiling is above the default) gets `secure`, then MTA-STS;
//! anything else gets no answer, so Postfix's own default applies.

pub mod mta_sts;
mod netstring;
mod reload;
mod socketmap;

pub use socketmap::{Reply, serve};

use crate::auth::dns::Dns;
use crate::config::line_with;
use crate::config::{Config, ConfigError, LoadedConfig, TlsPolicyConfig};
use crate::policy::routes::RoutePolicy;
use mta_sts::Mode;
use reload::StsState;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Postfix TLS security levels (smtp_tls_policy_maps, postconf(5)).
const LEVELS: [&str; 9] = [
    "none",
    "may",
    "encrypt",
    "dane",
    "dane-only",
    "fingerprint",
    "verify",
    "secure",
    "sts",
];

/// Checks `[tls_policy]`: every explicit policy starts with a Postfix TLS level.
pub fn validate(loaded: &LoadedConfig) -> Vec<ConfigError> {
    let cfg = &loaded.config.tls_policy;
    let mut errors = Vec::new();
    for (domain, policy) in &cfg.domains {
        let level = policy.split_whitespace().next().unwrap_or("");
        if !LEVELS.contains(&level) || policy.contains(['\r', '\n']) {
            errors.push(ConfigError::new(
                loaded.origin.clone(),
                line_with(&loaded.text, domain, policy),
                format!(
                    "[tls_policy.domains] {domain}: {policy:?} does not start with a Postfix TLS level ({})",
                    LEVELS.join(", ")
                ),
            ));
        }
    }
    if cfg.restricted_match.trim().is_empty() || cfg.restricted_match.contains(char::is_whitespace)
    {
        errors.push(ConfigError::new(
            loaded.origin.clone(),
            line_with(&loaded.text, "restricted_match", &cfg.restricted_match),
            "[tls_policy] restricted_match must be one non-empty match list (e.g. \"nexthop:dot-nexthop\")".into(),
        ));
    }
    errors
}

/// Binds `[tls_policy] listen` and serves it on the current runtime. `base_dir`
/// resolves a relative `ca_file`; `engine` returns the running configuration.
/// The service returned takes the rest of a reload ([`PolicyService::reload`]).
pub async fn start(
    config: &crate::config::Config,
    base_dir: &std::path::Path,
    engine: Box<dyn Fn() -> Arc<dyn RunningConfig> + Send + Sync>,
) -> Result<(std::net::SocketAddr, Arc<PolicyService>), String> {
    let listen = &config.tls_policy.listen;
    let service = Arc::new(PolicyService::new(engine, config, base_dir)?);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("[tls_policy] listen {listen:?}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("[tls_policy] listen: {e}"))?;
    tokio::spawn(serve(listener, Arc::clone(&service)));
    Ok((addr, service))
}

/// The rule that answered, the `tls_policy_lookups_total{policy}` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Explicit,
    RestrictedGroup,
    MtaStsEnforce,
    MtaStsTesting,
    None,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Explicit => "explicit",
            Source::RestrictedGroup => "restricted_group",
            Source::MtaStsEnforce => "mta_sts_enforce",
            Source::MtaStsTesting => "mta_sts_testing",
            Source::None => "none",
        }
    }
}

/// A Postfix next-hop key: `domain`, `domain:port`, `[host]` or `[host]:port`.
#[derive(Debug, PartialEq, Eq)]
pub struct NextHop {
    /// Lower-case host or domain, without brackets, port or root dot.
    pub host: String,
    /// `[host]`: no MX lookup, so MTA-STS (which is about MX hosts) does not apply.
    pub bracketed: bool,
}

impl NextHop {
    pub fn parse(key: &str) -> Option<NextHop> {
        let key = key.trim();
        let (host, bracketed) = match key.strip_prefix('[') {
            Some(rest) => (rest.split_once(']')?.0, true),
            None => (key.split_once(':').map_or(key, |(h, _)| h), false),
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        // IP literals and junk have no domain policy.
        let valid = !host.is_empty()
            && host.parse::<std::net::IpAddr>().is_err()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        valid.then_some(NextHop { host, bracketed })
    }
}

/// What the socketmap reads from the running configuration (the pipeline's `Engine`
/// implements it), so this module does not import the pipeline that validates it.
pub trait RunningConfig: Send + Sync {
    fn tls_policy(&self) -> &TlsPolicyConfig;
    fn routes(&self) -> &RoutePolicy;
    /// The engine's resolver (`[dns]`, as its reload reused or rebuilt it); `None`
    /// when authentication is off.
    fn dns(&self) -> Option<&Dns>;
}

/// Answers look-ups against the running configuration (reloads apply).
pub struct PolicyService {
    engine: Box<dyn Fn() -> Arc<dyn RunningConfig> + Send + Sync>,
    base_dir: PathBuf,
    state: RwLock<Arc<StsState>>,
}

impl PolicyService {
    /// `base_dir` resolves a relative `ca_file`, now and on reload.
    pub fn new(
        engine: Box<dyn Fn() -> Arc<dyn RunningConfig> + Send + Sync>,
        config: &Config,
        base_dir: &Path,
    ) -> Result<Self, String> {
        Ok(PolicyService {
            engine,
            base_dir: base_dir.to_path_buf(),
            state: RwLock::new(Arc::new(StsState::build(config, base_dir, None)?)),
        })
    }

    /// Applies a reloaded configuration's MTA-STS settings (and `[dns]`, for when
    /// authentication is off). On error the running MTA-STS state stays.
    pub fn reload(&self, config: &Config) -> Result<(), String> {
        let state = StsState::build(config, &self.base_dir, Some(&self.state()))?;
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(state);
        Ok(())
    }

    fn state(&self) -> Arc<StsState> {
        Arc::clone(&self.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The map name Postfix must use.
    pub fn map_name(&self) -> String {
        (self.engine)().tls_policy().map_name.clone()
    }

    /// The policy for one next-hop key.
    pub async fn lookup(&self, key: &str) -> (Source, Reply) {
        let engine = (self.engine)();
        let cfg: &TlsPolicyConfig = engine.tls_policy();
        let hop = NextHop::parse(key);
        let explicit = cfg
            .domains
            .iter()
            .find(|(d, _)| d.eq_ignore_ascii_case(key.trim()))
            .or_else(|| {
                let host = &hop.as_ref()?.host;
                cfg.domains
                    .iter()
                    .find(|(d, _)| d.trim_end_matches('.').eq_ignore_ascii_case(host))
            });
        if let Some((_, policy)) = explicit {
            return (Source::Explicit, Reply::Ok(policy.trim().to_string()));
        }
        let Some(hop) = hop else {
            return (Source::None, Reply::NotFound);
        };
        if engine.routes().requires_verified_tls(&hop.host) {
            let policy = format!("secure match={}", cfg.restricted_match.trim());
            return (Source::RestrictedGroup, Reply::Ok(policy));
        }
        if hop.bracketed || !cfg.mta_sts {
            return (Source::None, Reply::NotFound);
        }
        let state = self.state();
        let Some(sts) = &state.mta_sts else {
            return (Source::None, Reply::NotFound);
        };
        let dns = engine.dns().unwrap_or(&state.dns).authenticator();
        match sts.policy(dns.as_ref(), &hop.host).await {
            Some(p) if p.mode == Mode::Enforce => (
                Source::MtaStsEnforce,
                // servername=hostname: SNI for the MX host, as RFC 8461 §4.2 expects.
                Reply::Ok(format!(
                    "secure match={} servername=hostname",
                    p.postfix_match()
                )),
            ),
            Some(p) if p.mode == Mode::Testing => {
                tracing::info!(domain = %hop.host, "MTA-STS testing policy: answering may");
                (Source::MtaStsTesting, Reply::Ok("may".into()))
            }
            _ => (Source::None, Reply::NotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_next_hop_keys() {
        let h = |k| NextHop::parse(k);
        assert_eq!(
            h("Agency.GOVT.nz."),
            Some(NextHop {
                host: "agency.govt.nz".into(),
                bracketed: false
            })
        );
        assert_eq!(
            h("[mx.agency.govt.nz]:2525"),
            Some(NextHop {
                host: "mx.agency.govt.nz".into(),
                bracketed: true
            })
        );
        assert_eq!(h("agency.govt.nz:587").unwrap().host, "agency.govt.nz");
        assert_eq!(h("[127.0.0.1]:25"), None);
        assert_eq!(h("[ipv6:::1]"), None);
        assert_eq!(h(""), None);
        assert_eq!(h("a b"), None);
    }
}
