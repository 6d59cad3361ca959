//! A TCP stream that acknowledges every read at once.
//!
//! Neither Postfix nor libmilter-based MTAs set `TCP_NODELAY`. When an MTA writes one
//! milter command in two pieces (a body chunk larger than its write buffer), Nagle's
//! algorithm holds the second piece until the first is acknowledged, and Linux delays
//! that acknowledgement by up to 40 ms because we have nothing to send yet: one stall
//! per message. `TCP_QUICKACK` is not sticky on Linux, so it is set again after each read.

use socket2::SockRef;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// An accepted milter connection with `TCP_NODELAY` and quick ACKs.
#[derive(Debug)]
pub struct QuickAckStream(TcpStream);

impl QuickAckStream {
    pub fn new(stream: TcpStream) -> QuickAckStream {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
        }
        QuickAckStream(stream)
    }
}

impl AsyncRead for QuickAckStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            // Best effort: a failure only costs latency, never correctness.
            let _ = SockRef::from(&self.0).set_tcp_quickack(true);
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
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
