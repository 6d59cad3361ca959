//! The reference: an indymilter that checks nothing. It negotiates what sge-milter
//! negotiates (the same stages, the same no-reply stages) and adds one header at
//! end of message (as sge-milter adds
//! Authentication-Results), and it listens through sge-milter's own listener
//! (TCP_NODELAY, quick ACKs), so a ratio against it is the cost of the checks alone.

use indymilter::{
    Actions, Callbacks, Config, Context, ContextActions, EomContext, NegotiateContext, ProtoOpts,
    Status,
};
use sge_milter::milter::no_reply::{self, Stage};
use sge_milter::milter::{ListenAddr, bind};
use std::future::Future;
use std::io;
use std::time::Duration;

/// The connection's data is the no-reply stages it negotiated.
fn callbacks() -> Callbacks<ProtoOpts> {
    Callbacks::new()
        .on_negotiate(|cx, _, opts| Box::pin(negotiate(cx, opts)))
        .on_helo(|cx, _| Box::pin(async move { pass(cx, Stage::Helo) }))
        .on_rcpt(|cx, _| Box::pin(async move { pass(cx, Stage::Rcpt) }))
        .on_data(|cx| Box::pin(async move { pass(cx, Stage::Data) }))
        .on_header(|cx, _, _| Box::pin(async move { pass(cx, Stage::Header) }))
        .on_eom(|cx| Box::pin(eom(cx)))
}

async fn negotiate(cx: &mut NegotiateContext<ProtoOpts>, offered: ProtoOpts) -> Status {
    let no_reply = no_reply::requested(offered);
    cx.requested_actions = Actions::ADD_HEADER | Actions::CHANGE_HEADER | Actions::QUARANTINE;
    cx.requested_opts = ProtoOpts::LEADING_SPACE | no_reply;
    cx.data = Some(no_reply);
    Status::Continue
}

fn pass(cx: &mut Context<ProtoOpts>, stage: Stage) -> Status {
    no_reply::pass(cx.data.unwrap_or_default(), stage)
}

async fn eom(cx: &mut EomContext<ProtoOpts>) -> Status {
    match cx
        .actions
        .add_header("X-Noop-Milter", " checked=nothing")
        .await
    {
        Ok(()) => Status::Continue,
        Err(_) => Status::Tempfail,
    }
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listen: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let addr =
        ListenAddr::parse(listen).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let listener = bind(&addr, None).await?;
    run(listener, shutdown).await
}

/// Serves on an already bound listener (tests bind port 0 first).
pub async fn run(
    listener: sge_milter::milter::MilterListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let config = Config {
        max_connections: 4096,
        actions: Actions::ADD_HEADER,
        connection_timeout: Duration::from_secs(300),
    };
    indymilter::run(listener, callbacks(), config, shutdown).await
}
