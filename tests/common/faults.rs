//! Helpers for the fault-injection tests (`tests/fault_*.rs`): an SMTP session that
//! sends several messages over one connection, numbered test messages whose fate
//! can be counted, and the milter with its metrics endpoint.

use super::smtp::{SmtpOutcome, dot_stuff, read_reply};
use super::{MilterProcess, WAIT, free_port, wait_for};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Body strings of the embedded wiring-test rules.
pub const TAG: &str = "SGE-MILTER-TEST-TAG-2A6E0";
pub const REJECT: &str = "SGE-MILTER-TEST-REJECT-4F1C9";

/// The header that numbers a test message.
pub const SEQ_HEADER: &str = "X-Fault-Seq";

/// A message numbered `seq`, marked UNCLASSIFIED (unmarked outbound mail is refused),
/// whose body holds `body`.
pub fn numbered(seq: usize, body: &str) -> Vec<u8> {
    format!(
        "From: alice@sender.example\r\nTo: bob@recipient.example\r\n\
         Subject: fault test {seq} [UNCLASSIFIED]\r\n{SEQ_HEADER}: {seq}\r\n\
         Message-ID: <fault-{seq}@sender.example>\r\n\r\n{body}\r\nline two\r\n"
    )
    .into_bytes()
}

/// The sequence number of a delivered message.
pub fn seq_of(raw: &[u8]) -> Option<usize> {
    super::header_value(raw, SEQ_HEADER).and_then(|v| v.parse().ok())
}

/// One SMTP connection carrying several transactions (Postfix keeps one milter
/// connection per SMTP session, so messages on it share a milter connection).
pub struct SmtpSession {
    out: TcpStream,
    reader: BufReader<TcpStream>,
}

impl SmtpSession {
    /// Connects to 127.0.0.1:`port` and says EHLO.
    pub fn open(port: u16) -> std::io::Result<SmtpSession> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(300)))?;
        let out = stream.try_clone()?;
        let mut s = SmtpSession {
            out,
            reader: BufReader::new(stream),
        };
        let banner = read_reply(&mut s.reader)?;
        if banner.code != 220 {
            return Err(std::io::Error::other(banner.text));
        }
        let r = s.command("EHLO client.sge-test.invalid")?;
        if r.code != 250 {
            return Err(std::io::Error::other(r.text));
        }
        Ok(s)
    }

    fn command(&mut self, cmd: &str) -> std::io::Result<super::smtp::Reply> {
        write!(self.out, "{cmd}\r\n")?;
        self.out.flush()?;
        read_reply(&mut self.reader)
    }

    /// One transaction; a refusal before DATA is reported (after RSET) like the final reply.
    pub fn send(&mut self, from: &str, rcpts: &[&str], raw: &[u8]) -> std::io::Result<SmtpOutcome> {
        let refused = |s: &mut SmtpSession, r: super::smtp::Reply| {
            let _ = s.command("RSET");
            Ok(SmtpOutcome {
                accepted: false,
                reply: r.text,
                code: r.code,
            })
        };
        let r = self.command(&format!("MAIL FROM:<{from}>"))?;
        if r.code / 100 != 2 {
            return refused(self, r);
        }
        for rcpt in rcpts {
            let r = self.command(&format!("RCPT TO:<{rcpt}>"))?;
            if r.code / 100 != 2 {
                return refused(self, r);
            }
        }
        let r = self.command("DATA")?;
        if r.code != 354 {
            return refused(self, r);
        }
        self.out.write_all(&dot_stuff(raw))?;
        self.out.write_all(b".\r\n")?;
        self.out.flush()?;
        let r = read_reply(&mut self.reader)?;
        Ok(SmtpOutcome {
            accepted: r.code / 100 == 2,
            reply: r.text,
            code: r.code,
        })
    }

    pub fn quit(mut self) {
        let _ = self.command("QUIT");
    }
}

/// Sends `raw` until the server gives a final answer (2xx or 5xx), as a sending
/// MTA would: a 4xx or a broken connection is retried after `pause`. Returns the
/// final outcome and how many attempts were temporary failures.
pub fn send_until_final(
    port: u16,
    from: &str,
    rcpts: &[&str],
    raw: &[u8],
    pause: Duration,
) -> (SmtpOutcome, usize) {
    let mut temporary = 0;
    let outcome = wait_for(WAIT * 3, || {
        let result = SmtpSession::open(port).and_then(|mut s| {
            let r = s.send(from, rcpts, raw);
            s.quit();
            r
        });
        match result {
            Ok(o) if o.code / 100 == 2 || o.code / 100 == 5 => Some(o),
            _ => {
                temporary += 1;
                std::thread::sleep(pause);
                None
            }
        }
    });
    let outcome = outcome.unwrap_or_else(|| panic!("no final SMTP answer for a message"));
    (outcome, temporary)
}

/// The milter with its metrics endpoint on a free port and extra environment;
/// `config` is appended after the `[metrics]` section.
pub fn milter_with_metrics(config: &str, env: &[(&str, &str)]) -> (MilterProcess, String) {
    milter_with_metrics_in(tempfile::tempdir().expect("tempdir"), config, env)
}

/// [`milter_with_metrics`] in `dir`, which may already hold rule files or keys.
pub fn milter_with_metrics_in(
    dir: tempfile::TempDir,
    config: &str,
    env: &[(&str, &str)],
) -> (MilterProcess, String) {
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let toml = format!("[metrics]\nlisten = \"{metrics_addr}\"\n{config}");
    let milter = MilterProcess::start_in_env(dir, &toml, env);
    wait_for(WAIT, || TcpStream::connect(&metrics_addr).ok())
        .unwrap_or_else(|| panic!("no /metrics on {metrics_addr}:\n{}", milter.log()));
    (milter, metrics_addr)
}

/// A raw milter packet: `[u32 length][command][payload]`.
pub fn milter_packet(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = u32::try_from(payload.len() + 1)
        .expect("packet fits")
        .to_be_bytes()
        .to_vec();
    p.push(kind);
    p.extend_from_slice(payload);
    p
}

/// The MTA side of a conversation up to the first header: negotiation (version 6,
/// every action and option offered), connect, HELO, MAIL, RCPT, DATA.
pub fn milter_prologue() -> Vec<u8> {
    let mut neg = 6u32.to_be_bytes().to_vec();
    neg.extend_from_slice(&0x1ffu32.to_be_bytes());
    neg.extend_from_slice(&0x1f_ffffu32.to_be_bytes());
    let mut out = milter_packet(b'O', &neg);
    let mut conn = b"client.example\0".to_vec();
    conn.push(b'4');
    conn.extend_from_slice(&25u16.to_be_bytes());
    conn.extend_from_slice(b"192.0.2.1\0");
    out.extend(milter_packet(b'C', &conn));
    out.extend(milter_packet(b'H', b"client.example\0"));
    out.extend(milter_packet(b'M', b"<alice@sender.example>\0"));
    out.extend(milter_packet(b'R', b"<bob@recipient.example>\0"));
    out.extend(milter_packet(b'T', b""));
    out
}

/// The pid of the one live process whose command line has `arg` (e.g. a private
/// config file path), for signalling a server started by another helper.
pub fn pid_with_arg(arg: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.split(|&b| b == 0).any(|a| a == arg.as_bytes()))
                .unwrap_or(false)
                && super::pid_alive(*pid)
        })
}
