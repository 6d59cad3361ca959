//! The per-message pipeline shared by the milter and `sge-milter scan`.
//!
//! [`Engine`] is everything compiled from one configuration (immutable, swapped as a
//! whole on reload); [`MessageScan`] is one message going through it.

use crate::auth::{AuthEngine, AuthReport, MessageAuth, RawParts, SpfVerdict};
use crate::config::{ConfigErrors, LoadedConfig};
use crate::envelope::Envelope;
use crate::extract::{Routed, Router};
use crate::message::{ContentSink, MimeAnomaly, MimeLimits, MimeWalker, PartInfo};
use crate::policy::direction::DirectionPolicy;
use crate::policy::headers::HeaderHygiene;
use crate::policy::{Action, Decision, Finding, FindingKind, HeaderEdit};
use crate::scan::dlp::DlpScanner;
use crate::scan::keywords::KeywordScanner;
use crate::scan::markings::MarkingScanner;
use crate::scan::{MessageFacts, ScanState, Scanner};
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rule id of the finding for content that cannot be inspected (NZISM 15.2.37).
pub const UNINSPECTABLE_RULE: &str = "content.uninspectable";
/// Trace header naming the parts that could not be inspected, and why.
pub const UNINSPECTABLE_HEADER: &str = "X-SGE-Uninspectable";

/// Everything compiled from one configuration.
pub struct Engine {
    pub loaded: LoadedConfig,
    direction: DirectionPolicy,
    /// In the order they run at end of headers and end of message.
    scanners: Vec<Box<dyn Scanner>>,
    mime_limits: MimeLimits,
    content: Arc<crate::config::content::ContentConfig>,
    markings: Arc<MarkingScanner>,
    /// SPF/DKIM/DMARC/ARC and signing; `None` when `[auth] enabled = false`.
    auth: Option<Arc<AuthEngine>>,
}

impl Engine {
    /// Compiles the configuration and every rule file, collecting all errors.
    pub fn compile(loaded: LoadedConfig) -> Result<Engine, ConfigErrors> {
        Engine::compile_inner(loaded, None)
    }

    /// [`Engine::compile`] for a reload: rules, policy and keys are compiled anew;
    /// the resolver and caches of `previous` carry over where their settings did
    /// not change ([`AuthEngine::compile_after`]).
    pub fn compile_after(loaded: LoadedConfig, previous: &Engine) -> Result<Engine, ConfigErrors> {
        Engine::compile_inner(loaded, Some(previous))
    }

    fn compile_inner(
        loaded: LoadedConfig,
        previous: Option<&Engine>,
    ) -> Result<Engine, ConfigErrors> {
        let mut errors = ConfigErrors::default();
        let cfg = &loaded.config;
        let direction = DirectionPolicy::compile(&cfg.direction, &loaded.origin, &loaded.text)
            .map_err(|e| errors.push(e))
            .ok();
        let mut scanners: Vec<Box<dyn Scanner>> = Vec::new();
        // Markings first: later scanners read the classification it sets.
        let markings = MarkingScanner::compile(&loaded)
            .map_err(|e| errors.extend(e))
            .ok()
            .map(Arc::new);
        if let Some(m) = &markings {
            scanners.push(Box::new(Arc::clone(m)));
        }
        match KeywordScanner::compile(loaded.rule_file("keywords.toml")) {
            Ok(k) => scanners.push(Box::new(Arc::new(k))),
            Err(e) => errors.extend(e),
        }
        // DLP rules name levels of the markings vocabulary (default one if broken).
        let rank_of = |name: &str| match &markings {
            Some(m) => m.vocabulary().rank_of(name),
            None => crate::scan::markings::embedded_vocabulary().rank_of(name),
        };
        let dlp_ctx = crate::scan::dlp::DlpContext {
            rank_of: &rank_of,
            local_domains: &cfg.policy.local_domains,
        };
        match DlpScanner::compile_with(loaded.rule_file("dlp.toml"), &dlp_ctx) {
            Ok(d) => scanners.push(Box::new(Arc::new(d))),
            Err(e) => errors.extend(e),
        }
        let content = Arc::new(cfg.content.clone());
        let mime_limits = MimeLimits {
            max_depth: cfg.limits.max_mime_depth,
            max_parts: cfg.limits.max_mime_parts,
            max_header_line: cfg.limits.max_header_line.as_usize(),
        };
        for e in crate::tls_policy::validate(&loaded) {
            errors.push(e);
        }
        let previous_auth = previous.and_then(|p| p.auth.as_deref());
        let auth = AuthEngine::compile_after(&loaded, previous_auth)
            .map_err(|e| errors.extend(e))
            .ok()
            .flatten()
            .map(Arc::new);
        match (direction, markings) {
            (Some(direction), Some(markings)) if errors.is_empty() => Ok(Engine {
                loaded,
                direction,
                scanners,
                mime_limits,
                content,
                markings,
                auth,
            }),
            _ => Err(errors),
        }
    }

    /// Compiles the embedded default configuration.
    pub fn embedded() -> Result<Engine, ConfigErrors> {
        Engine::compile(crate::config::load(None)?)
    }

    /// The compiled marking rules: `engine.markings().vocabulary().rank_of("SENSITIVE")`.
    pub fn markings(&self) -> &Arc<MarkingScanner> {
        &self.markings
    }

    /// Sets `env.direction` from the direction policy, unless already set.
    pub fn classify_direction(&self, env: &mut Envelope) {
        if env.direction.is_none() {
            env.direction = Some(self.direction.classify(env));
        }
    }

    /// The authentication engine (resolver, caches, keys), when enabled.
    pub fn auth(&self) -> Option<&Arc<AuthEngine>> {
        self.auth.as_ref()
    }

    /// MAIL FROM: decides the direction and, for inbound mail, returns the SPF
    /// verdict (cached), which the caller passes to [`Engine::start_message`] so end
    /// of message enforces it.
    pub async fn mail_from(&self, env: &mut Envelope) -> Option<SpfVerdict> {
        self.classify_direction(env);
        match &self.auth {
            Some(auth) => auth.check_spf(env).await,
            None => None,
        }
    }

    /// Starts one message. The envelope should be complete (recipients known): the
    /// MTA sends the first header after the last RCPT. `spf` is what
    /// [`Engine::mail_from`] returned (`None`: SPF not checked).
    pub fn start_message(
        self: &Arc<Self>,
        mut env: Envelope,
        spf: Option<SpfVerdict>,
    ) -> MessageScan {
        self.classify_direction(&mut env);
        let states = self.scanners.iter().filter_map(|s| s.begin(&env)).collect();
        let limits = &self.loaded.config.limits;
        let auth = self.auth.as_ref().map(|a| a.begin(&env));
        let for_reports = crate::dmarc_reports::service::wants(&env);
        let keep = for_reports || auth.as_ref().is_some_and(MessageAuth::uses_raw);
        MessageScan {
            engine: Arc::clone(self),
            auth,
            walker: MimeWalker::new(self.mime_limits).bytes_only(),
            router: Router::new(Arc::clone(&self.content)),
            fanout: Fanout {
                states,
                anomalies: Vec::new(),
            },
            raw: RawMessage::new(limits.max_message_size.as_usize(), keep),
            for_reports,
            hygiene: HeaderHygiene::new(&self.loaded.config.headers, &[UNINSPECTABLE_HEADER]),
            findings: Vec::new(),
            facts: MessageFacts::default(),
            started: Instant::now(),
            env,
            spf,
        }
    }
}

impl crate::tls_policy::RunningConfig for Engine {
    fn tls_policy(&self) -> &crate::config::TlsPolicyConfig {
        &self.loaded.config.tls_policy
    }
    fn routes(&self) -> &crate::policy::routes::RoutePolicy {
        self.markings.routes()
    }
    fn dns(&self) -> Option<&crate::auth::dns::Dns> {
        self.auth.as_deref().map(AuthEngine::dns)
    }
}

/// Passes decoded content to every scanner state and remembers MIME anomalies.
struct Fanout {
    states: Vec<Box<dyn ScanState>>,
    anomalies: Vec<MimeAnomaly>,
}

impl ContentSink for Fanout {
    fn header(&mut self, part: Option<&PartInfo>, name: &str, value: &str) {
        self.states
            .iter_mut()
            .for_each(|s| s.header(part, name, value));
    }
    fn part_start(&mut self, part: &PartInfo) {
        self.states.iter_mut().for_each(|s| s.part_start(part));
    }
    fn text(&mut self, part: &PartInfo, text: &str) {
        self.states.iter_mut().for_each(|s| s.text(part, text));
    }
    fn binary(&mut self, part: &PartInfo, data: &[u8]) {
        self.states.iter_mut().for_each(|s| s.binary(part, data));
    }
    fn part_end(&mut self, part: &PartInfo) {
        self.states.iter_mut().for_each(|s| s.part_end(part));
    }
    fn anomaly(&mut self, anomaly: &MimeAnomaly) {
        self.states.iter_mut().for_each(|s| s.anomaly(anomaly));
        if !self.anomalies.iter().any(|a| a.name() == anomaly.name()) {
            self.anomalies.push(anomaly.clone());
        }
    }
}

/// The message as received: the header block CRLF-folded again, then the body as
/// the MTA's chunks (shared, never regrown into one buffer). Kept only for the steps
/// that read it: inbound authentication (only the header block when the body hashes
/// are computed as it streams in), outbound signing, DMARC report ingestion. Past the
/// size limit it is dropped, never grown.
pub struct RawMessage {
    head: Vec<u8>,
    body: Vec<Bytes>,
    keep_head: bool,
    /// Until end of headers, whatever `keep_head` says (so nothing is lost if the
    /// MTA skips end of headers); then what the later steps need.
    keep_body: bool,
    limit: usize,
    size: u64,
    overflow: bool,
}

impl RawMessage {
    fn new(limit: usize, keep: bool) -> Self {
        RawMessage {
            head: Vec::new(),
            body: Vec::new(),
            keep_head: keep,
            keep_body: keep,
            limit,
            size: 0,
            overflow: false,
        }
    }

    /// Counts `n` more bytes; past the limit everything kept is dropped and `false`
    /// returned from then on.
    fn count(&mut self, n: usize) -> bool {
        self.size += n as u64;
        if !self.overflow && self.size > self.limit as u64 {
            self.overflow = true;
            self.head = Vec::new();
            self.body = Vec::new();
        }
        !self.overflow
    }

    fn push_head(&mut self, parts: &[&[u8]]) {
        let n = parts.iter().map(|p| p.len()).sum();
        if self.count(n) && self.keep_head {
            parts.iter().for_each(|p| self.head.extend_from_slice(p));
        }
    }

    /// `chunk` makes the shared chunk only when it is kept.
    fn push_body(&mut self, len: usize, chunk: impl FnOnce() -> Bytes) {
        if self.count(len) && self.keep_body {
            self.body.push(chunk());
        }
    }

    /// The kept message, or `None` when it was larger than the limit (or not kept).
    pub fn parts(&self) -> Option<RawParts<'_>> {
        (!self.overflow && self.keep_head).then_some(RawParts {
            head: &self.head,
            body: &self.body,
        })
    }

    /// Whether the message was larger than the limit.
    pub fn oversize(&self) -> bool {
        self.overflow
    }

    /// Total bytes received, headers and body.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes of body kept for end of message to read again (signing or verifying
    /// from the kept chunks, DMARC report capture); 0 when the body was hashed as it
    /// streamed in.
    pub fn body_kept(&self) -> u64 {
        self.body.iter().map(|c| c.len() as u64).sum()
    }
}

/// One message in flight.
pub struct MessageScan {
    engine: Arc<Engine>,
    auth: Option<MessageAuth>,
    env: Envelope,
    /// The SPF verdict reached at MAIL FROM (inbound mail).
    spf: Option<SpfVerdict>,
    walker: MimeWalker,
    /// Types each part by content and opens containers, between walker and fan-out.
    router: Router,
    fanout: Fanout,
    raw: RawMessage,
    /// Inbound mail to a DMARC report address: kept whole for ingestion.
    for_reports: bool,
    /// Copies of our own headers that arrived with the message (removed at the end).
    hygiene: HeaderHygiene,
    findings: Vec<Finding>,
    facts: MessageFacts,
    started: Instant,
}

impl MessageScan {
    pub fn envelope(&self) -> &Envelope {
        &self.env
    }

    /// Postfix may only assign the queue id after MAIL FROM; keep the latest one given.
    pub fn set_queue_id(&mut self, id: String) {
        self.env.queue_id = Some(id);
    }

    pub fn raw(&self) -> &RawMessage {
        &self.raw
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Moves the start of the message back to when the milter saw MAIL FROM, so the
    /// duration covers the whole envelope and content.
    pub fn set_started(&mut self, at: Instant) {
        self.started = at;
    }

    /// Reports this message's final decision: the decision log line and the metrics.
    pub fn report(&self, decision: &Decision) {
        crate::report::report_decision(
            &self.env,
            decision,
            &self.facts,
            self.auth_report(),
            self.raw.size(),
            self.elapsed(),
        );
    }

    /// One top-level header as the MTA sends it: the value is everything after the
    /// colon, folded lines joined by bare LF.
    pub fn header(&mut self, name: &str, raw_value: &[u8]) {
        self.raw.push_head(&[name.as_bytes(), b":"]);
        // The MTA hands folded values over with bare LF; the signed form has CRLF.
        let mut rest = raw_value;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            let line = rest[..i].strip_suffix(b"\r").unwrap_or(&rest[..i]);
            self.raw.push_head(&[line, b"\r\n"]);
            rest = &rest[i + 1..];
        }
        self.raw.push_head(&[rest, b"\r\n"]);
        self.hygiene.header(name);
        if let Some(auth) = &mut self.auth {
            auth.header(name, raw_value);
        }
        let mut routed = Routed {
            router: &mut self.router,
            out: &mut self.fanout,
        };
        self.walker.header(name, raw_value, &mut routed);
    }

    /// End of the header block. Returns a decision when the message can already be
    /// refused (reject, tempfail or discard), so the MTA need not send the body.
    pub fn end_of_headers(&mut self) -> Option<Decision> {
        self.raw.push_head(&[b"\r\n"]);
        if let Some(auth) = &mut self.auth {
            auth.end_of_headers();
        }
        let needed = match (&mut self.auth, self.raw.parts()) {
            (Some(auth), Some(raw)) => auth.body_needed(raw.head),
            _ => false,
        };
        self.raw.keep_body = self.for_reports || needed;
        let mut routed = Routed {
            router: &mut self.router,
            out: &mut self.fanout,
        };
        self.walker.end_of_headers(&mut routed);
        for s in &mut self.fanout.states {
            s.end_of_headers(&self.env, &mut self.facts, &mut self.findings);
        }
        let refuse = self.findings.iter().any(|f| {
            matches!(
                f.action,
                Action::Reject | Action::Tempfail | Action::Discard
            )
        });
        refuse.then(|| Decision::from_findings(self.findings.clone()))
    }

    /// One body chunk, in order, as it arrives (copied when it must be kept).
    pub fn body(&mut self, chunk: &[u8]) {
        self.raw
            .push_body(chunk.len(), || Bytes::copy_from_slice(chunk));
        self.scan_body(chunk);
    }

    /// One body chunk as the milter received it: kept, when it must be, by reference.
    pub fn body_shared(&mut self, chunk: Bytes) {
        self.raw.push_body(chunk.len(), || chunk.clone());
        self.scan_body(&chunk);
    }

    fn scan_body(&mut self, chunk: &[u8]) {
        if let Some(auth) = &mut self.auth
            && !self.raw.oversize()
        {
            auth.body(chunk);
        }
        let mut routed = Routed {
            router: &mut self.router,
            out: &mut self.fanout,
        };
        self.walker.body(chunk, &mut routed);
    }

    /// Bytes of attached containers (archives, PDF, Office) whose opening waits
    /// for [`MessageScan::finish`].
    pub fn held_content_bytes(&self) -> usize {
        self.router.held_bytes()
    }

    /// End of message: every scanner's remaining findings and authentication folded
    /// into one decision; outbound mail that is let through is then DKIM-signed.
    pub async fn finish(&mut self) -> Decision {
        {
            let mut routed = Routed {
                router: &mut self.router,
                out: &mut self.fanout,
            };
            self.walker.finish(&mut routed);
        }
        self.router.finish(&mut self.fanout);
        self.uninspectable();
        let limits = &self.engine.loaded.config.limits;
        let direction = self.env.direction();
        for a in &self.fanout.anomalies {
            self.findings.push(Finding::new(
                format!("content.{}", a.name()),
                FindingKind::Content,
                limits.malformed_mime_action.get(direction),
                format!("malformed message structure: {a:?}"),
            ));
        }
        for s in &mut self.fanout.states {
            s.finish(&self.env, &mut self.facts, &mut self.findings);
        }
        if self.raw.oversize() {
            let f = Finding::new(
                "limit.message_size",
                FindingKind::Limit,
                limits.oversize_action,
                format!(
                    "message exceeds the size limit of {} bytes",
                    limits.max_message_size.0
                ),
            );
            self.findings.push(match limits.oversize_action {
                Action::Reject => f.with_reply_code(552, "5.3.4"),
                _ => f.with_reply_code(452, "4.3.4"),
            });
        }
        let mut auth_edits = Vec::new();
        if let Some(auth) = &mut self.auth {
            let outcome = auth.verify(self.raw.parts(), self.spf.as_ref()).await;
            if let Some((spf, results)) = &outcome.verified {
                crate::dmarc_reports::observe_inbound(spf, results, &outcome.findings);
            }
            self.findings.extend(outcome.findings);
            auth_edits = outcome.header_edits;
        }
        let mut decision = Decision::from_findings(std::mem::take(&mut self.findings));
        // Signing comes last, so a refused message is never signed. Quarantined mail
        // is signed too: an admin who releases it sends it on unchanged.
        if let Some(auth) = &mut self.auth
            && matches!(
                decision.action,
                Action::Accept | Action::Tag | Action::Quarantine
            )
        {
            crate::fault::panic_point("sign", self.env.mail_from.as_deref());
            let outcome = auth.sign(self.raw.parts());
            if outcome.findings.is_empty() {
                auth_edits.extend(outcome.header_edits);
            } else {
                let mut findings = std::mem::take(&mut decision.findings);
                findings.extend(outcome.findings);
                decision = Decision::from_findings(findings);
            }
        }
        if matches!(
            decision.action,
            Action::Accept | Action::Tag | Action::Quarantine
        ) {
            decision
                .header_edits
                .extend(std::mem::take(&mut self.facts.header_edits));
        }
        decision.header_edits.splice(0..0, auth_edits);
        self.hygiene.apply(&mut decision, self.env.direction());
        if self.for_reports {
            let whole = self.raw.parts().map(|p| p.contiguous().into_owned());
            crate::dmarc_reports::service::capture(&self.env, whole, decision.action);
        }
        decision
    }

    /// `content.uninspectable` (NZISM 15.2.37) when some content could not be read;
    /// the finding and a trace header name each part and the reason.
    fn uninspectable(&mut self) {
        let problems = self.router.problems();
        if problems.is_empty() {
            return;
        }
        let action = self.content_action();
        let list = problems.join("; ");
        self.findings.push(
            Finding::new(
                UNINSPECTABLE_RULE,
                FindingKind::Content,
                action,
                format!("content cannot be inspected (NZISM 15.2.37): {list}"),
            )
            .with_data(serde_json::json!({ "reasons": problems })),
        );
        self.facts.header_edits.push(HeaderEdit::Add {
            name: UNINSPECTABLE_HEADER.into(),
            value: crate::policy::decision::sanitize_reply_text(&list),
        });
    }

    fn content_action(&self) -> Action {
        let d = self.env.direction();
        self.engine.content.uninspectable_action.get(d)
    }

    /// Authentication results (SPF, DKIM, DMARC, ARC, signatures), valid after `finish`.
    pub fn auth_report(&self) -> Option<&AuthReport> {
        self.auth.as_ref().map(MessageAuth::report)
    }

    /// Facts gathered by the scanners (classification ...), valid after `finish`.
    pub fn facts(&self) -> &MessageFacts {
        &self.facts
    }
}
