//! A TCP stream that acknowledges what it has read before it waits for more.
//!
//! Neither Postfix nor libmilter-based MTAs set `TCP_NODELAY`, and they write each
//! milter command with its own write: a macro packet, then the command it goes with.
//! Nagle's algorithm holds a small write while an earlier small one is unacknowledged,
//! and Linux delays our acknowledgement by up to 40 ms once we have answered quickly
//! before ("pingpong" mode). So whenever the MTA's next bytes wait on our ACK (a macro
//! packet or a no-reply command read, or a body chunk split across writes), one stall
//! per message unless we acknowledge at once.
//!
//! Setting `TCP_QUICKACK` sends the pending acknowledgement and leaves pingpong mode.
//! It is only needed when we are about to wait: a read that finds nothing more to
//! read (`Pending`) after data was read since our last write. A command that gets a
//! reply needs none: the reply carries the ACK, and setting the option there would
//! send a bare ACK packet for nothing. Each `setsockopt` is a system call, so it is
//! set once per such wait, not on every read.

use socket2::SockRef;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// An accepted milter connection with `TCP_NODELAY` and quick ACKs.
#[derive(Debug)]
pub struct QuickAckStream {
    stream: TcpStream,
    /// Data was read since our last write (which would have carried its ACK) and
    /// since `TCP_QUICKACK` was last set: the MTA may be waiting on that ACK.
    read_unacked: bool,
}

impl QuickAckStream {
    pub fn new(stream: TcpStream) -> QuickAckStream {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
        }
        QuickAckStream {
            stream,
            read_unacked: false,
        }
    }
}

impl AsyncRead for QuickAckStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        match result {
            Poll::Ready(Ok(())) if buf.filled().len() > before => self.read_unacked = true,
            Poll::Pending if self.read_unacked => {
                // Best effort: a failure only costs latency, never correctness.
                let _ = SockRef::from(&self.stream).set_tcp_quickack(true);
                self.read_unacked = false;
            }
            _ => {}
        }
        result
    }
}

impl AsyncWrite for QuickAckStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.read_unacked = false;
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Linux reads `TCP_QUICKACK` back as "not in delayed-ACK (pingpong) mode".
    fn acks_at_once(s: &QuickAckStream) -> bool {
        SockRef::from(&s.stream)
            .tcp_quickack()
            .expect("read TCP_QUICKACK")
    }

    /// One poll of a read, as the protocol library makes when it wants more bytes.
    async fn poll_read_once(s: &mut QuickAckStream) -> Poll<io::Result<()>> {
        let mut space = [0u8; 64];
        std::future::poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut space);
            Poll::Ready(Pin::new(&mut *s).poll_read(cx, &mut buf))
        })
        .await
    }

    /// A command and its reply, repeated until Linux has put the milter's side into
    /// delayed-ACK mode (it does when the reply follows the command within its ACK
    /// timeout, 40 ms at least; a stalled machine can take longer once).
    async fn command_and_reply(mta: &mut std::net::TcpStream, milter: &mut QuickAckStream) {
        for _ in 0..50 {
            mta.write_all(b"command").expect("MTA writes");
            let mut buf = [0u8; 7];
            milter.read_exact(&mut buf).await.expect("milter reads");
            milter.write_all(b"reply").await.expect("milter replies");
            mta.read_exact(&mut [0u8; 5]).expect("MTA reads the reply");
            if !acks_at_once(milter) {
                return;
            }
        }
        panic!("Linux never entered delayed-ACK mode after a prompt reply");
    }

    #[tokio::test]
    async fn acknowledges_before_waiting_and_only_then() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        // The MTA's side leaves Nagle on, as Postfix does.
        let mut mta =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (accepted, _) = listener.accept().await.expect("accept");
        let mut milter = QuickAckStream::new(accepted);

        // A packet that gets no reply (macros): the MTA's next write waits on its ACK.
        // Reading it alone changes nothing; only Linux's own delayed-ACK timer may,
        // when a stalled machine lets it fire first, and then the step is taken again.
        for attempt in 1.. {
            command_and_reply(&mut mta, &mut milter).await;
            mta.write_all(b"macros").expect("MTA writes");
            let mut buf = [0u8; 6];
            milter.read_exact(&mut buf).await.expect("milter reads");
            if !acks_at_once(&milter) {
                break;
            }
            assert!(attempt < 50, "reading alone changed the ACK mode");
        }
        assert!(poll_read_once(&mut milter).await.is_pending());
        assert!(
            acks_at_once(&milter),
            "waiting for more after a read sends the ACK and leaves delayed-ACK mode"
        );

        // A command that is answered: the reply carries the ACK, so the wait for the
        // next command sets nothing (no bare ACK packet, no system call).
        command_and_reply(&mut mta, &mut milter).await;
        assert!(poll_read_once(&mut milter).await.is_pending());
        assert!(
            !acks_at_once(&milter),
            "nothing read since the reply: no quick ACK"
        );
    }
}
