//! Handing a report mail to the MTA: `sendmail:/path` or `smtp:HOST:PORT`.
//!
//! The SMTP client is hand-written on purpose: it only ever talks plain SMTP to the
//! local MTA (which queues and relays), so a full client with TLS and auth (lettre)
//! would be a large dependency for six commands.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    Sendmail(String),
    Smtp(String),
}

impl Transport {
    pub fn parse(spec: &str) -> Result<Transport> {
        if let Some(path) = spec.strip_prefix("sendmail:") {
            Ok(Transport::Sendmail(path.to_string()))
        } else if let Some(addr) = spec.strip_prefix("smtp:") {
            Ok(Transport::Smtp(addr.to_string()))
        } else {
            bail!("[dmarc_reports] send_via must be sendmail:/path or smtp:HOST:PORT, not {spec:?}")
        }
    }

    /// Hands `message` to the MTA; `Ok` only once the MTA has accepted it.
    pub fn send(&self, from: &str, to: &str, message: &[u8]) -> Result<()> {
        match self {
            Transport::Sendmail(path) => sendmail(path, from, to, message),
            Transport::Smtp(addr) => smtp(addr, from, to, message),
        }
    }
}

fn sendmail(path: &str, from: &str, to: &str, message: &[u8]) -> Result<()> {
    let mut child = Command::new(path)
        .args(["-i", "-f", from, "--", to])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {path}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(message)
            .with_context(|| format!("cannot write to {path}"))?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{path} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn smtp(addr: &str, from: &str, to: &str, message: &[u8]) -> Result<()> {
    let stream = TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.set_write_timeout(Some(Duration::from_secs(120)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut w = stream;
    expect(&mut reader, 220)?;
    let host = crate::auth::host_name();
    for (cmd, code) in [
        (format!("EHLO {host}\r\n"), 250),
        (format!("MAIL FROM:<{from}>\r\n"), 250),
        (format!("RCPT TO:<{to}>\r\n"), 250),
        ("DATA\r\n".to_string(), 354),
    ] {
        w.write_all(cmd.as_bytes())?;
        expect(&mut reader, code).with_context(|| format!("{addr}: {}", cmd.trim_end()))?;
    }
    w.write_all(&dot_stuff(message))?;
    w.write_all(b".\r\n")?;
    expect(&mut reader, 250).with_context(|| format!("{addr}: end of DATA"))?;
    let _ = w.write_all(b"QUIT\r\n");
    Ok(())
}

/// Reads a (multi-line) reply and checks its code.
fn expect(reader: &mut impl BufRead, code: u16) -> Result<()> {
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            bail!("connection closed");
        }
        let got: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        if got != code {
            bail!("unexpected reply: {}", line.trim_end());
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}

/// CRLF line ends and a leading dot doubled (RFC 5321 §4.5.2).
fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    for line in message.split_inclusive(|&b| b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if body.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_stuffs() {
        assert_eq!(
            Transport::parse("smtp:127.0.0.1:25").unwrap(),
            Transport::Smtp("127.0.0.1:25".into())
        );
        assert!(Transport::parse("lmtp:x").is_err());
        assert_eq!(dot_stuff(b"a\n.b\r\nc"), b"a\r\n..b\r\nc\r\n");
    }
}
