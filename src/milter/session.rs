//! Per-connection and per-message state, filled from milter callbacks and macros.

use super::budget::{ByteBudget, Charge};
use super::no_reply::Replies;
use crate::auth::SpfVerdict;
use crate::envelope::{Envelope, strip_brackets};
use crate::pipeline::{Engine, MessageScan};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Counts messages between MAIL FROM and their end, so shutdown can wait for them.
/// Decrements on drop: a message that ends any way (eom, abort, hang-up) is counted
/// out, and its bytes go back to the in-flight budget.
pub struct InFlight(Arc<AtomicUsize>, Instant, Charge);

impl InFlight {
    pub fn enter(counter: &Arc<AtomicUsize>, budget: &Arc<ByteBudget>) -> InFlight {
        counter.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(counter), Instant::now(), Charge::new(budget))
    }

    /// When the message started (MAIL FROM).
    pub fn since(&self) -> Instant {
        self.1
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the MTA told us about the client at connect and HELO.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub name: Option<String>,
    pub helo: Option<String>,
    pub daemon_name: Option<String>,
    pub tls_version: Option<String>,
}

/// One message from MAIL FROM to end of message.
pub enum MessageState {
    /// Envelope being collected (MAIL, RCPT), with the SPF verdict of MAIL FROM.
    Envelope(Box<Envelope>, Option<SpfVerdict>),
    /// Content arriving (first header onwards).
    Content(Box<MessageScan>),
    /// A decision was already sent (early reject at end of headers); the rest of the
    /// message is ignored.
    Decided,
}

/// Per-connection user data of the milter.
pub struct Session {
    pub client: ClientInfo,
    pub engine: Arc<Engine>,
    pub message: Option<(MessageState, InFlight)>,
    /// The stages the MTA does not wait on, and a verdict kept for the next reply.
    pub replies: Replies,
    /// Counts this connection in `sgemilter_connections_active` while it lives.
    _connection: crate::metrics::ConnectionGuard,
}

impl Session {
    pub fn new(engine: Arc<Engine>) -> Session {
        Session {
            client: ClientInfo::default(),
            engine,
            message: None,
            replies: Replies::default(),
            _connection: crate::metrics::ConnectionGuard::open(),
        }
    }

    /// Starts a new message at MAIL FROM, dropping any previous one (Postfix reuses
    /// connections; RSET and a new MAIL start over).
    pub fn begin_message(
        &mut self,
        engine: Arc<Engine>,
        sender: &str,
        auth_user: Option<String>,
        in_flight: &Arc<AtomicUsize>,
        budget: &Arc<ByteBudget>,
    ) {
        self.engine = engine;
        let env = Envelope {
            client_ip: self.client.ip,
            client_name: self.client.name.clone(),
            helo: self.client.helo.clone(),
            mail_from: Some(strip_brackets(sender).to_string()),
            auth_user,
            daemon_name: self.client.daemon_name.clone(),
            tls_version: self.client.tls_version.clone(),
            ..Default::default()
        };
        self.message = Some((
            MessageState::Envelope(Box::new(env), None),
            InFlight::enter(in_flight, budget),
        ));
    }

    pub fn envelope_mut(&mut self) -> Option<&mut Envelope> {
        match &mut self.message {
            Some((MessageState::Envelope(env, _), _)) => Some(env),
            _ => None,
        }
    }

    /// Keeps the SPF verdict of MAIL FROM for end of message.
    pub fn set_spf(&mut self, verdict: Option<SpfVerdict>) {
        if let Some((MessageState::Envelope(_, spf), _)) = &mut self.message {
            *spf = verdict;
        }
    }

    /// The message scan, started from the collected envelope on first use.
    pub fn scan(&mut self) -> Option<&mut MessageScan> {
        let (state, in_flight) = self.message.as_mut()?;
        if let MessageState::Envelope(env, spf) = state {
            let env = std::mem::take(&mut **env);
            let mut scan = self.engine.start_message(env, spf.take());
            scan.set_started(in_flight.since());
            *state = MessageState::Content(Box::new(scan));
        }
        match state {
            MessageState::Content(scan) => Some(scan),
            _ => None,
        }
    }

    /// Charges `n` received bytes of the current message to the in-flight budget
    /// (`[limits] max_in_flight_bytes`); `false` when it is full.
    pub fn charge(&mut self, n: usize) -> bool {
        let limits = &self.engine.loaded.config.limits;
        let (cap, limit) = (limits.max_message_size.0, limits.max_in_flight_bytes.0);
        match &mut self.message {
            Some((_, in_flight)) => in_flight.2.add(n, cap, limit),
            None => true,
        }
    }

    /// Takes the message scan out for end of message (the state becomes `Decided`).
    pub fn take_scan(&mut self) -> Option<Box<MessageScan>> {
        self.scan()?;
        let (state, _) = self.message.as_mut()?;
        match std::mem::replace(state, MessageState::Decided) {
            MessageState::Content(scan) => Some(scan),
            _ => None,
        }
    }

    pub fn end_message(&mut self) {
        self.message = None;
    }

    pub fn mark_decided(&mut self) {
        if let Some((state, _)) = &mut self.message {
            *state = MessageState::Decided;
        }
    }
}
