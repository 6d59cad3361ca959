//! A TCP stream that acknowledges every read at once.
//!
//! Neither Postfix nor libmilter-based MTAs set `TCP_NODELAY`. When an MTA writes one
//! milter command in two pieces (a body chunk larger than its write buffer), Nagle's
//! algorithm holds the second piece until the first is acknowledged, and Linux delays
//! that acknowledgement by up to 40 ms because we have nothing to send yet: one stall
//! per message. Setting `TCP_QUICKACK` sends the pending acknowledgement and leaves
//! Linux's delayed-ACK ("pingpong") mode; once out of it, reading data acknowledges
//! it at once. Linux only goes back into that mode when we send data soon after
//! receiving, so the option is set again on the first read after each write, not on
//! every read: with the no-reply stages (`milter::no_reply`) most reads follow no
//! write, and each `setsockopt` is a system call.

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
    /// Data was sent since `TCP_QUICKACK` was last set (true at first, to be safe).
    wrote: bool,
}

impl QuickAckStream {
    pub fn new(stream: TcpStream) -> QuickAckStream {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
        }
        QuickAckStream {
            stream,
            wrote: true,
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
        if self.wrote && matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            // Best effort: a failure only costs latency, never correctness.
            let _ = SockRef::from(&self.stream).set_tcp_quickack(true);
            self.wrote = false;
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
            self.wrote = true;
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
