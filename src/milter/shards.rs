//! Milter connections served on shards: single-threaded runtimes, one per CPU, each
//! connection on one shard for its whole life.
//!
//! Why not tokio's work-stealing runtime: a milter connection is a chain of short
//! request/reply steps, and each wake-up could run it on another worker, taking its
//! buffers and session state to another CPU's cache and waking idle workers to steal
//! it. A shard keeps what a connection touches on one thread (README, Performance,
//! has the measurements).
//!
//! Every shard accepts on its own duplicate of the listening socket, so a new
//! connection goes to a shard that is waiting for work, and the accept costs no
//! hand-off between threads. Heavy end-of-message work still leaves the shard for
//! its blocking pool (`offload.rs`).

use super::{ListeningSocket, Shared};
use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long a stopped shard waits for its blocking-pool work (an end of message
/// past the shutdown grace) before its thread ends anyway.
const BLOCKING_GRACE: Duration = Duration::from_secs(1);

/// Shards to start: one per CPU available to the process (cgroup quotas included).
pub fn count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The running shards.
pub struct Shards {
    count: usize,
    stop_accepting: watch::Sender<bool>,
    stop: watch::Sender<bool>,
    /// Each shard's result, sent when its thread ends.
    ended: mpsc::UnboundedReceiver<io::Result<()>>,
    ended_seen: usize,
}

impl Shards {
    /// Starts `n` shards (at least one), each on its own thread, accepting on
    /// `socket`.
    pub fn start(n: usize, socket: &ListeningSocket, shared: &Arc<Shared>) -> io::Result<Shards> {
        let (stop_accepting, accepting) = watch::channel(false);
        let (stop, running) = watch::channel(false);
        let (ended_tx, ended) = mpsc::unbounded_channel();
        let count = n.max(1);
        for index in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            // Registered with the shard's runtime, which drives it from its thread.
            let listener = {
                let _in_shard = runtime.enter();
                socket.listener()?
            };
            let serve = super::serve_on(
                listener,
                Arc::clone(shared),
                signal(accepting.clone()),
                signal(running.clone()),
            );
            let ended_tx = ended_tx.clone();
            std::thread::Builder::new()
                .name(format!("milter-shard-{index}"))
                .spawn(move || {
                    let served =
                        std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(serve)))
                            .unwrap_or_else(|_| Err(io::Error::other("a milter shard panicked")));
                    runtime.shutdown_timeout(BLOCKING_GRACE);
                    let _ = ended_tx.send(served);
                })?;
        }
        Ok(Shards {
            count,
            stop_accepting,
            stop,
            ended,
            ended_seen: 0,
        })
    }

    /// Completes with the error of the first shard to end before it was stopped
    /// (accepting failed, or the shard panicked).
    pub async fn failed(&mut self) -> io::Error {
        loop {
            match self.ended.recv().await {
                Some(result) => {
                    self.ended_seen += 1;
                    if let Err(e) = result {
                        tracing::error!(error = %e, "a milter shard failed; shutting down");
                        return e;
                    }
                }
                // Unreachable while `self` holds the senders' shards; wait for stop.
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// Every shard closes its listener: no new connections; open ones carry on.
    pub fn stop_accepting(&self) {
        let _ = self.stop_accepting.send(true);
    }

    /// Ends every shard's sessions and waits for their threads.
    pub async fn stop(mut self) -> io::Result<()> {
        let _ = self.stop_accepting.send(true);
        let _ = self.stop.send(true);
        let mut result = Ok(());
        while self.ended_seen < self.count {
            let Some(ended) = self.ended.recv().await else {
                break;
            };
            self.ended_seen += 1;
            result = result.and(ended);
        }
        result
    }
}

/// Completes when `flag` is set, or when its sender is gone (the server was
/// dropped: the shards stop too).
async fn signal(mut flag: watch::Receiver<bool>) {
    let _ = flag.wait_for(|&set| set).await;
}
