//! The `[dns]` and `[auth]` sections of `sge-milter.toml`, as written by the admin.

use super::{Action, Seconds};
use serde::Deserialize;
use std::path::PathBuf;

/// `[dns]`: the resolver every SPF, DKIM, DMARC and ARC lookup goes through.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// `IP` or `IP:PORT` (IPv6: `[::1]:53`). Empty: the system resolver (`/etc/resolv.conf`).
    pub nameservers: Vec<String>,
    /// Time allowed for one query before it is retried or fails.
    pub timeout: Seconds,
    /// Tries per query (per name server).
    pub attempts: usize,
    /// Entries kept per record type (TXT, MX, A, AAAA, PTR).
    pub cache_entries: u64,
    /// Longest time a record is cached, whatever its TTL says.
    pub max_ttl: Seconds,
    /// How long "no such record" answers are cached by the resolver.
    pub negative_ttl: Seconds,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            nameservers: Vec::new(),
            timeout: Seconds(2.0),
            attempts: 2,
            cache_entries: 10_000,
            max_ttl: Seconds(3600.0),
            negative_ttl: Seconds(300.0),
        }
    }
}

/// `[auth]`: inbound verification, enforcement and outbound signing.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Verify SPF, DKIM, DMARC and ARC on inbound mail and sign outbound mail.
    pub enabled: bool,
    /// The authserv-id in `Authentication-Results`; empty = this host's name.
    pub authserv_id: String,
    /// DMARC fail where the domain publishes `p=reject`.
    pub dmarc_reject_action: Action,
    /// DMARC fail where the domain publishes `p=quarantine`.
    pub dmarc_quarantine_action: Action,
    /// DMARC fail where the domain publishes `p=none` (monitoring only).
    pub dmarc_none_action: Action,
    /// SPF `fail` when no DMARC policy decides the message.
    pub spf_fail_action: Action,
    /// SPF `softfail` when no DMARC policy decides the message.
    pub spf_softfail_action: Action,
    /// A DNS temporary error that leaves SPF or DMARC undecided. Never a silent pass:
    /// `tempfail` (default) asks the sender to retry; `accept`/`tag` lets it through marked.
    pub dns_error_action: Action,
    /// SPF or DMARC `permerror` (a broken record).
    pub permerror_action: Action,
    /// ARC sealers (`d=` of the last ARC-Seal) trusted to vouch for a message whose
    /// DMARC fails because a mailing list or forwarder changed it.
    pub trusted_arc_sealers: Vec<String>,
    /// Inbound mail whose From or envelope domain is one of `[policy] local_domains`
    /// and that does not authenticate (NZISM 15.2.37: spoofed internal mail from outside).
    pub local_domain_spoof_action: Action,
    /// An outbound message that cannot be signed (no key for its From domain is not
    /// an error; a signing failure or a message too large to keep is).
    pub sign_failure_action: Action,
    /// Headers signed, in order; `From` is listed twice so a second From cannot be added.
    pub sign_headers: Vec<String>,
    /// Signing keys, one entry per (domain, selector).
    pub dkim_keys: Vec<DkimKeyConfig>,
    /// Entries in the SPF verdict cache, keyed by (client IP, HELO, sender domain).
    pub spf_cache_entries: u64,
    /// How long an SPF verdict is reused.
    pub spf_cache_ttl: Seconds,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: true,
            authserv_id: String::new(),
            dmarc_reject_action: Action::Reject,
            dmarc_quarantine_action: Action::Quarantine,
            dmarc_none_action: Action::Accept,
            spf_fail_action: Action::Tag,
            spf_softfail_action: Action::Accept,
            dns_error_action: Action::Tempfail,
            permerror_action: Action::Tag,
            trusted_arc_sealers: Vec::new(),
            local_domain_spoof_action: Action::Reject,
            sign_failure_action: Action::Tempfail,
            sign_headers: DEFAULT_SIGN_HEADERS.iter().map(|s| s.to_string()).collect(),
            dkim_keys: Vec::new(),
            spf_cache_entries: 10_000,
            spf_cache_ttl: Seconds(300.0),
        }
    }
}

/// Signed by default. `From` twice: oversigned (RFC 6376 §8.15).
pub const DEFAULT_SIGN_HEADERS: &[&str] = &[
    "From",
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "To",
    "Cc",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "X-Protective-Marking",
];

/// One `[[auth.dkim_keys]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimKeyConfig {
    pub domain: String,
    pub selector: String,
    /// PEM private key: RSA (PKCS#1 or PKCS#8, 2048 bits or more) or Ed25519 (PKCS#8).
    /// Relative paths are relative to the config file.
    pub key_file: PathBuf,
}
