//! Authentication: SPF at MAIL FROM, DKIM/ARC/DMARC at end of message for inbound
//! mail, DKIM signing for outbound mail; DNS through one configured resolver with
//! TTL-bounded caches. No I/O blocks the runtime: every lookup is async.
//!
//! [`AuthEngine`] is compiled from `[dns]` and `[auth]` once per configuration;
//! [`MessageAuth`] follows one message through the pipeline.

mod body_hash;
pub mod cache;
pub mod dns;
pub mod enforce;
pub mod inbound;
pub mod kept;
pub mod keygen;
mod relaxed;
pub mod report;
pub mod sign;
pub mod signing_key;
pub mod spf_check;

pub use kept::RawParts;
pub use report::AuthReport;
pub use spf_check::{SpfOutcome, SpfVerdict};

use crate::config::{ConfigError, ConfigErrors, LoadedConfig};
use crate::envelope::{Direction, Envelope, domain_of};
use crate::metrics::CacheReading;
use crate::policy::{Action, Finding, FindingKind, HeaderEdit};
use body_hash::{BodyHashes, ParsedHead, SigningBodyHash};
use cache::{CacheStats, DnsCacheStats};
use dns::{Dns, DnsReuse};
use enforce::AuthPolicy;
use mail_auth::AuthenticatedMessage;
use serde::Serialize;
use sign::Signer;
use spf_check::SpfCache;
use std::path::Path;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Header name of the results header.
pub const AR_HEADER: &str = "Authentication-Results";
/// Header name of a DKIM signature.
pub const DKIM_HEADER: &str = "DKIM-Signature";
/// Rule id of the finding for an outbound message that could not be signed.
pub const SIGN_FAILED_RULE: &str = "auth.dkim_sign_failed";

/// Everything authentication needs, compiled from one configuration.
pub struct AuthEngine {
    dns: Dns,
    spf_cache: Arc<SpfCache>,
    /// `spf_cache_entries` and `spf_cache_ttl` the SPF cache was built with.
    spf_cache_key: String,
    policy: AuthPolicy,
    signer: Signer,
    authserv_id: String,
    sign_failure_action: Action,
}

/// Cache counters, for the metrics endpoint.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct AuthStats {
    pub dns: DnsCacheStats,
    pub spf_verdicts: CacheStats,
}

impl AuthStats {
    /// The readings the metrics export, one per cache (names: [`crate::metrics::CACHE_NAMES`]).
    pub fn cache_readings(&self) -> Vec<CacheReading> {
        let reading = |cache, s: CacheStats| CacheReading {
            cache,
            hits: s.hits,
            misses: s.misses,
            entries: s.entries,
        };
        vec![
            reading("txt", self.dns.txt),
            reading("mx", self.dns.mx),
            reading("ipv4", self.dns.ipv4),
            reading("ipv6", self.dns.ipv6),
            reading("ptr", self.dns.ptr),
            reading("spf_verdict", self.spf_verdicts),
        ]
    }
}

impl AuthEngine {
    /// Builds the resolver, caches and signing keys; `None` when `[auth] enabled = false`.
    pub fn compile(loaded: &LoadedConfig) -> Result<Option<AuthEngine>, ConfigErrors> {
        AuthEngine::compile_after(loaded, None)
    }

    /// [`AuthEngine::compile`] for a reload: the resolver and caches of `previous`
    /// carry over unless their own settings changed (then the log says which were
    /// rebuilt). Signing keys are always read again from disk.
    pub fn compile_after(
        loaded: &LoadedConfig,
        previous: Option<&AuthEngine>,
    ) -> Result<Option<AuthEngine>, ConfigErrors> {
        let cfg = &loaded.config.auth;
        if !cfg.enabled {
            return Ok(None);
        }
        let origin = &loaded.origin;
        let text = &loaded.text;
        let mut errors = ConfigErrors::default();
        let dns = match previous {
            Some(p) => Dns::reuse(&loaded.config.dns, &p.dns),
            None => Dns::new(&loaded.config.dns).map(|d| (d, DnsReuse::Rebuilt)),
        };
        let dns = dns
            .map_err(|e| {
                let line = crate::config::line_containing(text, "nameservers");
                errors.push(ConfigError::new(origin.clone(), line, e));
            })
            .ok();
        let base_dir = if origin.starts_with("embedded:") {
            Path::new("")
        } else {
            Path::new(origin.as_str()).parent().unwrap_or(Path::new(""))
        };
        let signer = Signer::load(&cfg.dkim_keys, &cfg.sign_headers, base_dir)
            .map_err(|errs| {
                for (file, e) in errs {
                    errors.push(ConfigError::new(
                        origin.clone(),
                        crate::config::line_containing(text, &file),
                        format!("[[auth.dkim_keys]] {e}"),
                    ));
                }
            })
            .ok();
        if !cfg
            .sign_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case("from"))
        {
            errors.push(ConfigError::new(
                origin.clone(),
                crate::config::line_containing(text, "sign_headers"),
                "[auth] sign_headers must include From".into(),
            ));
        }
        let (Some(dns), Some(signer)) = (dns, signer) else {
            return Err(errors);
        };
        errors.into_result(())?;
        let authserv_id = if cfg.authserv_id.trim().is_empty() {
            host_name()
        } else {
            cfg.authserv_id.trim().to_string()
        };
        let (dns, dns_reuse) = dns;
        let spf_cache_key = format!("{:?}", (cfg.spf_cache_entries, cfg.spf_cache_ttl));
        let spf_cache = previous
            .filter(|p| {
                // Verdicts rest on DNS answers and name our host (%{r}).
                dns_reuse != DnsReuse::Rebuilt
                    && p.spf_cache_key == spf_cache_key
                    && p.authserv_id == authserv_id
            })
            .map(|p| Arc::clone(&p.spf_cache));
        if previous.is_some() {
            log_cache_reuse(dns_reuse, spf_cache.is_some());
        }
        let spf_cache = spf_cache.unwrap_or_else(|| {
            Arc::new(SpfCache::new(
                cfg.spf_cache_entries,
                cfg.spf_cache_ttl.duration(),
            ))
        });
        Ok(Some(AuthEngine {
            dns,
            spf_cache,
            spf_cache_key,
            policy: AuthPolicy::new(cfg, &loaded.config.policy.local_domains),
            signer,
            authserv_id,
            sign_failure_action: cfg.sign_failure_action,
        }))
    }

    /// The configured resolver and record caches (for other evaluators, e.g. SPF).
    pub fn dns(&self) -> &Dns {
        &self.dns
    }

    pub fn authserv_id(&self) -> &str {
        &self.authserv_id
    }

    pub fn stats(&self) -> AuthStats {
        AuthStats {
            dns: self.dns.stats(),
            spf_verdicts: self.spf_cache.stats(),
        }
    }

    /// SPF at MAIL FROM for inbound mail (`None` for outbound mail). Without a client
    /// IP (an offline scan without `--client-ip`) the result is `none`.
    pub async fn check_spf(&self, env: &Envelope) -> Option<SpfVerdict> {
        if env.direction() != Direction::Inbound {
            return None;
        }
        let sender = env.mail_from.as_deref().unwrap_or("");
        let helo = env.helo.as_deref().unwrap_or("");
        let Some(ip) = env.client_ip else {
            return Some(SpfVerdict::none(sender, helo));
        };
        let ip = crate::policy::direction::canonical_ip(ip);
        Some(
            spf_check::check(
                &self.dns,
                &self.spf_cache,
                ip,
                helo,
                sender,
                &self.authserv_id,
            )
            .await,
        )
    }

    /// Starts one message.
    pub fn begin(self: &Arc<Self>, env: &Envelope) -> MessageAuth {
        MessageAuth {
            engine: Arc::clone(self),
            inbound: env.direction() == Direction::Inbound,
            ar_seen: 0,
            forged_ar: Vec::new(),
            dkim_keys: Vec::new(),
            prefetch: Vec::new(),
            streamed: None,
            to_sign: None,
            report: AuthReport::default(),
        }
    }
}

/// One line per rebuilt cache, so an admin sees why hit rates dropped after a reload.
fn log_cache_reuse(dns: DnsReuse, spf_kept: bool) {
    match dns {
        DnsReuse::Kept => {}
        DnsReuse::NewResolver => {
            tracing::info!("[dns] changed: resolver rebuilt; DNS answer caches kept")
        }
        DnsReuse::Rebuilt => tracing::info!(
            "[dns] name servers or cache settings changed: resolver and DNS answer caches rebuilt (empty)"
        ),
    }
    if !spf_kept {
        tracing::info!(
            "SPF verdict cache rebuilt (empty): its settings, [dns] or authserv_id changed"
        );
    }
}

/// What authentication adds to a message's decision.
#[derive(Debug, Default)]
pub struct AuthOutcome {
    pub findings: Vec<Finding>,
    /// In the order they are to be applied (deletions first).
    pub header_edits: Vec<HeaderEdit>,
    /// Inbound mail that was verified: the SPF verdict and the results, for
    /// `[dmarc_reports]` (recorded by the pipeline, so auth does not depend on it).
    pub verified: Option<(SpfVerdict, inbound::InboundResults)>,
}

/// One message's authentication state.
pub struct MessageAuth {
    engine: Arc<AuthEngine>,
    inbound: bool,
    /// `Authentication-Results` headers seen so far.
    ar_seen: u32,
    /// 1-based indexes of those claiming our authserv-id (forged or stale).
    forged_ar: Vec<u32>,
    /// `selector._domainkey.domain.` names from DKIM-Signature headers.
    dkim_keys: Vec<String>,
    prefetch: Vec<JoinHandle<()>>,
    /// Inbound: the header block parsed at end of headers, and the DKIM/ARC body
    /// hashes its signatures ask for, computed as the body streams in.
    streamed: Option<(ParsedHead, BodyHashes)>,
    /// Outbound mail a key will sign: the header block parsed at end of headers, and
    /// the body hash of the signatures, computed as the body streams in.
    to_sign: Option<(ParsedHead, SigningBodyHash)>,
    report: AuthReport,
}

impl MessageAuth {
    /// One top-level header, value as the MTA sends it.
    pub fn header(&mut self, name: &str, raw_value: &[u8]) {
        if !self.inbound {
            return;
        }
        if name.eq_ignore_ascii_case(AR_HEADER) {
            self.ar_seen += 1;
            if authserv_id_of(raw_value).eq_ignore_ascii_case(&self.engine.authserv_id) {
                self.forged_ar.push(self.ar_seen);
            }
        } else if name.eq_ignore_ascii_case(DKIM_HEADER)
            && self.dkim_keys.len() < 8
            && let Ok(sig) = mail_auth::dkim::Signature::parse(raw_value)
        {
            let key = format!("{}._domainkey.{}.", sig.s, sig.d).to_ascii_lowercase();
            if !self.dkim_keys.contains(&key) {
                self.dkim_keys.push(key);
            }
        }
    }

    /// End of headers: start fetching the DKIM keys into the cache while the body
    /// streams in, so end of message finds them there.
    pub fn end_of_headers(&mut self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for key in self.dkim_keys.drain(..) {
            let dns = self.engine.dns.clone();
            self.prefetch.push(rt.spawn(async move {
                // The result (or its absence) lands in the TXT cache; errors are
                // seen again at eom.
                let _ = dns
                    .txt_cached::<mail_auth::common::verify::DomainKey>(&key)
                    .await;
            }));
        }
    }

    /// Whether end of message reads the kept message (its header block at least):
    /// inbound mail, and outbound mail when a signing key is configured. Whether the
    /// body is kept too is decided at end of headers ([`MessageAuth::body_needed`]).
    pub fn uses_raw(&self) -> bool {
        self.inbound || !self.engine.signer.is_empty()
    }

    /// End of headers, with the header block as kept (CRLF-folded, blank line
    /// included): whether end of message needs the body kept too. Mail whose header
    /// block mail-auth parses has its body hashed as it streams in
    /// ([`MessageAuth::body`]) and keeps no body: inbound for the signatures it
    /// carries, outbound for ours when a key covers its From domain. Otherwise the
    /// body is kept (and inbound mail is parsed whole, outbound signed from the kept
    /// chunks, at end of message).
    pub fn body_needed(&mut self, head: &[u8]) -> bool {
        if !self.inbound {
            return self.start_signing(head);
        }
        match ParsedHead::of(head) {
            Some(parsed) => {
                let hashes = BodyHashes::for_message(parsed.borrow_dependent());
                self.streamed = Some((parsed, hashes));
                false
            }
            None => true,
        }
    }

    /// Outbound end of headers: starts the body hash when one of our keys will sign
    /// (the From domain is known now); whether the body must be kept instead.
    fn start_signing(&mut self, head: &[u8]) -> bool {
        let signer = &self.engine.signer;
        if signer.is_empty() {
            return false;
        }
        let Some(parsed) = ParsedHead::of(head) else {
            return true;
        };
        let signed = parsed
            .borrow_dependent()
            .from
            .first()
            .is_some_and(|from| signer.signs_for(domain_of(from)));
        if signed {
            self.to_sign = Some((parsed, SigningBodyHash::default()));
        }
        // Unsigned (no From, or no key for its domain): end of message finds that
        // again from the header block alone.
        false
    }

    /// The next body chunk, as received.
    pub fn body(&mut self, chunk: &[u8]) {
        if let Some((_, h)) = &mut self.streamed {
            h.write(chunk);
        }
        if let Some((_, h)) = &mut self.to_sign {
            h.write(chunk);
        }
    }

    /// End of message for inbound mail: DKIM, ARC, DMARC, enforcement, and the
    /// `Authentication-Results` header. `raw` is `None` when the message was larger
    /// than `[limits] max_message_size` and was not kept.
    pub async fn verify(
        &mut self,
        raw: Option<RawParts<'_>>,
        spf: Option<&SpfVerdict>,
    ) -> AuthOutcome {
        let mut out = AuthOutcome::default();
        if !self.inbound {
            return out;
        }
        for h in self.prefetch.drain(..) {
            let _ = h.await;
        }
        // Forged or stale results claiming to be ours go, whatever else happens.
        for &index in self.forged_ar.iter().rev() {
            out.header_edits.push(HeaderEdit::Delete {
                name: AR_HEADER.into(),
                index,
            });
        }
        let id = self.engine.authserv_id.clone();
        let spf = spf.cloned().unwrap_or_else(|| SpfVerdict::none("", ""));
        self.report.spf = Some(spf.clone());
        let Some(raw) = raw else {
            // Too large to keep: [limits] oversize_action decides (tempfail by
            // default); if an admin lets it through, it is marked unverified.
            self.report.skipped = Some("message larger than [limits] max_message_size".into());
            out.findings.push(Finding::new(
                "auth.unverified",
                FindingKind::Auth,
                Action::Tag,
                "message too large to verify DKIM/DMARC",
            ));
            out.header_edits.push(HeaderEdit::Insert {
                index: 0,
                name: AR_HEADER.into(),
                value: format!(
                    "{id};\r\n\tspf={};\r\n\tdkim=none (message too large to verify)",
                    spf.result.as_str()
                ),
            });
            return out;
        };
        // The header block parsed at end of headers with the body hashed as it
        // streamed in, or (header block mail-auth could not parse alone) the whole
        // message parsed here, in one copy.
        let (whole, mut parsed, whole_msg);
        let msg = match self.streamed.take() {
            Some((p, hashes)) => {
                parsed = p;
                parsed.with_dependent_mut(|_, m| hashes.finish_into(m));
                Some(parsed.borrow_dependent())
            }
            None => {
                whole = raw.contiguous();
                whole_msg = AuthenticatedMessage::parse(&whole);
                whole_msg.as_ref()
            }
        };
        let mut results = inbound::verify(&self.engine.dns, msg, &spf, &id).await;
        if results.dmarc.result == "fail"
            && matches!(results.dmarc.policy, "reject" | "quarantine")
            && let Some(pct) = dmarc_pct(&self.engine.dns, &results.dmarc.domain).await
        {
            results.dmarc.sampled_out = Some(!sampled_in(pct));
        }
        out.findings = enforce::inbound_findings(&self.engine.policy, &spf, &results);
        out.verified = Some((spf.clone(), results.clone()));
        out.header_edits.push(HeaderEdit::Insert {
            index: 0,
            name: AR_HEADER.into(),
            value: results.header_value.clone(),
        });
        self.report.dkim = results.dkim;
        self.report.dmarc = Some(results.dmarc);
        self.report.arc = Some(results.arc);
        out
    }

    /// End of message for outbound mail, once every other check has passed: the
    /// DKIM-Signature headers for the From domain's keys.
    pub fn sign(&mut self, raw: Option<RawParts<'_>>) -> AuthOutcome {
        let mut out = AuthOutcome::default();
        if self.inbound || self.engine.signer.is_empty() {
            return out;
        }
        let fail = |detail: String| {
            Finding::new(
                SIGN_FAILED_RULE,
                FindingKind::Auth,
                self.engine.sign_failure_action,
                detail,
            )
            .with_reply_code(451, "4.7.0")
        };
        let Some(raw) = raw else {
            out.findings.push(fail(
                "message too large to DKIM-sign; try a smaller message".into(),
            ));
            return out;
        };
        let signer = &self.engine.signer;
        let signed = match self.to_sign.take() {
            // Parsed at end of headers, body hashed as it streamed in.
            Some((parsed, body)) => {
                let msg = parsed.borrow_dependent();
                let from = msg.from.first().map_or("", |f| domain_of(f));
                signer.sign_streamed(&msg.headers, body, from)
            }
            // The header block could not be parsed alone at end of headers (or no key
            // covers the From domain): the From header is all that is read here, and
            // the kept chunks are signed, if a key covers it.
            None => {
                let Some(msg) = AuthenticatedMessage::parse(raw.head) else {
                    out.findings.push(fail(
                        "message headers cannot be parsed for DKIM signing".into(),
                    ));
                    return out;
                };
                let Some(from) = msg.from.first() else {
                    return out;
                };
                signer.sign_chunks(raw.chunks(), domain_of(from))
            }
        };
        match signed {
            Ok(sigs) => {
                for (value, with) in sigs {
                    out.header_edits.push(HeaderEdit::Insert {
                        index: 0,
                        name: DKIM_HEADER.into(),
                        value,
                    });
                    self.report.signed.push(with);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "DKIM signing failed");
                out.findings
                    .push(fail("temporary failure signing the message".into()));
            }
        }
        out
    }

    /// What was found, for `scan --json`.
    pub fn report(&self) -> &AuthReport {
        &self.report
    }
}

/// The authserv-id of an `Authentication-Results` value: the first token, up to
/// `;` or white space, after any CFWS.
fn authserv_id_of(raw_value: &[u8]) -> &str {
    let v = std::str::from_utf8(raw_value).unwrap_or("");
    let mut v = v.trim_start();
    // Skip leading comments "(...)".
    while let Some(rest) = v.strip_prefix('(') {
        v = rest.split_once(')').map_or("", |(_, r)| r).trim_start();
    }
    let end = v
        .find(|c: char| c == ';' || c.is_whitespace())
        .unwrap_or(v.len());
    &v[..end]
}

/// This host's name, the default authserv-id.
pub(crate) fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The `pct=` of the DMARC record covering `domain` (RFC 7489 §6.3; DMARCbis dropped
/// it, mail-auth does not parse it, so it is read here on the rare failure path).
async fn dmarc_pct(dns: &Dns, domain: &str) -> Option<u8> {
    let mut name = domain.trim_end_matches('.');
    loop {
        let query = format!("_dmarc.{name}.");
        if let Ok(lookup) = dns.authenticator().resolver().txt_lookup(query).await {
            for r in lookup.answers() {
                if let mail_auth::hickory_resolver::proto::rr::RData::TXT(txt) = &r.data {
                    let text: Vec<u8> = txt
                        .txt_data
                        .iter()
                        .flat_map(|d| d.iter().copied())
                        .collect();
                    let text = String::from_utf8_lossy(&text);
                    if text.trim_start().starts_with("v=DMARC1") {
                        return Some(parse_pct(&text));
                    }
                }
            }
        }
        let (_, parent) = name.split_once('.')?;
        if !parent.contains('.') {
            return None;
        }
        name = parent;
    }
}

fn parse_pct(record: &str) -> u8 {
    record
        .split(';')
        .filter_map(|t| t.trim().strip_prefix("pct="))
        .find_map(|v| v.trim().parse::<u8>().ok())
        .unwrap_or(100)
        .min(100)
}

/// Whether a message falls within a `pct` sample.
fn sampled_in(pct: u8) -> bool {
    use std::hash::{BuildHasher, Hasher};
    if pct >= 100 {
        return true;
    }
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (r % 100) < u64::from(pct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_authserv_id() {
        assert_eq!(
            authserv_id_of(b" mx.example.org; spf=pass"),
            "mx.example.org"
        );
        assert_eq!(
            authserv_id_of(b" (c) mx.example.org 1; none"),
            "mx.example.org"
        );
        assert_eq!(authserv_id_of(b"mx;dkim=pass"), "mx");
    }

    fn loaded(text: &str) -> LoadedConfig {
        LoadedConfig {
            config: crate::config::parse_toml("t.toml", text).unwrap(),
            origin: "t.toml".into(),
            text: text.into(),
            rule_files: Vec::new(),
        }
    }

    #[test]
    fn bad_settings_are_config_errors_with_lines() {
        let e = AuthEngine::compile(&loaded("[dns]\nnameservers = [\"dns.example\"]\n"))
            .err()
            .unwrap();
        assert_eq!(e.0[0].line, Some(2), "{e}");
        let text = "[auth]\n[[auth.dkim_keys]]\ndomain = \"a.test\"\nselector = \"s\"\nkey_file = \"/nonexistent/k.pem\"\n";
        let e = AuthEngine::compile(&loaded(text)).err().unwrap();
        assert_eq!(e.0[0].line, Some(5), "{e}");
        assert!(e.to_string().contains("cannot read DKIM key"), "{e}");
        let off = AuthEngine::compile(&loaded("[auth]\nenabled = false\n")).unwrap();
        assert!(off.is_none());
    }

    #[test]
    fn parses_pct() {
        assert_eq!(parse_pct("v=DMARC1; p=reject; pct=0"), 0);
        assert_eq!(parse_pct("v=DMARC1; p=reject"), 100);
        assert!(!sampled_in(0));
        assert!(sampled_in(100));
    }
}
