//! `[tls_policy]`: the Postfix TLS policy socketmap (outbound connectors).

use super::Seconds;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsPolicyConfig {
    /// `HOST:PORT` of the socketmap server Postfix queries through
    /// `smtp_tls_policy_maps = socketmap:inet:HOST:PORT:sge`; empty turns it off.
    pub listen: String,
    /// The map name Postfix sends (the last field of the socketmap table name).
    pub map_name: String,
    /// Extra trust anchors (PEM) for MTA-STS policy fetches, added to the system
    /// store: private CAs and tests. Relative paths are relative to the config file.
    pub ca_file: Option<PathBuf>,
    /// `match=` of the `secure` policy Restricted-group domains get (Postfix
    /// smtp_tls_policy_maps syntax, e.g. `nexthop:dot-nexthop` or `hostname`).
    pub restricted_match: String,
    /// Look up MTA-STS (RFC 8461) for domains with no other policy.
    pub mta_sts: bool,
    /// Time allowed for one MTA-STS policy fetch (connect, TLS, response).
    pub fetch_timeout: Seconds,
    /// MTA-STS policies kept in memory.
    pub cache_entries: usize,
    /// Explicit per-domain policies, in smtp_tls_policy_maps syntax
    /// (`"secure match=mx.partner.example"`, `"encrypt"`, `"may"`). They win over
    /// everything else; sub-domains are not included.
    pub domains: BTreeMap<String, String>,
}

impl Default for TlsPolicyConfig {
    fn default() -> Self {
        TlsPolicyConfig {
            listen: String::new(),
            map_name: "sge".into(),
            ca_file: None,
            restricted_match: "nexthop:dot-nexthop".into(),
            mta_sts: true,
            fetch_timeout: Seconds(10.0),
            cache_entries: 10_000,
            domains: BTreeMap::new(),
        }
    }
}
