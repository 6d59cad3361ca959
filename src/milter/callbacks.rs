//! indymilter callbacks: a thin adapter from the milter protocol to [`Session`] and
//! the shared pipeline. No policy here.

use super::Shared;
use super::no_reply::{self, Replies, Stage};
use super::session::Session;
use crate::envelope::{Envelope, domain_of, strip_brackets};
use crate::metrics::{error_kind, global as metrics};
use crate::pipeline::Engine;
use crate::policy::direction_hint::{self, Hint, HintLimiter};
use crate::policy::{Action, Decision, Finding, FindingKind, HeaderEdit};
use crate::report::report_decision;
use futures_util::FutureExt;
use indymilter::{
    Actions, Callbacks, Context, ContextActions, EomContext, MacroStage, Macros, NegotiateContext,
    ProtoOpts, SetErrorReply, SocketInfo, Status,
};
use std::ffi::{CStr, CString};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

/// Actions sge-milter needs from the MTA.
pub const REQUIRED_ACTIONS: Actions = Actions::ADD_HEADER
    .union(Actions::CHANGE_HEADER)
    .union(Actions::QUARANTINE);

/// Awaits one callback's future (which borrows `cx`); if it panics, answers with
/// [`internal_error`]. The result is bound first so the future's borrow of `cx`
/// ends before the error path uses `cx` again.
macro_rules! contained {
    ($cx:ident, $step:expr) => {{
        let caught = caught($step).await;
        match caught {
            Some(status) => status,
            None => internal_error($cx.data.as_mut(), &mut $cx.reply),
        }
    }};
}

/// Runs one callback step, catching a panic (`None`).
async fn caught(step: impl Future<Output = Status>) -> Option<Status> {
    AssertUnwindSafe(step).catch_unwind().await.ok()
}

/// The callbacks, each contained: a panic in any stage (a bug in sge-milter, never
/// the sender's fault) becomes `[limits] internal_error_action` for the message in
/// hand instead of ending the connection and the other messages on it.
pub fn callbacks(shared: Arc<Shared>) -> Callbacks<Session> {
    let s0 = Arc::clone(&shared);
    let s1 = Arc::clone(&shared);
    let s2 = Arc::clone(&shared);
    Callbacks::new()
        .on_negotiate(move |cx, actions, opts| {
            let shared = Arc::clone(&s0);
            Box::pin(negotiate(shared, cx, actions, opts))
        })
        .on_connect(move |cx, host, info| {
            let shared = Arc::clone(&s1);
            Box::pin(async move {
                // The session exists from negotiation, but a panic here is still a
                // failed connection, not a message: tempfailed whatever
                // `internal_error_action` says (see `internal_error`).
                let caught = caught(connect(shared, cx, host, info)).await;
                caught.unwrap_or_else(|| internal_error(None, &mut cx.reply))
            })
        })
        .on_helo(|cx, name| {
            Box::pin(async move {
                let status = contained!(cx, helo(cx, name));
                no_reply_answer(cx, Stage::Helo, status)
            })
        })
        .on_mail(move |cx, args| {
            let shared = Arc::clone(&s2);
            Box::pin(async move { contained!(cx, mail(shared, cx, args)) })
        })
        .on_rcpt(|cx, args| {
            Box::pin(async move {
                let status = contained!(cx, rcpt(cx, args));
                no_reply_answer(cx, Stage::Rcpt, status)
            })
        })
        .on_data(|cx| {
            Box::pin(async move {
                let status = contained!(cx, data(cx));
                no_reply_answer(cx, Stage::Data, status)
            })
        })
        .on_header(|cx, name, value| {
            Box::pin(async move {
                let status = contained!(cx, header(cx, name, value));
                no_reply_answer(cx, Stage::Header, status)
            })
        })
        .on_eoh(|cx| Box::pin(async move { contained!(cx, eoh(cx)) }))
        .on_body(|cx, chunk| Box::pin(async move { contained!(cx, body(cx, chunk)) }))
        .on_eom(|cx| Box::pin(timed_eom(cx)))
        .on_abort(|cx| Box::pin(async move { contained!(cx, abort(cx)) }))
        .on_close(|cx| Box::pin(async move { contained!(cx, close(cx)) }))
}

/// The status sent for `status` at a stage the MTA may not wait on (see
/// [`no_reply`]): a verdict there is kept for the next stage that replies.
fn no_reply_answer(cx: &mut Context<Session>, stage: Stage, status: Status) -> Status {
    match cx.data.as_mut() {
        Some(session) => session.replies.answer(stage, status),
        None => status,
    }
}

async fn negotiate(
    shared: Arc<Shared>,
    cx: &mut NegotiateContext<Session>,
    actions: Actions,
    opts: ProtoOpts,
) -> Status {
    if !actions.contains(REQUIRED_ACTIONS) {
        tracing::error!(
            offered = ?actions,
            required = ?REQUIRED_ACTIONS,
            "MTA does not offer the milter actions sge-milter needs (add/change header, quarantine, macro lists); refusing the connection"
        );
        return Status::Reject;
    }
    if !opts.contains(ProtoOpts::LEADING_SPACE) {
        tracing::error!(offered = ?opts, "MTA does not offer the LEADING_SPACE milter option (use milter_protocol = 6); refusing the connection");
        return Status::Reject;
    }
    let no_reply = no_reply::requested(opts);
    cx.requested_actions = REQUIRED_ACTIONS;
    cx.requested_opts = ProtoOpts::LEADING_SPACE | no_reply;
    // The session starts here, so the callbacks know which stages the MTA waits on.
    let mut session = Session::new(shared.engine());
    session.replies = Replies::new(no_reply);
    cx.data = Some(session);
    if !actions.contains(Actions::REQUEST_MACROS) {
        // Postfix and Sendmail send the macros we read by default.
        return Status::Continue;
    }
    cx.requested_actions |= Actions::REQUEST_MACROS;
    let macros = [
        (
            MacroStage::Connect,
            "j {daemon_name} {client_addr} {client_name}",
        ),
        (MacroStage::Helo, "{tls_version} {cipher}"),
        (
            MacroStage::Mail,
            "i {auth_authen} {tls_version} {daemon_name}",
        ),
        (MacroStage::Data, "i"),
        (MacroStage::Eoh, "i"),
        (MacroStage::Eom, "i"),
    ];
    for (stage, names) in macros {
        if let Ok(names) = CString::new(names) {
            cx.requested_macros.insert(stage, names);
        }
    }
    Status::Continue
}

fn macro_str(macros: &Macros, name: &CStr) -> Option<String> {
    macros
        .get(name)
        .map(|v| String::from_utf8_lossy(v.to_bytes()).into_owned())
        .filter(|v| !v.is_empty())
}

fn lossy(s: &CStr) -> String {
    String::from_utf8_lossy(s.to_bytes()).into_owned()
}

async fn connect(
    shared: Arc<Shared>,
    cx: &mut Context<Session>,
    host: CString,
    info: SocketInfo,
) -> Status {
    let session = cx.data.get_or_insert_with(|| Session::new(shared.engine()));
    session.client.ip = match info {
        SocketInfo::Inet(addr) => Some(addr.ip()),
        _ => macro_str(&cx.macros, c"{client_addr}").and_then(|a| a.parse().ok()),
    };
    session.client.name = Some(lossy(&host)).filter(|h| !h.is_empty());
    session.client.daemon_name = macro_str(&cx.macros, c"{daemon_name}");
    Status::Continue
}

async fn helo(cx: &mut Context<Session>, name: CString) -> Status {
    let tls = macro_str(&cx.macros, c"{tls_version}");
    if let Some(s) = cx.data.as_mut() {
        s.client.helo = Some(lossy(&name));
        s.client.tls_version = tls;
    }
    Status::Continue
}

async fn mail(shared: Arc<Shared>, cx: &mut Context<Session>, args: Vec<CString>) -> Status {
    let sender = args.first().map(|a| lossy(a)).unwrap_or_default();
    let auth_user = macro_str(&cx.macros, c"{auth_authen}");
    let queue_id = macro_str(&cx.macros, c"i");
    let tls = macro_str(&cx.macros, c"{tls_version}");
    let daemon = macro_str(&cx.macros, c"{daemon_name}");
    let Some(session) = cx.data.as_mut() else {
        return Status::Tempfail;
    };
    if let Some(status) = session.replies.take_deferred() {
        return status;
    }
    if tls.is_some() {
        session.client.tls_version = tls;
    }
    if daemon.is_some() {
        session.client.daemon_name = daemon;
    }
    let engine = shared.engine();
    if !shared
        .budget
        .admits(engine.loaded.config.limits.max_in_flight_bytes.0)
    {
        return budget_full(&mut cx.reply);
    }
    session.begin_message(
        Arc::clone(&engine),
        &sender,
        auth_user,
        &shared.in_flight,
        &shared.budget,
    );
    crate::fault::panic_point("mail", Some(&sender));
    if let Some(env) = session.envelope_mut() {
        env.queue_id = queue_id;
        // SPF for inbound mail (async DNS, cached verdict); enforced at end of message.
        let spf = engine.mail_from(env).await;
        direction_hint(&engine, env);
        session.set_spf(spf);
    }
    Status::Continue
}

/// Mail from our own domains judged inbound (see `policy::direction_hint`): counted
/// in `sgemilter_direction_hints_total` every time, logged once per client per hour.
fn direction_hint(engine: &Engine, env: &Envelope) {
    static LIMITER: LazyLock<HintLimiter> =
        LazyLock::new(|| HintLimiter::new(direction_hint::LOG_PERIOD, direction_hint::MAX_CLIENTS));
    if !direction_hint::applies(env, engine.markings().routes().local_domains()) {
        return;
    }
    metrics().direction_hints.inc();
    let sender_domain = domain_of(env.mail_from.as_deref().unwrap_or_default());
    match LIMITER.check(env.client_ip, Instant::now()) {
        Hint::Log => tracing::warn!(
            client = %env.client_ip.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
            sender_domain = %sender_domain,
            "direction hint: mail from a [policy] local_domains sender arrived from a client outside [direction] trusted_networks, unauthenticated and not on an outbound daemon, so it is treated as inbound and skips the outbound checks; if this client is your own relay, add it to [direction] trusted_networks or outbound_daemon_names (logged once per client per hour)"
        ),
        Hint::TooManyClients => tracing::warn!(
            "direction hint: too many distinct clients sending as [policy] local_domains to log each one this hour; sgemilter_direction_hints_total still counts every message"
        ),
        Hint::Quiet => {}
    }
}

async fn rcpt(cx: &mut Context<Session>, args: Vec<CString>) -> Status {
    if let Some(env) = cx.data.as_mut().and_then(Session::envelope_mut)
        && let Some(rcpt) = args.first()
    {
        env.rcpts.push(strip_brackets(&lossy(rcpt)).to_string());
    }
    Status::Continue
}

async fn data(cx: &mut Context<Session>) -> Status {
    let queue_id = macro_str(&cx.macros, c"i");
    if let Some(env) = cx.data.as_mut().and_then(Session::envelope_mut)
        && queue_id.is_some()
    {
        env.queue_id = queue_id;
    }
    Status::Continue
}

async fn header(cx: &mut Context<Session>, name: CString, value: CString) -> Status {
    let Some(session) = cx.data.as_mut() else {
        return Status::Continue;
    };
    if !session.charge(name.as_bytes().len() + value.as_bytes().len() + 3) {
        return over_budget(session, &mut cx.reply);
    }
    let Some(scan) = session.scan() else {
        return Status::Continue;
    };
    crate::fault::panic_point("header", scan.envelope().mail_from.as_deref());
    scan.header(&lossy(&name), value.as_bytes());
    Status::Continue
}

async fn eoh(cx: &mut Context<Session>) -> Status {
    let queue_id = macro_str(&cx.macros, c"i");
    let Some(session) = cx.data.as_mut() else {
        return Status::Continue;
    };
    if let Some(status) = session.replies.take_deferred() {
        session.mark_decided();
        return status;
    }
    let Some(scan) = session.scan() else {
        return Status::Continue;
    };
    if let Some(id) = queue_id {
        scan.set_queue_id(id);
    }
    crate::fault::panic_point("eoh", scan.envelope().mail_from.as_deref());
    let Some(decision) = scan.end_of_headers() else {
        return Status::Continue;
    };
    scan.report(&decision);
    session.mark_decided();
    set_reply(&mut cx.reply, &decision);
    status_for(decision.action)
}

async fn body(cx: &mut Context<Session>, chunk: bytes::Bytes) -> Status {
    let Some(session) = cx.data.as_mut() else {
        return Status::Continue;
    };
    // Decided early: nothing more to read.
    if session.scan().is_none() {
        return Status::Continue;
    }
    if !session.charge(chunk.len()) {
        return over_budget(session, &mut cx.reply);
    }
    let Some(scan) = session.scan() else {
        return Status::Continue;
    };
    crate::fault::panic_point("body", scan.envelope().mail_from.as_deref());
    scan.body_shared(chunk);
    Status::Continue
}

/// Runs a synchronous step, catching a panic (`None`).
fn guarded<T>(step: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(AssertUnwindSafe(step)).ok()
}

/// Answers a message whose processing failed (a callback panicked) with `[limits]
/// internal_error_action` (tempfail by default: fail closed, the MTA retries), and
/// counts it in `errors_total{kind="internal"}`. Quarantine cannot be asked for
/// before end of message, so it tempfails; accept and tag let the message through
/// unchecked (fail open) when an admin chose that. Without a connection (a panic at
/// connect) the connection is tempfailed.
fn internal_error(session: Option<&mut Session>, reply: &mut indymilter::SmtpReply) -> Status {
    let action = session.as_deref().map_or(Action::Tempfail, |s| {
        s.engine.loaded.config.limits.internal_error_action
    });
    let finding = Finding::new(
        "internal.error",
        FindingKind::Internal,
        action,
        "temporary internal error while checking the message",
    )
    .with_reply_code(451, "4.3.0");
    let decision = Decision::from_findings(vec![finding]);
    tracing::error!(action = %action, "internal error (panic) while processing a message; see the panic message above");
    let mut reported = false;
    if let Some(session) = session {
        // The decision's `internal` finding counts the error when it is reported; the
        // scan may be what failed, so reporting is guarded too.
        reported = guarded(|| session.scan().map(|scan| scan.report(&decision)).is_some())
            .unwrap_or(false);
        session.mark_decided();
    }
    if !reported {
        metrics().error(error_kind::INTERNAL);
    }
    set_reply(reply, &decision);
    early_status(action)
}

/// MAIL FROM while the in-flight byte budget is used up: the MTA retries later.
fn budget_full(reply: &mut indymilter::SmtpReply) -> Status {
    tracing::warn!("[limits] max_in_flight_bytes reached; tempfailing a new message");
    let _ = reply.set_error_reply(
        "451",
        Some("4.3.1"),
        ["[sge:limit.in_flight] too much mail in flight; try again later"],
    );
    Status::Tempfail
}

/// A message whose next bytes would overflow `[limits] max_in_flight_bytes`:
/// tempfailed (fail closed), its bytes given back at once.
fn over_budget(session: &mut Session, reply: &mut indymilter::SmtpReply) -> Status {
    let finding = Finding::new(
        "limit.in_flight",
        FindingKind::Limit,
        Action::Tempfail,
        "too much mail in flight; try again later",
    )
    .with_reply_code(451, "4.3.1");
    let decision = Decision::from_findings(vec![finding]);
    tracing::warn!("[limits] max_in_flight_bytes reached; tempfailing a message");
    if let Some(scan) = session.scan() {
        scan.report(&decision);
    }
    session.end_message();
    set_reply(reply, &decision);
    Status::Tempfail
}

/// The milter status for an action decided before end of message, when neither
/// header changes nor quarantine can be requested yet.
fn early_status(action: Action) -> Status {
    match action {
        Action::Accept | Action::Tag => Status::Accept,
        Action::Quarantine | Action::Tempfail => Status::Tempfail,
        Action::Discard => Status::Discard,
        Action::Reject => Status::Reject,
    }
}

/// End of message, contained like every stage and timed for
/// `sgemilter_eom_duration_seconds`. After an internal error the message is over.
async fn timed_eom(cx: &mut EomContext<Session>) -> Status {
    let started = std::time::Instant::now();
    let caught = caught(eom(cx)).await;
    let status = caught.unwrap_or_else(|| {
        let status = internal_error(cx.data.as_mut(), &mut cx.reply);
        if let Some(s) = cx.data.as_mut() {
            s.end_message();
        }
        status
    });
    metrics()
        .eom_duration
        .observe(started.elapsed().as_secs_f64());
    status
}

async fn eom(cx: &mut EomContext<Session>) -> Status {
    let queue_id = macro_str(&cx.macros, c"i");
    let Some(session) = cx.data.as_mut() else {
        return Status::Continue;
    };
    let Some(mut scan) = session.take_scan() else {
        session.end_message();
        return Status::Continue;
    };
    if let Some(id) = queue_id {
        scan.set_queue_id(id);
    }
    crate::fault::panic_point("eom", scan.envelope().mail_from.as_deref());
    let (scan, decision) = super::offload::finish(scan).await;
    let env = scan.envelope().clone();
    let facts = scan.facts().clone();
    let auth = scan.auth_report().cloned();
    let size = scan.raw().size();
    let elapsed = scan.elapsed();
    session.end_message();

    let status = match apply_edits(&cx.actions, &decision).await {
        Ok(()) => status_for(decision.action),
        Err(e) => {
            tracing::error!(queue_id = env.queue_id.as_deref().unwrap_or("-"), error = %e, "could not apply header changes; tempfailing");
            metrics().error(error_kind::MILTER_ACTION);
            let _ = cx.reply.set_error_reply(
                "451",
                Some("4.3.0"),
                ["[sge:internal] temporary failure applying message changes"],
            );
            return Status::Tempfail;
        }
    };
    if decision.action == Action::Quarantine
        && let Err(e) = cx.actions.quarantine(decision.quarantine_reason()).await
    {
        tracing::error!(error = %e, "quarantine request failed; tempfailing");
        metrics().error(error_kind::MILTER_ACTION);
        let _ = cx.reply.set_error_reply(
            "451",
            Some("4.3.0"),
            ["[sge:internal] temporary failure quarantining message"],
        );
        return Status::Tempfail;
    }
    report_decision(&env, &decision, &facts, auth.as_ref(), size, elapsed);
    set_reply(&mut cx.reply, &decision);
    status
}

async fn apply_edits(
    actions: &indymilter::EomActions,
    decision: &Decision,
) -> Result<(), indymilter::ActionError> {
    if matches!(
        decision.action,
        Action::Reject | Action::Tempfail | Action::Discard
    ) {
        return Ok(());
    }
    for edit in &decision.header_edits {
        match edit {
            HeaderEdit::Add { name, value } => {
                actions
                    .add_header(name.as_str(), milter_value(value))
                    .await?
            }
            HeaderEdit::Insert { index, name, value } => {
                let index = i32::try_from(*index).unwrap_or(i32::MAX);
                actions
                    .insert_header(index, name.as_str(), milter_value(value))
                    .await?
            }
            HeaderEdit::Delete { name, index } => {
                let index = i32::try_from(*index).unwrap_or(i32::MAX);
                actions
                    .change_header(name.as_str(), index, None::<&str>)
                    .await?
            }
        }
    }
    Ok(())
}

/// Header values go to the MTA LF-folded, without NULs (which would cut the value).
/// With LEADING_SPACE negotiated (always, see `negotiate`) the MTA writes the value
/// verbatim after the colon, so the customary space is ours to add: without it
/// Postfix writes `X-SGE-Findings:rule`.
fn milter_value(value: &str) -> String {
    let value = value.replace("\r\n", "\n").replace('\0', "");
    if value.starts_with([' ', '\t']) {
        value
    } else {
        format!(" {value}")
    }
}

fn set_reply(reply: &mut indymilter::SmtpReply, decision: &Decision) {
    if let Some(r) = &decision.smtp_reply
        && let Err(e) =
            reply.set_error_reply(&r.code.to_string(), Some(&r.enhanced), [r.text.as_str()])
    {
        tracing::warn!(error = %e, "MTA reply text rejected; the MTA uses its default text");
    }
}

fn status_for(action: Action) -> Status {
    match action {
        Action::Accept | Action::Tag | Action::Quarantine => Status::Continue,
        Action::Tempfail => Status::Tempfail,
        Action::Reject => Status::Reject,
        Action::Discard => Status::Discard,
    }
}

async fn abort(cx: &mut Context<Session>) -> Status {
    if let Some(s) = cx.data.as_mut() {
        s.replies.clear();
        s.end_message();
    }
    Status::Continue
}

async fn close(cx: &mut Context<Session>) -> Status {
    cx.data = None;
    Status::Continue
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_step_is_contained() {
        assert_eq!(guarded(|| 7), Some(7));
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let caught = guarded(|| -> u8 { panic!("scanner bug") });
        std::panic::set_hook(prev);
        assert_eq!(caught, None);
    }

    #[test]
    fn early_decisions_map_to_statuses_the_mta_can_act_on() {
        assert!(matches!(early_status(Action::Tempfail), Status::Tempfail));
        assert!(matches!(early_status(Action::Quarantine), Status::Tempfail));
        assert!(matches!(early_status(Action::Tag), Status::Accept));
        assert!(matches!(early_status(Action::Reject), Status::Reject));
    }
}
