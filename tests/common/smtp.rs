//! A small SMTP client: enough to submit one message and report the server's
//! final reply, so tests can see exactly what a sending client sees.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How an SMTP transaction ended.
#[derive(Clone, Debug)]
pub struct SmtpOutcome {
    /// True when the server took the message (2xx after the final ".").
    pub accepted: bool,
    /// The last reply, all lines joined with "\n" (e.g. "550 5.7.1 [sge:...] ...").
    /// When a command before DATA is refused, that refusal.
    pub reply: String,
    /// Three-digit code of `reply`.
    pub code: u16,
}

/// One SMTP reply: its code and all lines joined with "\n".
pub struct Reply {
    pub code: u16,
    pub text: String,
}

/// Reads one (possibly multi-line) SMTP reply.
pub fn read_reply(reader: &mut impl BufRead) -> std::io::Result<Reply> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("connection closed; reply so far: {lines:?}"),
            ));
        }
        let line = line.trim_end().to_string();
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line);
        if last {
            break;
        }
    }
    let code = lines[lines.len() - 1]
        .get(..3)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok(Reply {
        code,
        text: lines.join("\n"),
    })
}

/// Sends `raw` (LF or CRLF line ends) from `from` to `rcpts` through the SMTP
/// server on 127.0.0.1:`port`.
pub fn send(port: u16, from: &str, rcpts: &[&str], raw: &[u8]) -> SmtpOutcome {
    try_send(port, from, rcpts, raw)
        .unwrap_or_else(|e| panic!("SMTP conversation with 127.0.0.1:{port} failed: {e}"))
}

fn try_send(port: u16, from: &str, rcpts: &[&str], raw: &[u8]) -> std::io::Result<SmtpOutcome> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    // Only a safety net against a hung server; Postfix's own milter timeouts are lower.
    stream.set_read_timeout(Some(Duration::from_secs(300)))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let refused = |r: Reply| SmtpOutcome {
        accepted: false,
        reply: r.text,
        code: r.code,
    };

    let banner = read_reply(&mut reader)?;
    if banner.code != 220 {
        return Ok(refused(banner));
    }
    let mut commands = vec![
        "EHLO client.sge-test.invalid".to_string(),
        format!("MAIL FROM:<{from}>"),
    ];
    commands.extend(rcpts.iter().map(|r| format!("RCPT TO:<{r}>")));
    for cmd in commands {
        write!(out, "{cmd}\r\n")?;
        out.flush()?;
        let r = read_reply(&mut reader)?;
        if r.code / 100 != 2 {
            let _ = write!(out, "QUIT\r\n");
            return Ok(refused(r));
        }
    }
    write!(out, "DATA\r\n")?;
    out.flush()?;
    let r = read_reply(&mut reader)?;
    if r.code != 354 {
        let _ = write!(out, "QUIT\r\n");
        return Ok(refused(r));
    }
    out.write_all(&dot_stuff(raw))?;
    out.write_all(b".\r\n")?;
    out.flush()?;
    let r = read_reply(&mut reader)?;
    let _ = write!(out, "QUIT\r\n");
    let _ = out.flush();
    Ok(SmtpOutcome {
        accepted: r.code / 100 == 2,
        reply: r.text,
        code: r.code,
    })
}

/// CRLF line ends, leading dots doubled, a final CRLF guaranteed.
pub fn dot_stuff(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32 + 2);
    let mut at_line_start = true;
    let mut prev = 0u8;
    for &b in raw {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        at_line_start = b == b'\n';
        prev = b;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}
