//! The milter server: listening socket, connection handling, graceful shutdown and
//! configuration reload.

pub mod batch;
pub mod budget;
pub mod callbacks;
pub mod frames;
pub mod limits;
pub mod no_reply;
mod offload;
mod quickack;
mod reload;
pub mod session;
pub mod socket;

use crate::config::{self, ConfigErrors};
use crate::pipeline::Engine;
use batch::ActionBatch;
use frames::FrameWatch;
use indymilter::{EitherListener, EitherStream, Listener};
use limits::{ConnectionSlots, LimitedListener};
use quickack::QuickAckStream;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, UnixListener, UnixStream};

/// State shared by every connection.
pub struct Shared {
    engine: RwLock<Arc<Engine>>,
    /// Messages between MAIL FROM and their end.
    pub in_flight: Arc<AtomicUsize>,
    /// Bytes those messages hold (`[limits] max_in_flight_bytes`).
    pub budget: Arc<budget::ByteBudget>,
    /// Open connections (`[milter] max_connections`, changed by a reload).
    pub slots: Arc<ConnectionSlots>,
}

impl Shared {
    pub fn new(engine: Engine) -> Arc<Shared> {
        let slots = ConnectionSlots::new(engine.loaded.config.milter.max_connections);
        Arc::new(Shared {
            engine: RwLock::new(Arc::new(engine)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            budget: Arc::default(),
            slots,
        })
    }

    /// The current engine; a message keeps the one it started with.
    pub fn engine(&self) -> Arc<Engine> {
        Arc::clone(&self.engine.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Swaps in a new engine; messages in flight finish on the old one.
    pub fn replace_engine(&self, engine: Engine) {
        *self.engine.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(engine);
    }

    /// Reloads configuration and rules from `path` (embedded defaults when `None`).
    /// On any error the running engine stays and the errors are returned. Caches
    /// whose settings did not change carry over; settings that need a restart are
    /// logged (see `reload.rs`). Returns the new engine.
    pub fn reload(&self, path: Option<&Path>) -> Result<Arc<Engine>, ConfigErrors> {
        let old = self.engine();
        let engine = Engine::compile_after(config::load(path)?, &old)?;
        reload::log_restart_only(&old.loaded.config, &engine.loaded.config);
        let max = engine.loaded.config.milter.max_connections;
        self.slots.set_limit(max);
        crate::metrics::global()
            .connections_max
            .set(i64::try_from(self.slots.limit()).unwrap_or(i64::MAX));
        self.replace_engine(engine);
        Ok(self.engine())
    }
}

/// A parsed `[milter] listen` address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    Inet(String),
    Unix(PathBuf),
}

impl ListenAddr {
    pub fn parse(s: &str) -> Result<ListenAddr, String> {
        if let Some(rest) = s.strip_prefix("inet:") {
            // Sendmail style inet:PORT@HOST is accepted too.
            let addr = match rest.split_once('@') {
                Some((port, host)) => format!("{host}:{port}"),
                None => rest.to_string(),
            };
            if addr
                .rsplit_once(':')
                .is_none_or(|(_, p)| p.parse::<u16>().is_err())
            {
                return Err(format!("{s:?}: expected inet:HOST:PORT"));
            }
            Ok(ListenAddr::Inet(addr))
        } else if let Some(rest) = s.strip_prefix("unix:").or_else(|| s.strip_prefix("local:")) {
            if rest.is_empty() {
                return Err(format!("{s:?}: expected unix:/path/to/socket"));
            }
            Ok(ListenAddr::Unix(PathBuf::from(rest)))
        } else {
            Err(format!("{s:?}: expected inet:HOST:PORT or unix:PATH"))
        }
    }
}

/// Binds the listening socket, with only `socket_mode` applied to a unix socket.
pub async fn bind(addr: &ListenAddr, socket_mode: Option<u32>) -> io::Result<MilterListener> {
    let perms = socket::SocketPerms {
        mode: socket_mode,
        ..Default::default()
    };
    bind_with(addr, &perms).await
}

/// Binds the listening socket; a unix socket gets `perms` (owner, group, mode). A
/// stale unix socket file is replaced; a path that exists and is not a socket is
/// an error.
pub async fn bind_with(
    addr: &ListenAddr,
    perms: &socket::SocketPerms,
) -> io::Result<MilterListener> {
    let inner = match addr {
        ListenAddr::Inet(a) => {
            let l = TcpListener::bind(a.as_str())
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on inet:{a}: {e}")))?;
            EitherListener::Tcp(l)
        }
        ListenAddr::Unix(path) => {
            use std::os::unix::fs::FileTypeExt;
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                if !meta.file_type().is_socket() {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!(
                            "cannot listen on unix:{}: the path exists and is not a socket",
                            path.display()
                        ),
                    ));
                }
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!(
                            "cannot listen on unix:{}: another process is serving it",
                            path.display()
                        ),
                    ));
                }
                std::fs::remove_file(path)?;
            }
            let l = UnixListener::bind(path).map_err(|e| unix_bind_error(path, e))?;
            if let Err(e) = perms.apply(path) {
                // A socket with the wrong owner or mode must not stay reachable.
                let _ = std::fs::remove_file(path);
                return Err(e);
            }
            EitherListener::Unix(l)
        }
    };
    Ok(MilterListener {
        inner: Some(inner),
        stop: None,
    })
}

/// Says which directory is missing: sge-milter does not create it (its owner and
/// mode decide who reaches the socket; see `socket.rs`).
fn unix_bind_error(path: &Path, e: io::Error) -> io::Error {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let hint = match dir {
        Some(d) if e.kind() == io::ErrorKind::NotFound && !d.exists() => {
            format!(" (the directory {} does not exist)", d.display())
        }
        _ => String::new(),
    };
    io::Error::new(
        e.kind(),
        format!("cannot listen on unix:{}: {e}{hint}", path.display()),
    )
}

/// The listening socket, with `TCP_NODELAY` and quick ACKs on every accepted TCP
/// connection (small writes in either direction otherwise wait on a delayed ACK: see
/// `quickack.rs`), packet lengths watched on every connection (`frames.rs`), end of
/// message modifications sent with the reply in one write (`batch.rs`), and a
/// stop signal that closes the socket while connections in flight carry on.
pub struct MilterListener {
    inner: Option<EitherListener<TcpListener, UnixListener>>,
    stop: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl MilterListener {
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match &self.inner {
            Some(EitherListener::Tcp(l)) => l.local_addr().ok(),
            _ => None,
        }
    }

    /// Stops accepting once `stop` completes.
    pub fn stop_on(mut self, stop: impl Future<Output = ()> + Send + 'static) -> Self {
        self.stop = Some(Box::pin(stop));
        self
    }
}

impl Listener for MilterListener {
    type Io = FrameWatch<ActionBatch<EitherStream<QuickAckStream, UnixStream>>>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Self::Io>> {
        if let Some(stop) = &mut self.stop
            && stop.as_mut().poll(cx).is_ready()
        {
            self.stop = None;
            self.inner = None;
        }
        let Some(inner) = &mut self.inner else {
            // Closed: never accept again; the server ends through its shutdown future.
            return Poll::Pending;
        };
        let stream = match inner.poll_accept(cx) {
            Poll::Ready(Ok(EitherStream::Tcp(s))) => EitherStream::Tcp(QuickAckStream::new(s)),
            Poll::Ready(Ok(EitherStream::Unix(s))) => EitherStream::Unix(s),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        Poll::Ready(Ok(FrameWatch::new(ActionBatch::new(stream))))
    }
}

/// Serves the milter protocol until `shutdown` completes, then stops accepting and
/// waits (up to the configured grace) for messages in flight before returning.
/// `max_connections`, `connection_timeout` and `shutdown_grace` are read from the
/// running configuration when they are needed, so a reload changes them.
pub async fn serve(
    listener: MilterListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // The listener enforces both (limits.rs); indymilter's own stay out of reach.
    let config = indymilter::Config {
        max_connections: tokio::sync::Semaphore::MAX_PERMITS,
        actions: callbacks::REQUIRED_ACTIONS,
        connection_timeout: Duration::from_secs(365 * 24 * 3600),
    };
    crate::metrics::global()
        .connections_max
        .set(i64::try_from(shared.slots.limit()).unwrap_or(i64::MAX));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let listener = listener.stop_on(async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|&stop| stop).await;
    });
    let timeout_shared = Arc::clone(&shared);
    let listener = LimitedListener::new(
        listener,
        Arc::clone(&shared.slots),
        Box::new(move || {
            let engine = timeout_shared.engine();
            engine.loaded.config.milter.connection_timeout.duration()
        }),
    );
    let drain_shared = Arc::clone(&shared);
    let drained = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
        let in_flight = &drain_shared.in_flight;
        let grace = drain_shared
            .engine()
            .loaded
            .config
            .milter
            .shutdown_grace
            .duration();
        let n = in_flight.load(Ordering::SeqCst);
        tracing::info!(
            in_flight = n,
            grace_s = grace.as_secs_f64(),
            "shutting down: no new connections; waiting for messages in flight"
        );
        wait_for_drain(in_flight, grace).await;
    };
    indymilter::run(listener, callbacks::callbacks(shared), config, drained).await
}

async fn wait_for_drain(in_flight: &AtomicUsize, grace: Duration) {
    let deadline = Instant::now() + grace;
    loop {
        let n = in_flight.load(Ordering::SeqCst);
        if n == 0 {
            return;
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                in_flight = n,
                "shutdown grace elapsed; dropping messages in flight (the MTA retries them)"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listen_addresses() {
        assert_eq!(
            ListenAddr::parse("inet:127.0.0.1:8894"),
            Ok(ListenAddr::Inet("127.0.0.1:8894".into()))
        );
        assert_eq!(
            ListenAddr::parse("inet:8894@localhost"),
            Ok(ListenAddr::Inet("localhost:8894".into()))
        );
        assert_eq!(
            ListenAddr::parse("unix:/run/s.sock"),
            Ok(ListenAddr::Unix("/run/s.sock".into()))
        );
        assert!(ListenAddr::parse("inet:127.0.0.1").is_err());
        assert!(ListenAddr::parse("tcp:1").is_err());
        assert!(ListenAddr::parse("unix:").is_err());
    }
}
