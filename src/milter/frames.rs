//! Watches the milter packet framing on the read side of a connection, to report a
//! packet that is too large for the protocol library.
//!
//! indymilter refuses a packet over 1 MiB by ending the session with an error it
//! only logs at `trace` level: the MTA sees the connection close and applies its
//! `milter_default_action`, and the admin sees nothing. indymilter has no hook for
//! it, so this wrapper reads the same length prefixes as the bytes pass through and
//! logs and counts the packet (`errors_total{kind="milter_protocol"}`) before
//! indymilter drops the connection. It never changes the bytes.

use crate::metrics::{error_kind, global as metrics};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// indymilter's limit on a packet's payload (`Message::MAX_BUFFER_LEN`): the length
/// prefix counts the command byte too, so a prefix above `MAX_PAYLOAD + 1` is refused.
pub const MAX_PAYLOAD: u64 = 1024 * 1024 - 1;

/// Where the reader is in the stream of `[u32 length][command byte][payload]` packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// Reading the 4-byte length prefix; `have` bytes of it so far.
    Length { prefix: [u8; 4], have: usize },
    /// Inside a packet: this many bytes (command byte and payload) still to come.
    Packet(u64),
    /// An oversized packet was reported: indymilter ends the session, stop parsing.
    Reported,
}

/// A connection stream whose incoming packet lengths are checked; see the module doc.
#[derive(Debug)]
pub struct FrameWatch<S> {
    inner: S,
    framing: Framing,
}

impl<S> FrameWatch<S> {
    pub fn new(inner: S) -> FrameWatch<S> {
        FrameWatch {
            inner,
            framing: Framing::Length {
                prefix: [0; 4],
                have: 0,
            },
        }
    }

    /// True once an oversized packet was seen (and reported).
    pub fn saw_oversized(&self) -> bool {
        self.framing == Framing::Reported
    }

    /// Follows the framing over bytes just read.
    fn observe(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.framing {
                Framing::Reported => return,
                Framing::Packet(left) => {
                    let n = (*left).min(data.len() as u64);
                    *left -= n;
                    data = &data[n as usize..];
                    if *left == 0 {
                        self.framing = Framing::Length {
                            prefix: [0; 4],
                            have: 0,
                        };
                    }
                }
                Framing::Length { prefix, have } => {
                    let n = (4 - *have).min(data.len());
                    prefix[*have..*have + n].copy_from_slice(&data[..n]);
                    *have += n;
                    data = &data[n..];
                    if *have == 4 {
                        let len = u64::from(u32::from_be_bytes(*prefix));
                        self.framing = if len > MAX_PAYLOAD + 1 {
                            report_oversized(len);
                            Framing::Reported
                        } else {
                            Framing::Packet(len)
                        };
                    }
                }
            }
        }
    }
}

fn report_oversized(len: u64) {
    metrics().error(error_kind::MILTER_PROTOCOL);
    tracing::error!(
        packet_bytes = len,
        limit_bytes = MAX_PAYLOAD + 1,
        "the MTA sent a milter packet over the protocol's 1 MiB limit; closing the connection, the MTA applies its milter_default_action (Postfix: keep header_size_limit and body chunks under 1 MiB)"
    );
}

impl<S: AsyncRead + Unpin> AsyncRead for FrameWatch<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) {
            let this = &mut *self;
            this.observe(&buf.filled()[before..]);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FrameWatch<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(kind: u8, payload_len: usize) -> Vec<u8> {
        let mut p = u32::try_from(payload_len + 1)
            .expect("small")
            .to_be_bytes()
            .to_vec();
        p.push(kind);
        p.resize(p.len() + payload_len, b'x');
        p
    }

    #[test]
    fn follows_packets_split_anywhere() {
        let mut stream = packet(b'O', 24);
        stream.extend(packet(b'L', 1000));
        stream.extend(packet(b'B', 65535));
        for split in [1, 3, 4, 5, 7, 100, 4096] {
            let mut w = FrameWatch::new(());
            stream.chunks(split).for_each(|c| w.observe(c));
            assert!(!w.saw_oversized(), "split {split}");
            assert_eq!(
                w.framing,
                Framing::Length {
                    prefix: [0; 4],
                    have: 0
                }
            );
        }
    }

    #[test]
    fn reports_a_packet_over_one_mebibyte_once() {
        let before = metrics()
            .errors
            .with_label_values(&[error_kind::MILTER_PROTOCOL])
            .get();
        let mut stream = packet(b'L', 100);
        // The largest packet indymilter accepts, then one byte more.
        stream.extend(packet(b'B', MAX_PAYLOAD as usize));
        let mut w = FrameWatch::new(());
        stream.chunks(777).for_each(|c| w.observe(c));
        assert!(!w.saw_oversized());
        let mut big = u32::try_from(MAX_PAYLOAD + 2)
            .expect("small")
            .to_be_bytes()
            .to_vec();
        big.extend_from_slice(b"Lname\0");
        w.observe(&big);
        w.observe(&big);
        assert!(w.saw_oversized());
        let after = metrics()
            .errors
            .with_label_values(&[error_kind::MILTER_PROTOCOL])
            .get();
        assert!(after > before, "counted");
    }
}
