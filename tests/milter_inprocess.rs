//! The milter driven in-process over TCP by an MTA-side client (indymilter-test),
//! asserting on replies and header actions.

use indymilter_test::{Actions, MacroStage, ProtoOpts, Status, TestConnection, any};
use sge_milter::config;
use sge_milter::milter::{self, ListenAddr, Shared};
use sge_milter::pipeline::Engine;
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
        let cfg_path = dir.path().join("sge-milter.toml");
        std::fs::write(
            &cfg_path,
            // Keyword rules alone: markings and authentication have their own tests.
            "[milter]\nshutdown_grace = \"5s\"\n[direction]\ntrusted_networks = [\"10.0.0.0/8\"]\n[rules]\ndir = \"rules\"\n[auth]\nenabled = false\n[policy]\nmarking_enforcement = \"off\"\n",
        )
        .unwrap();
        let engine = Engine::compile(config::load(Some(&cfg_path)).unwrap()).unwrap();
        let listener = milter::bind(&ListenAddr::Inet("127.0.0.1:0".into()), None)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Shared::new(engine);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(milter::serve(listener, Arc::clone(&shared), async move {
            let _ = stopped.await;
        }));
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
