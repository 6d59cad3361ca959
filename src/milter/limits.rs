//! The per-connection limits a reload can change: `[milter] max_connections` and
//! `connection_timeout`.
//!
//! indymilter takes both once, when its server starts, so a SIGHUP could not change
//! them. Here a listener wrapper holds the connection limit instead (a semaphore
//! that can grow and shrink): like indymilter, it accepts only with a free slot, so
//! further connections wait in the backlog. Each accepted stream carries its own
//! idle timeout, taken from the configuration running when the connection was
//! accepted. indymilter is then given limits it never reaches.

use indymilter::Listener;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

/// How many connections may be open at once; [`Self::set_limit`] changes it while
/// connections are open (a lower limit takes effect as connections close).
#[derive(Debug)]
pub struct ConnectionSlots {
    sem: Arc<Semaphore>,
    state: Mutex<SlotState>,
}

#[derive(Debug)]
struct SlotState {
    limit: usize,
    /// Permits still to retire after the limit was lowered below the connections
    /// open at that time: retired as those connections close.
    debt: usize,
}

impl ConnectionSlots {
    pub fn new(limit: usize) -> Arc<ConnectionSlots> {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(ConnectionSlots {
            sem: Arc::new(Semaphore::new(limit)),
            state: Mutex::new(SlotState { limit, debt: 0 }),
        })
    }

    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    pub fn set_limit(&self, limit: usize) {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        let mut st = self.lock();
        if limit > st.limit {
            let up = limit - st.limit;
            let paid = up.min(st.debt);
            st.debt -= paid;
            self.sem.add_permits(up - paid);
        } else {
            let down = st.limit - limit;
            let forgotten = self.sem.forget_permits(down);
            st.debt += down - forgotten;
        }
        st.limit = limit;
    }

    /// Waits for a free slot.
    pub fn acquire(self: &Arc<Self>) -> Pin<Box<dyn Future<Output = OwnedSemaphorePermit> + Send>> {
        let sem = Arc::clone(&self.sem);
        Box::pin(async move {
            // The semaphore is never closed, so acquiring cannot fail.
            match sem.acquire_owned().await {
                Ok(p) => p,
                Err(_) => std::future::pending().await,
            }
        })
    }

    fn release(&self, permit: OwnedSemaphorePermit) {
        let mut st = self.lock();
        if st.debt > 0 {
            st.debt -= 1;
            permit.forget();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One open connection's slot; given back (or retired) on drop.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<ConnectionSlots>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Slot {
    pub fn new(slots: &Arc<ConnectionSlots>, permit: OwnedSemaphorePermit) -> Slot {
        Slot {
            slots: Arc::clone(slots),
            permit: Some(permit),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(p) = self.permit.take() {
            self.slots.release(p);
        }
    }
}

/// Reads the running `connection_timeout`.
pub type TimeoutSource = Box<dyn Fn() -> Duration + Send + Sync>;

/// A listener that accepts only with a free slot and wraps each connection in
/// [`Limited`].
pub struct LimitedListener<L> {
    inner: L,
    slots: Arc<ConnectionSlots>,
    timeout: TimeoutSource,
    waiting: Option<Pin<Box<dyn Future<Output = OwnedSemaphorePermit> + Send>>>,
    permit: Option<OwnedSemaphorePermit>,
}

impl<L> LimitedListener<L> {
    pub fn new(inner: L, slots: Arc<ConnectionSlots>, timeout: TimeoutSource) -> Self {
        LimitedListener {
            inner,
            slots,
            timeout,
            waiting: None,
            permit: None,
        }
    }
}

impl<L: Listener> Listener for LimitedListener<L> {
    type Io = Limited<L::Io>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Self::Io>> {
        if self.permit.is_none() {
            let slots = &self.slots;
            let waiting = self.waiting.get_or_insert_with(|| slots.acquire());
            let Poll::Ready(permit) = waiting.as_mut().poll(cx) else {
                return Poll::Pending;
            };
            self.waiting = None;
            self.permit = Some(permit);
        }
        // The permit is kept while the accept is pending (and if it fails).
        let stream = std::task::ready!(self.inner.poll_accept(cx))?;
        let slot = self.permit.take().map(|p| Slot::new(&self.slots, p));
        tracing::debug!(
            max_connections = self.slots.limit(),
            "milter connection accepted"
        );
        Poll::Ready(Ok(Limited::new(stream, slot, (self.timeout)())))
    }
}

/// A connection stream holding its slot, whose reads and writes fail with
/// `TimedOut` after `timeout` without progress (indymilter's own timeout is set out
/// of reach). The timer runs only while a read or write waits on the MTA, not while
/// the milter works on a message.
pub struct Limited<S> {
    inner: S,
    _slot: Option<Slot>,
    timeout: Duration,
    read_timer: IdleTimer,
    write_timer: IdleTimer,
}

impl<S> Limited<S> {
    pub fn new(inner: S, slot: Option<Slot>, timeout: Duration) -> Limited<S> {
        Limited {
            inner,
            _slot: slot,
            timeout,
            read_timer: IdleTimer::default(),
            write_timer: IdleTimer::default(),
        }
    }
}

/// One direction's idle timer. The sleep is allocated once per connection and
/// reset when it is armed again, so a milter command costs no allocation.
#[derive(Default)]
struct IdleTimer {
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl IdleTimer {
    /// `Pending` from the inner stream: arms the timer if it is not running and
    /// turns its expiry into an error.
    fn wait<T>(&mut self, timeout: Duration, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.armed {
            sleep.as_mut().reset(deadline);
            self.armed = true;
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.armed = false;
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "[milter] connection_timeout: the MTA sent or took nothing",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// The stream made progress: the next wait starts a new timeout.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => this.read_timer.wait(this.timeout, cx),
            ready => {
                this.read_timer.disarm();
                ready
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Pending => this.write_timer.wait(this.timeout, cx),
            ready => {
                this.write_timer.disarm();
                ready
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.write_timer.wait(this.timeout, cx),
            ready => {
                this.write_timer.disarm();
                ready
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_limit_grows_and_shrinks_with_connections_open() {
        let slots = ConnectionSlots::new(2);
        let a = Slot::new(&slots, slots.acquire().await);
        let b = Slot::new(&slots, slots.acquire().await);
        assert_eq!(slots.sem.available_permits(), 0);
        // Lowered below the open connections: retired as they close.
        slots.set_limit(1);
        drop(a);
        assert_eq!(slots.sem.available_permits(), 0, "a's slot was retired");
        drop(b);
        assert_eq!(slots.sem.available_permits(), 1);
        slots.set_limit(3);
        assert_eq!(slots.sem.available_permits(), 3);
        let c = Slot::new(&slots, slots.acquire().await);
        slots.set_limit(1);
        slots.set_limit(2);
        drop(c);
        assert_eq!(slots.sem.available_permits(), 2);
        assert_eq!(slots.limit(), 2);
    }

    #[tokio::test]
    async fn an_idle_read_times_out() {
        let (mut mta, milter) = tokio::io::duplex(64);
        let mut s = Limited::new(milter, None, Duration::from_millis(50));
        let mut buf = [0u8; 4];
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        mta.write_all(b"ab").await.unwrap();
        assert_eq!(s.read(&mut buf).await.unwrap(), 2);
        let e = s.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
}
