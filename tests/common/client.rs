//! One milter conversation from Rust (MTA side by the `indymilter-test` crate),
//! for tests that need a decision from a running `sge-milter` without Postfix.

use indymilter_test::{EomAction, Status, TestConnection};
use std::time::Duration;

/// What the milter decided for one message.
#[derive(Debug)]
pub struct MilterVerdict {
    /// The last status: at end of headers when it decided there, else at EOM.
    pub status: Status,
    pub eom_actions: Vec<EomAction>,
}

impl MilterVerdict {
    pub fn is_reject(&self) -> bool {
        matches!(self.status, Status::Reject { .. })
    }

    /// The reply text of a reject or tempfail, e.g. "550 5.7.1 [sge:...] ...".
    pub fn reply(&self) -> Option<String> {
        match &self.status {
            Status::Reject { message: Some(m) } | Status::Tempfail { message: Some(m) } => {
                Some(m.to_string_lossy().into_owned())
            }
            _ => None,
        }
    }
}

/// Where the milter listens: "inet:127.0.0.1:PORT" or "unix:PATH".
pub fn send_message(listen: &str, headers: &[(&str, &str)], body: &[u8]) -> MilterVerdict {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime
        .block_on(conversation(listen, headers, body))
        .unwrap_or_else(|e| panic!("milter conversation with {listen} failed: {e:?}"))
}

async fn conversation(
    listen: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<MilterVerdict, indymilter_test::TestError> {
    let builder = TestConnection::configure()
        .read_timeout(Duration::from_secs(60))
        .write_timeout(Duration::from_secs(60));
    let mut conn = match listen.strip_prefix("unix:") {
        Some(path) => builder.open_unix(path).await?,
        None => {
            let addr = listen.strip_prefix("inet:").unwrap_or(listen).to_string();
            builder.open_tcp(addr).await?
        }
    };
    let early = |status: Status| MilterVerdict {
        status,
        eom_actions: Vec::new(),
    };
    conn.connect("client.sge-test.invalid", ([127, 0, 0, 1], 40000))
        .await?;
    conn.helo("client.sge-test.invalid").await?;
    conn.mail(["<alice@sender.example>"]).await?;
    conn.rcpt(["<bob@recipient.example>"]).await?;
    conn.data().await?;
    for (name, value) in headers {
        let status = conn.header(*name, *value).await?;
        if !matches!(status, Status::Continue | Status::Noreply) {
            return Ok(early(status));
        }
    }
    let status = conn.eoh().await?;
    if !matches!(status, Status::Continue | Status::Noreply) {
        return Ok(early(status));
    }
    for chunk in body.chunks(65535) {
        let status = conn.body(bytes::Bytes::copy_from_slice(chunk)).await?;
        if !matches!(status, Status::Continue | Status::Noreply) {
            return Ok(early(status));
        }
    }
    let (actions, status) = conn.eom().await?;
    let _ = conn.close().await;
    Ok(MilterVerdict {
        status,
        eom_actions: actions.actions,
    })
}

/// A minimal text message containing `body_text`.
pub fn simple(body_text: &str) -> (Vec<(&'static str, &'static str)>, Vec<u8>) {
    (
        vec![
            ("From", "alice@sender.example"),
            ("To", "bob@recipient.example"),
            ("Subject", "test [UNCLASSIFIED]"),
        ],
        format!("{body_text}\r\n").into_bytes(),
    )
}
