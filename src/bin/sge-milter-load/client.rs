//! The MTA side of the milter protocol (version 6), written the way Postfix 3.x
//! speaks it: the option and action flags Postfix offers, a macro packet before each
//! stage, header values with the leading space, the body in chunks of at most
//! 65535 bytes, and no TCP_NODELAY on the client socket.
//!
//! Hand-written rather than `indymilter-test` because that crate is a dev-dependency
//! (not available to a binary) and hides the socket, so the chunking, the write
//! pattern and the socket options could not be made Postfix's.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::Barrier;

/// How long a held message waits for the others before sending end of message
/// anyway (a message the milter decided early never reaches the barrier).
const HOLD_LIMIT: Duration = Duration::from_secs(120);

/// Postfix's MILTER_CHUNK_SIZE.
pub const CHUNK: usize = 65535;

/// Actions Postfix 3.x offers (SMFIF_ADDHDRS .. SMFIF_SETSYMLIST).
const POSTFIX_ACTIONS: u32 = 0x1ff;
/// Protocol steps Postfix 3.x can skip or leave unanswered, plus HDR_LEADSPC.
const POSTFIX_PROTOCOL: u32 = 0x001f_ffff;

const P_NOCONNECT: u32 = 0x1;
const P_NOHELO: u32 = 0x2;
const P_NOMAIL: u32 = 0x4;
const P_NORCPT: u32 = 0x8;
const P_NOBODY: u32 = 0x10;
const P_NOHDRS: u32 = 0x20;
const P_NOEOH: u32 = 0x40;
const P_NR_HDR: u32 = 0x80;
const P_NODATA: u32 = 0x200;
const P_NR_CONN: u32 = 0x1000;
const P_NR_HELO: u32 = 0x2000;
const P_NR_MAIL: u32 = 0x4000;
const P_NR_RCPT: u32 = 0x8000;
const P_NR_DATA: u32 = 0x10000;
const P_NR_EOH: u32 = 0x40000;
const P_NR_BODY: u32 = 0x80000;
const P_HDR_LEADSPC: u32 = 0x100000;

/// Where the milter listens: `inet:HOST:PORT` or `unix:PATH`.
#[derive(Clone, Debug)]
pub enum Target {
    Inet(String),
    Unix(String),
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, String> {
        if let Some(p) = s.strip_prefix("unix:") {
            Ok(Target::Unix(p.to_string()))
        } else if let Some(a) = s.strip_prefix("inet:") {
            Ok(Target::Inet(a.to_string()))
        } else {
            Err(format!("{s:?}: expected inet:HOST:PORT or unix:PATH"))
        }
    }
}

/// One message as an MTA hands it over.
pub struct Envelope<'a> {
    pub client_ip: &'a str,
    pub helo: &'a str,
    pub mail_from: &'a str,
    pub rcpts: &'a [String],
}

/// How a message ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    Accept,
    Reject,
    Tempfail,
    Discard,
    /// Asked to go to the hold queue (accepted, then held).
    Quarantine,
}

/// The outcome of one message: its verdict and how long end of message took.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    pub verdict: Verdict,
    pub eom: Duration,
    /// Header edits (add/insert/change) the milter asked for.
    pub edits: u32,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One milter connection (one SMTP session in Postfix terms).
pub struct Connection {
    io: Box<dyn Io>,
    protocol: u32,
    buf: Vec<u8>,
    hold: Option<Arc<Barrier>>,
}

impl Connection {
    /// Connects and negotiates. TCP_NODELAY is left off, as Postfix leaves it,
    /// unless `nodelay` (to see a milter without delayed-ACK waits).
    pub async fn open(target: &Target, nodelay: bool) -> io::Result<Connection> {
        let io: Box<dyn Io> = match target {
            Target::Inet(a) => {
                let s = TcpStream::connect(a.as_str()).await?;
                s.set_nodelay(nodelay)?;
                Box::new(s)
            }
            Target::Unix(p) => Box::new(UnixStream::connect(p.as_str()).await?),
        };
        let mut c = Connection {
            io,
            protocol: 0,
            buf: Vec::with_capacity(CHUNK + 16),
            hold: None,
        };
        let mut neg = Vec::with_capacity(12);
        neg.extend_from_slice(&6u32.to_be_bytes());
        neg.extend_from_slice(&POSTFIX_ACTIONS.to_be_bytes());
        neg.extend_from_slice(&POSTFIX_PROTOCOL.to_be_bytes());
        c.send(b'O', &[&neg]).await?;
        let (cmd, len) = c.read_packet().await?;
        if cmd != b'O' || len < 12 {
            return Err(proto("bad option negotiation reply"));
        }
        let d = &c.buf;
        c.protocol = u32::from_be_bytes([d[8], d[9], d[10], d[11]]);
        Ok(c)
    }

    /// Connect and HELO stages with Postfix's macros.
    pub async fn greet(&mut self, client_ip: &str, helo: &str) -> io::Result<Option<Verdict>> {
        self.macros(
            b'C',
            &[
                ("j", "mx.load.test"),
                ("{daemon_name}", "smtpd"),
                ("{client_addr}", client_ip),
                ("{client_name}", "unknown"),
            ],
        )
        .await?;
        if self.protocol & P_NOCONNECT == 0 {
            let mut addr = Vec::new();
            addr.push(if client_ip.contains(':') { b'6' } else { b'4' });
            addr.extend_from_slice(&25u16.to_be_bytes());
            let r = self
                .command(
                    b'C',
                    &[b"unknown\0", &addr, client_ip.as_bytes(), b"\0"],
                    P_NR_CONN,
                )
                .await?;
            if r.is_some() {
                return Ok(r);
            }
        }
        self.macros(b'H', &[("{tls_version}", ""), ("{cipher}", "")])
            .await?;
        if self.protocol & P_NOHELO == 0 {
            return self
                .command(b'H', &[helo.as_bytes(), b"\0"], P_NR_HELO)
                .await;
        }
        Ok(None)
    }

    /// One message on this connection, from MAIL FROM to end of message. Returns
    /// early when the milter decides before end of message.
    pub async fn message(
        &mut self,
        env: &Envelope<'_>,
        headers: &[(String, String)],
        body: &[u8],
    ) -> io::Result<Outcome> {
        let early = |verdict| Outcome {
            verdict,
            eom: Duration::ZERO,
            edits: 0,
        };
        self.macros(b'M', &[("i", "4XyzQ1Load"), ("{mail_mailer}", "smtp")])
            .await?;
        if self.protocol & P_NOMAIL == 0 {
            let from = format!("<{}>", env.mail_from);
            if let Some(v) = self
                .command(b'M', &[from.as_bytes(), b"\0"], P_NR_MAIL)
                .await?
            {
                return Ok(early(v));
            }
        }
        for rcpt in env.rcpts {
            self.macros(b'R', &[("{rcpt_mailer}", "smtp")]).await?;
            if self.protocol & P_NORCPT == 0 {
                let to = format!("<{rcpt}>");
                if let Some(v) = self
                    .command(b'R', &[to.as_bytes(), b"\0"], P_NR_RCPT)
                    .await?
                {
                    return Ok(early(v));
                }
            }
        }
        self.macros(b'T', &[("i", "4XyzQ1Load")]).await?;
        if self.protocol & P_NODATA == 0
            && let Some(v) = self.command(b'T', &[], P_NR_DATA).await?
        {
            return Ok(early(v));
        }
        let lead = if self.protocol & P_HDR_LEADSPC != 0 {
            " "
        } else {
            ""
        };
        if self.protocol & P_NOHDRS == 0 {
            for (name, value) in headers {
                let value = format!("{lead}{value}");
                let r = self
                    .command(
                        b'L',
                        &[name.as_bytes(), b"\0", value.as_bytes(), b"\0"],
                        P_NR_HDR,
                    )
                    .await?;
                if let Some(v) = r {
                    return Ok(early(v));
                }
            }
        }
        self.macros(b'N', &[("i", "4XyzQ1Load")]).await?;
        if self.protocol & P_NOEOH == 0
            && let Some(v) = self.command(b'N', &[], P_NR_EOH).await?
        {
            return Ok(early(v));
        }
        if self.protocol & P_NOBODY == 0 {
            for chunk in body.chunks(CHUNK) {
                if let Some(v) = self.command(b'B', &[chunk], P_NR_BODY).await? {
                    if v == Verdict::Continue {
                        break; // skip: the milter wants no more body
                    }
                    return Ok(early(v));
                }
            }
        }
        if let Some(b) = &self.hold {
            let _ = tokio::time::timeout(HOLD_LIMIT, b.wait()).await;
        }
        self.macros(b'E', &[("i", "4XyzQ1Load")]).await?;
        let start = Instant::now();
        self.send(b'E', &[]).await?;
        let (verdict, edits) = self.read_eom().await?;
        Ok(Outcome {
            verdict,
            eom: start.elapsed(),
            edits,
        })
    }

    /// Makes every message on this connection wait at `barrier` after its body, before
    /// end of message: with one barrier for all connections, all their bytes are in
    /// the milter at once (memory measurement).
    pub fn hold_before_eom(&mut self, barrier: Arc<Barrier>) {
        self.hold = Some(barrier);
    }

    /// Ends the transaction so the connection can carry another message.
    pub async fn abort(&mut self) -> io::Result<()> {
        self.send(b'A', &[]).await
    }

    pub async fn quit(mut self) -> io::Result<()> {
        self.send(b'Q', &[]).await?;
        self.io.shutdown().await
    }

    async fn macros(&mut self, stage: u8, pairs: &[(&str, &str)]) -> io::Result<()> {
        let mut data = vec![stage];
        for (k, v) in pairs {
            data.extend_from_slice(k.as_bytes());
            data.push(0);
            data.extend_from_slice(v.as_bytes());
            data.push(0);
        }
        self.send(b'D', &[&data]).await
    }

    /// Sends a command and, unless the milter asked not to answer it (`no_reply`
    /// flag negotiated), reads the reply. `Some` is a decision that ends the message
    /// (or, for a body chunk, `Continue` meaning "skip the rest").
    async fn command(
        &mut self,
        cmd: u8,
        parts: &[&[u8]],
        no_reply: u32,
    ) -> io::Result<Option<Verdict>> {
        self.send(cmd, parts).await?;
        if self.protocol & no_reply != 0 {
            return Ok(None);
        }
        loop {
            let (reply, _) = self.read_packet().await?;
            return Ok(match reply {
                b'c' => None,
                b'p' => continue,
                b's' => Some(Verdict::Continue),
                b'a' => Some(Verdict::Accept),
                b'd' => Some(Verdict::Discard),
                b'r' => Some(Verdict::Reject),
                b't' => Some(Verdict::Tempfail),
                b'y' => Some(reply_code_verdict(&self.buf)),
                other => return Err(proto(&format!("unexpected reply {:?}", other as char))),
            });
        }
    }

    async fn read_eom(&mut self) -> io::Result<(Verdict, u32)> {
        let mut edits = 0;
        let mut quarantined = false;
        loop {
            let (reply, _) = self.read_packet().await?;
            let verdict = match reply {
                b'h' | b'i' | b'm' | b'+' | b'-' | b'2' | b'e' | b'b' => {
                    edits += 1;
                    continue;
                }
                b'q' => {
                    quarantined = true;
                    continue;
                }
                b'p' => continue,
                b'c' | b'a' if quarantined => Verdict::Quarantine,
                b'c' => Verdict::Continue,
                b'a' => Verdict::Accept,
                b'd' => Verdict::Discard,
                b'r' => Verdict::Reject,
                b't' => Verdict::Tempfail,
                b'y' => reply_code_verdict(&self.buf),
                other => return Err(proto(&format!("unexpected eom reply {:?}", other as char))),
            };
            return Ok((verdict, edits));
        }
    }

    /// Writes one packet with one write, as Postfix flushes each command.
    async fn send(&mut self, cmd: u8, parts: &[&[u8]]) -> io::Result<()> {
        let len: usize = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
        let mut packet = Vec::with_capacity(4 + len);
        packet.extend_from_slice(&(len as u32).to_be_bytes());
        packet.push(cmd);
        parts.iter().for_each(|p| packet.extend_from_slice(p));
        self.io.write_all(&packet).await
    }

    /// Reads one reply packet into `self.buf`; returns its command and length.
    async fn read_packet(&mut self) -> io::Result<(u8, usize)> {
        let mut len = [0u8; 4];
        self.io.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 || len > 1 << 20 {
            return Err(proto("bad packet length"));
        }
        let mut cmd = [0u8; 1];
        self.io.read_exact(&mut cmd).await?;
        self.buf.resize(len - 1, 0);
        self.io.read_exact(&mut self.buf).await?;
        Ok((cmd[0], len - 1))
    }
}

fn reply_code_verdict(text: &[u8]) -> Verdict {
    match text.first() {
        Some(b'4') => Verdict::Tempfail,
        _ => Verdict::Reject,
    }
}

fn proto(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("milter protocol: {what}"),
    )
}
