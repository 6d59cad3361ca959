//! Sends the message modifications of an end of message together with its final
//! reply, in one write.
//!
//! indymilter writes and flushes every milter packet on its own, so an end of
//! message that adds an `Authentication-Results` header, a `DKIM-Signature` and a
//! trace header costs four `send` system calls, and the MTA wakes up to read each
//! one. Modification packets (add, insert or change a header, recipients, sender,
//! body, quarantine) are only valid during end of message and are always followed by
//! a final reply, and the MTA acts on none of them before that reply. This wrapper
//! holds their bytes and sends them with the next packet of any other kind (the reply,
//! or a progress packet), so the whole answer goes out in one write. Bytes of other
//! packets pass straight through, uncopied, when nothing is held.
//!
//! Nothing held is ever dropped while the connection lives: held bytes go out before
//! any later byte, on shutdown, and as soon as more than [`MAX_HELD`] are held. If
//! the session ends without a reply (a failure), the MTA gets no reply either way and
//! applies its own failure action.
//!
//! The read side has its own framing watcher (`frames.rs`), which needs only lengths;
//! this one needs each packet's command byte.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Held bytes past this are sent at once: a bound on memory, never on correctness.
pub const MAX_HELD: usize = 64 * 1024;

/// Milter reply commands that modify the message (`SMFIR_*`): add, delete and
/// add-with-parameters recipient, replace body, change sender, add, insert and change
/// header, quarantine.
fn is_modification(command: u8) -> bool {
    matches!(
        command,
        b'+' | b'-' | b'2' | b'b' | b'e' | b'h' | b'i' | b'm' | b'q'
    )
}

/// Where the writer is in the stream of `[u32 length][command byte][payload]` packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// In the 4-byte length prefix; `have` bytes of it so far.
    Length { prefix: [u8; 4], have: usize },
    /// The prefix is complete; the next byte is the command of a packet of `len`.
    Command { len: u64 },
    /// In the payload of a packet with `command`; `left` bytes still to come.
    Payload { command: u8, left: u64 },
}

impl Framing {
    const START: Framing = Framing::Length {
        prefix: [0; 4],
        have: 0,
    };

    /// Follows `data`; returns the offset just past its last byte that may be sent
    /// now (a byte of a packet that is not a modification, and everything before it),
    /// or 0.
    fn advance(&mut self, data: &[u8]) -> usize {
        let mut sendable = 0;
        let mut at = 0;
        while at < data.len() {
            match self {
                Framing::Length { prefix, have } => {
                    let n = (4 - *have).min(data.len() - at);
                    prefix[*have..*have + n].copy_from_slice(&data[at..at + n]);
                    *have += n;
                    at += n;
                    if *have == 4 {
                        let len = u64::from(u32::from_be_bytes(*prefix));
                        // A zero length has no command byte: nothing to hold.
                        *self = if len == 0 {
                            sendable = at;
                            Framing::START
                        } else {
                            Framing::Command { len }
                        };
                    }
                }
                Framing::Command { len } => {
                    let command = data[at];
                    let left = *len - 1;
                    at += 1;
                    *self = if left == 0 {
                        Framing::START
                    } else {
                        Framing::Payload { command, left }
                    };
                    if !is_modification(command) {
                        sendable = at;
                    }
                }
                Framing::Payload { command, left } => {
                    let n = (*left).min((data.len() - at) as u64);
                    at += n as usize;
                    *left -= n;
                    if !is_modification(*command) {
                        sendable = at;
                    }
                    if *left == 0 {
                        *self = Framing::START;
                    }
                }
            }
        }
        sendable
    }
}

/// A connection stream whose modification packets wait for the reply; see the
/// module doc.
#[derive(Debug)]
pub struct ActionBatch<S> {
    inner: S,
    framing: Framing,
    /// Bytes accepted and not sent yet, in order.
    pending: Vec<u8>,
    /// `pending[..ready]` must be sent before anything else; the rest is held.
    ready: usize,
}

impl<S> ActionBatch<S> {
    pub fn new(inner: S) -> ActionBatch<S> {
        ActionBatch {
            inner,
            framing: Framing::START,
            pending: Vec::new(),
            ready: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> ActionBatch<S> {
    /// Writes `pending[..ready]` out; `Ready(Ok)` once it is all sent.
    fn poll_send_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.ready > 0 {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[..self.ready]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
            self.ready -= n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ActionBatch<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ActionBatch<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_send_ready(cx))?;
        if this.pending.is_empty() {
            // Usually the whole of `buf` may go out: write it without copying.
            let mut probe = this.framing;
            if probe.advance(buf) == buf.len() {
                let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
                if n == buf.len() {
                    this.framing = probe;
                } else {
                    this.framing.advance(&buf[..n]);
                }
                return Poll::Ready(Ok(n));
            }
        }
        let start = this.pending.len();
        this.pending.extend_from_slice(buf);
        let sendable = this.framing.advance(buf);
        if sendable > 0 {
            this.ready = start + sendable;
        }
        if this.pending.len() > MAX_HELD {
            this.ready = this.pending.len();
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send_ready(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.ready = self.pending.len();
        ready!(self.poll_send_ready(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records each write it is given; accepts at most `max` bytes per write.
    #[derive(Clone, Default)]
    struct Recorder {
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
        max: Option<usize>,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = self.max.map_or(buf.len(), |m| m.min(buf.len()));
            self.writes.lock().unwrap().push(buf[..n].to_vec());
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn packet(command: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = u32::try_from(payload.len() + 1)
            .expect("small")
            .to_be_bytes()
            .to_vec();
        p.push(command);
        p.extend_from_slice(payload);
        p
    }

    /// Writes each piece and flushes after each, as indymilter does per packet.
    async fn send(batch: &mut ActionBatch<Recorder>, pieces: &[Vec<u8>]) {
        use tokio::io::AsyncWriteExt;
        for p in pieces {
            batch.write_all(p).await.unwrap();
            batch.flush().await.unwrap();
        }
    }

    #[tokio::test]
    async fn modifications_go_out_with_the_reply_in_one_write() {
        let rec = Recorder::default();
        let mut batch = ActionBatch::new(rec.clone());
        let ar = packet(b'i', b"\0\0\0\x01Authentication-Results\0gw; spf=pass\0");
        let sig = packet(b'i', b"\0\0\0\x01DKIM-Signature\0v=1; a=rsa-sha256\0");
        let accept = packet(b'c', b"");
        send(&mut batch, &[ar.clone(), sig.clone(), accept.clone()]).await;
        let writes = rec.writes.lock().unwrap().clone();
        assert_eq!(writes, vec![[ar, sig, accept].concat()]);
    }

    #[tokio::test]
    async fn other_packets_pass_straight_through() {
        let rec = Recorder::default();
        let mut batch = ActionBatch::new(rec.clone());
        let replies = vec![packet(b'O', &[0; 12]), packet(b'c', b""), packet(b'c', b"")];
        send(&mut batch, &replies).await;
        assert_eq!(*rec.writes.lock().unwrap(), replies);
        assert!(batch.pending.is_empty());
    }

    #[tokio::test]
    async fn every_byte_arrives_in_order_however_the_writes_are_cut() {
        let stream = [
            packet(b'c', b""),
            packet(b'h', &[b'x'; 3000]),
            packet(b'm', b"\0\0\0\x01X-Old\0\0"),
            packet(b'p', b""),
            packet(b'q', b"held\0"),
            packet(b'y', b"550 5.7.1 no\0"),
            packet(b'c', b""),
        ]
        .concat();
        for cut in [1, 2, 3, 4, 5, 6, 7, 100, 2999, 8192] {
            for max in [None, Some(1), Some(7), Some(1000)] {
                let rec = Recorder {
                    max,
                    ..Recorder::default()
                };
                let mut batch = ActionBatch::new(rec.clone());
                let pieces: Vec<Vec<u8>> = stream.chunks(cut).map(<[u8]>::to_vec).collect();
                send(&mut batch, &pieces).await;
                let sent = rec.writes.lock().unwrap().concat();
                assert_eq!(sent, stream, "cut {cut} max {max:?}");
            }
        }
    }

    #[tokio::test]
    async fn held_bytes_are_sent_on_shutdown_and_past_the_bound() {
        use tokio::io::AsyncWriteExt;
        let rec = Recorder::default();
        let mut batch = ActionBatch::new(rec.clone());
        let header = packet(b'h', b"X-A\0b\0");
        send(&mut batch, std::slice::from_ref(&header)).await;
        assert!(rec.writes.lock().unwrap().is_empty(), "held");
        batch.shutdown().await.unwrap();
        assert_eq!(rec.writes.lock().unwrap().concat(), header);

        let rec = Recorder::default();
        let mut batch = ActionBatch::new(rec.clone());
        let big = packet(b'h', &vec![b'v'; MAX_HELD]);
        send(&mut batch, std::slice::from_ref(&big)).await;
        assert_eq!(rec.writes.lock().unwrap().concat(), big);
    }
}
