//! The milter driven in-process over TCP by an MTA-side client (indymilter-test),
//! asserting on replies and header actions.

mod common;

use indymilter_test::{Actions, MacroStage, ProtoOpts, Status, TestConnection, any};
use sge_milter::milter::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const RULES: &str = r#"
[[rule]]
id = "kw.reject"
patterns = ["forbidden phrase"]
action = "reject"
reason = "message contains a blocked term"

[[rule]]
id = "kw.tag"
patterns = ["taggable"]
action = "tag"

[[rule]]
id = "kw.quarantine"
patterns = ["hold me"]
action = "quarantine"

[[rule]]
id = "kw.inbound_only"
patterns = ["inbound-only-term"]
direction = "inbound"
action = "reject"
"#;

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    shared: Arc<Shared>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rules")).unwrap();
        std::fs::write(dir.path().join("rules/keywords.toml"), RULES).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        // Keyword rules alone: markings and authentication have their own tests.
        let toml = "[milter]\nshutdown_grace = \"5s\"\n[direction]\ntrusted_networks = [\"10.0.0.0/8\"]\n[rules]\ndir = \"rules\"\n[auth]\nenabled = false\n[policy]\nmarking_enforcement = \"off\"\n";
        let (addr, shared, task) = common::inprocess::serve(dir.path(), toml, async move {
            let _ = stopped.await;
        })
        .await;
        Server {
            addr,
            stop: Some(stop),
            task,
            shared,
            _dir: dir,
        }
    }

    async fn shutdown(mut self) -> std::io::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("server stops within the grace period")
            .unwrap()
    }
}

async fn open(server: &Server, client_ip: [u8; 4]) -> TestConnection {
    let mut conn = TestConnection::open(server.addr).await.unwrap();
    let status = conn
        .connect("client.example", (client_ip, 40000))
        .await
        .unwrap();
    assert_eq!(status, Status::Continue);
    assert_eq!(conn.helo("client.example").await.unwrap(), Status::Noreply);
    conn
}

async fn envelope(conn: &mut TestConnection, queue_id: &str) {
    conn.macros(MacroStage::Mail, [("i", queue_id)])
        .await
        .unwrap();
    assert_eq!(
        conn.mail(["<alice@sender.example>"]).await.unwrap(),
        Status::Continue
    );
    // RCPT and DATA are negotiated as no-reply stages (milter::no_reply).
    assert_eq!(
        conn.rcpt(["<bob@rcpt.example>"]).await.unwrap(),
        Status::Noreply
    );
    assert_eq!(conn.data().await.unwrap(), Status::Noreply);
}

async fn message(
    conn: &mut TestConnection,
    body_chunks: &[&str],
) -> (indymilter_test::EomActions, Status) {
    envelope(conn, "ABC123").await;
    conn.header("From", "alice@sender.example").await.unwrap();
    conn.header("Subject", "hello").await.unwrap();
    assert_eq!(conn.eoh().await.unwrap(), Status::Continue);
    for c in body_chunks {
        assert_eq!(
            conn.body(c.as_bytes().to_vec()).await.unwrap(),
            Status::Continue
        );
    }
    conn.eom().await.unwrap()
}

fn reply_text(status: &Status) -> String {
    match status {
        Status::Reject { message: Some(m) } | Status::Tempfail { message: Some(m) } => {
            m.to_string_lossy().into_owned()
        }
        other => panic!("expected a reply with text, got {other:?}"),
    }
}

#[tokio::test]
async fn clean_message_is_accepted_without_changes() {
    let server = Server::start().await;
    let mut conn = open(&server, [203, 0, 113, 5]).await;
    let (actions, status) = message(&mut conn, &["Hello there.\r\n"]).await;
    assert_eq!(status, Status::Continue);
    assert!(!actions.has_add_header(any(), any()));
    assert!(!actions.has_quarantine(any()));
    conn.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn reject_rule_names_rule_and_reason_even_split_across_chunks() {
    let server = Server::start().await;
    let mut conn = open(&server, [203, 0, 113, 5]).await;
    let (_, status) = message(
        &mut conn,
        &["this has a forbid", "den phr", "ase in it\r\n"],
    )
    .await;
    assert_eq!(
        reply_text(&status),
        "550 5.7.1 [sge:kw.reject] message contains a blocked term"
    );
    conn.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn tag_adds_findings_header_and_quarantine_holds() {
    let server = Server::start().await;
    let mut conn = open(&server, [203, 0, 113, 5]).await;
    let (actions, status) = message(&mut conn, &["a taggable line\r\n"]).await;
    assert_eq!(status, Status::Continue);
    assert!(actions.has_add_header("X-SGE-Findings", " kw.tag"));

    // Same connection, next message: state must not leak from the first one.
    let (actions, status) = message(&mut conn, &["please hold me\r\n"]).await;
    assert_eq!(status, Status::Continue);
    assert!(actions.has_quarantine(any()));
    assert!(actions.has_add_header("X-SGE-Findings", " kw.quarantine"));
    assert!(!actions.has_add_header("X-SGE-Findings", " kw.tag"));
    conn.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn abort_and_new_mail_from_reset_message_state() {
    let server = Server::start().await;
    let mut conn = open(&server, [203, 0, 113, 5]).await;
    envelope(&mut conn, "Q1").await;
    conn.header("Subject", "forbidden phrase").await.unwrap();
    conn.abort().await.unwrap();
    let (actions, status) = message(&mut conn, &["clean\r\n"]).await;
    assert_eq!(status, Status::Continue);
    assert!(!actions.has_add_header(any(), any()));

    // A new MAIL FROM without abort also starts over.
    envelope(&mut conn, "Q2").await;
    conn.header("Subject", "forbidden phrase").await.unwrap();
    let (actions, status) = message(&mut conn, &["clean\r\n"]).await;
    assert_eq!(status, Status::Continue);
    assert!(!actions.has_add_header(any(), any()));
    conn.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn direction_decides_which_rules_apply() {
    let server = Server::start().await;
    // Inbound (untrusted client): the inbound-only rule applies.
    let mut conn = open(&server, [203, 0, 113, 5]).await;
    let (_, status) = message(&mut conn, &["inbound-only-term\r\n"]).await;
    assert!(reply_text(&status).contains("[sge:kw.inbound_only]"));
    conn.close().await.unwrap();
    // Outbound (trusted network): it does not.
    let mut conn = open(&server, [10, 1, 2, 3]).await;
    let (_, status) = message(&mut conn, &["inbound-only-term\r\n"]).await;
    assert_eq!(status, Status::Continue);
    conn.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn negotiation_requires_header_and_quarantine_actions() {
    let server = Server::start().await;
    let result = TestConnection::configure()
        .available_actions(Actions::ADD_HEADER | Actions::CHANGE_HEADER)
        .open_tcp(server.addr)
        .await;
    assert!(
        result.is_err(),
        "a milter that cannot quarantine must refuse the MTA"
    );
    let conn = TestConnection::configure()
        .available_actions(Actions::all())
        .available_opts(ProtoOpts::all())
        .open_tcp(server.addr)
        .await
        .unwrap();
    assert!(
        conn.negotiated_actions()
            .contains(Actions::QUARANTINE | Actions::ADD_HEADER)
    );
    assert!(conn.negotiated_opts().contains(ProtoOpts::LEADING_SPACE));
    conn.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_lets_message_in_flight_finish() {
    let server = Server::start().await;
    let mut conn = open(&server, [203, 0, 113, 5]).await;
    envelope(&mut conn, "Q3").await;
    conn.header("Subject", "hi").await.unwrap();
    assert_eq!(
        server
            .shared
            .in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let addr = server.addr;
    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // No new connections once shutdown began.
    assert!(TestConnection::open(addr).await.is_err());
    // The message in flight still gets its decision.
    conn.eoh().await.unwrap();
    conn.body(b"forbidden phrase\r\n".to_vec()).await.unwrap();
    let (_, status) = conn.eom().await.unwrap();
    assert!(reply_text(&status).contains("[sge:kw.reject]"));
    let _ = conn.close().await;
    shutdown.await.unwrap().unwrap();
}

/// A multipart body whose attachment is `text` gzipped and base64-encoded.
fn gzip_attachment_body(text: &str) -> String {
    use base64::Engine as _;
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    let mut body = String::from(
        "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n\
         Content-Type: application/gzip; name=\"notes.txt.gz\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n",
    );
    for line in b64.as_bytes().chunks(76) {
        body.push_str(std::str::from_utf8(line).unwrap());
        body.push_str("\r\n");
    }
    body.push_str("--b--\r\n");
    body
}

/// Sends a multipart message in 64 KiB chunks (as Postfix does); returns the
/// end-of-message status.
async fn multipart_message(conn: &mut TestConnection, body: &str) -> Status {
    envelope(conn, "ABC124").await;
    conn.header("From", "alice@sender.example").await.unwrap();
    conn.header("MIME-Version", "1.0").await.unwrap();
    conn.header("Content-Type", "multipart/mixed; boundary=\"b\"")
        .await
        .unwrap();
    assert_eq!(conn.eoh().await.unwrap(), Status::Continue);
    for c in body.as_bytes().chunks(65535) {
        assert_eq!(conn.body(c.to_vec()).await.unwrap(), Status::Continue);
    }
    conn.eom().await.unwrap().1
}

/// Attached archives are opened at the end of the message, off the async workers
/// (small and large messages alike); their text still decides the verdict, and
/// the connection carries on with the next message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_archives_opened_at_end_of_message_still_decide() {
    let server = Server::start().await;
    let mut conn = open(&server, [203, 0, 113, 5]).await;
    let small = gzip_attachment_body("minutes: a forbidden phrase here\r\n");
    let status = multipart_message(&mut conn, &small).await;
    assert_eq!(
        reply_text(&status),
        "550 5.7.1 [sge:kw.reject] message contains a blocked term"
    );
    conn.abort().await.unwrap();
    // About 3 MB of text before the phrase: a large message, many chunks.
    let filler = "quarterly budget review of the regional council 0123456789\r\n".repeat(50_000);
    let large = gzip_attachment_body(&format!("{filler}a forbidden phrase at the end\r\n"));
    let status = multipart_message(&mut conn, &format!("{large}\r\n{filler}")).await;
    assert_eq!(
        reply_text(&status),
        "550 5.7.1 [sge:kw.reject] message contains a blocked term"
    );
    conn.abort().await.unwrap();
    let clean = gzip_attachment_body(&filler);
    assert_eq!(multipart_message(&mut conn, &clean).await, Status::Continue);
    conn.close().await.unwrap();
    server.shutdown().await.unwrap();
}

/// A large message without attachments finishes off the async workers too: the
/// verdict is the same as for a small one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_message_gets_the_same_verdict() {
    let server = Server::start().await;
    let mut conn = open(&server, [203, 0, 113, 5]).await;
    let filler = "quarterly budget review of the regional council 0123456789\r\n".repeat(40_000);
    let mut chunks: Vec<&str> = filler
        .as_bytes()
        .chunks(65535)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    chunks.push("and a forbidden phrase\r\n");
    let (_, status) = message(&mut conn, &chunks).await;
    assert_eq!(
        reply_text(&status),
        "550 5.7.1 [sge:kw.reject] message contains a blocked term"
    );
    conn.close().await.unwrap();
    server.shutdown().await.unwrap();
}
