//! The milter server fed by a hostile MTA: indymilter's protocol decoding, our
//! packet-length watch (`milter::frames`) and every callback, driven in-process over
//! an in-memory stream. After a well-formed negotiation the input is a sequence of
//! packets (`[command][u16 length][payload]`, re-framed here so the fuzzer reaches
//! the callbacks); an input whose first byte is odd is sent raw instead, framing and
//! all. Whatever arrives, the session must end without a panic.
#![no_main]

use indymilter::Listener;
use libfuzzer_sys::fuzz_target;
use sge_milter::milter::Shared;
use sge_milter::milter::callbacks::{REQUIRED_ACTIONS, callbacks};
use sge_milter::milter::frames::FrameWatch;
use sge_milter::pipeline::Engine;
use sge_milter_fuzz::runtime;
use std::io;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

static SHARED: LazyLock<Arc<Shared>> = LazyLock::new(|| {
    let mut loaded = sge_milter::config::load(None).expect("embedded config loads");
    loaded.config.auth.enabled = false;
    Shared::new(Engine::compile(loaded).expect("compiles"))
});

/// Hands out one connection, then none.
struct OneConnection(Option<FrameWatch<DuplexStream>>);

impl Listener for OneConnection {
    type Io = FrameWatch<DuplexStream>;

    fn poll_accept(&mut self, _: &mut Context<'_>) -> Poll<io::Result<Self::Io>> {
        match self.0.take() {
            Some(s) => Poll::Ready(Ok(s)),
            None => Poll::Pending,
        }
    }
}

fn packet(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let len = u32::try_from(payload.len() + 1).expect("small packet");
    out.extend_from_slice(&len.to_be_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
}

/// The MTA's side: negotiation (version 6, every action and protocol option offered),
/// then the fuzzed packets, or the raw bytes.
fn conversation(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut neg = Vec::new();
    neg.extend_from_slice(&6u32.to_be_bytes());
    neg.extend_from_slice(&0x1ffu32.to_be_bytes());
    neg.extend_from_slice(&0x1f_ffffu32.to_be_bytes());
    packet(&mut out, b'O', &neg);
    let Some((&mode, mut rest)) = data.split_first() else {
        return out;
    };
    if mode & 1 == 1 {
        out.extend_from_slice(rest);
        return out;
    }
    while rest.len() >= 3 {
        let kind = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        let end = (3 + len).min(rest.len());
        packet(&mut out, kind, &rest[3..end]);
        rest = &rest[end..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let input = conversation(data);
    runtime().block_on(async move {
        let (mut mta, milter) = tokio::io::duplex(64 * 1024);
        let config = indymilter::Config {
            max_connections: 1,
            actions: REQUIRED_ACTIONS,
            connection_timeout: Duration::from_secs(5),
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(indymilter::run(
            OneConnection(Some(FrameWatch::new(milter))),
            callbacks(Arc::clone(&SHARED)),
            config,
            async move {
                let _ = stop_rx.await;
            },
        ));
        let (mut rd, mut wr) = tokio::io::split(&mut mta);
        // Write and read at once: replies must not fill the pipe while we still write.
        let write = async {
            let _ = wr.write_all(&input).await;
            let _ = wr.shutdown().await;
        };
        let read = async {
            let mut sink = Vec::new();
            let _ = rd.read_to_end(&mut sink).await;
        };
        tokio::join!(write, read);
        let _ = stop_tx.send(());
        server
            .await
            .expect("milter task ended without a panic")
            .expect("milter ran");
    });
});
