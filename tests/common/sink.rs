//! A loopback SMTP server that stores every message Postfix relays to it.
//!
//! Deliberately minimal (no PIPELINING, no extensions Postfix must use): it only has
//! to accept what Postfix's smtp client sends and keep the raw message.

use super::wait_for;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One message as the sink received it.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub mail_from: String,
    pub rcpts: Vec<String>,
    /// The message exactly as sent after DATA, dot-unstuffed, CRLF line ends.
    pub data: Vec<u8>,
}

impl Delivered {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

pub struct Sink {
    port: u16,
    messages: Arc<Mutex<Vec<Delivered>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The name the sink greets with: it must differ from Postfix's myhostname, or
/// Postfix's smtp client reports "mail loops back to myself".
const SINK_NAME: &str = "sink.sge-test.invalid";

impl Sink {
    pub fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
        listener.set_nonblocking(true).expect("nonblocking sink");
        let port = listener.local_addr().expect("sink addr").port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let messages = Arc::clone(&messages);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || accept_loop(listener, messages, stop))
        };
        Sink {
            port,
            messages,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Messages received so far.
    pub fn messages(&self) -> Vec<Delivered> {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until at least `n` messages arrived and returns them all; panics with
    /// what did arrive after `timeout`.
    pub fn wait_messages(&self, n: usize, timeout: Duration) -> Vec<Delivered> {
        wait_for(timeout, || {
            let m = self.messages();
            (m.len() >= n).then_some(m)
        })
        .unwrap_or_else(|| {
            panic!(
                "expected {n} delivered message(s) within {timeout:?}, got {}",
                self.messages().len()
            )
        })
    }

    /// Like [`Self::wait_messages`], the raw messages only.
    pub fn wait_raw(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        self.wait_messages(n, timeout)
            .into_iter()
            .map(|m| m.data)
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, messages: Arc<Mutex<Vec<Delivered>>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let messages = Arc::clone(&messages);
                // Session threads end when Postfix closes the connection or on the
                // read timeout; they are not joined.
                std::thread::spawn(move || {
                    let _ = session(stream, &messages);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn session(stream: TcpStream, messages: &Mutex<Vec<Delivered>>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    write!(out, "220 {SINK_NAME} ESMTP test sink\r\n")?;
    let mut mail_from = String::new();
    let mut rcpts = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let cmd = text.trim_end();
        let verb = cmd
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => write!(out, "250-{SINK_NAME}\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")?,
            "HELO" => write!(out, "250 {SINK_NAME}\r\n")?,
            "MAIL" => {
                mail_from = angle_arg(cmd);
                rcpts.clear();
                write!(out, "250 2.1.0 Ok\r\n")?;
            }
            "RCPT" => {
                rcpts.push(angle_arg(cmd));
                write!(out, "250 2.1.5 Ok\r\n")?;
            }
            "DATA" => {
                write!(out, "354 End data with <CR><LF>.<CR><LF>\r\n")?;
                let data = read_data(&mut reader)?;
                messages
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Delivered {
                        mail_from: std::mem::take(&mut mail_from),
                        rcpts: std::mem::take(&mut rcpts),
                        data,
                    });
                write!(out, "250 2.0.0 Ok: stored\r\n")?;
            }
            "RSET" => {
                mail_from.clear();
                rcpts.clear();
                write!(out, "250 2.0.0 Ok\r\n")?;
            }
            "NOOP" => write!(out, "250 2.0.0 Ok\r\n")?,
            "QUIT" => {
                write!(out, "221 2.0.0 Bye\r\n")?;
                return Ok(());
            }
            _ => write!(out, "502 5.5.2 Command not recognized\r\n")?,
        }
        out.flush()?;
    }
}

/// `MAIL FROM:<a@b> SIZE=1` -> `a@b`.
fn angle_arg(cmd: &str) -> String {
    match (cmd.find('<'), cmd.find('>')) {
        (Some(a), Some(b)) if a < b => cmd[a + 1..b].to_string(),
        _ => cmd
            .split_once(':')
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default(),
    }
}

fn read_data(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(data);
        }
        let unstuffed = if line.starts_with(b"..") {
            &line[1..]
        } else {
            &line[..]
        };
        data.extend_from_slice(unstuffed);
    }
}
