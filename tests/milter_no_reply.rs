//! The stages the MTA does not wait on (`SMFIP_NR_HELO`, `_RCPT`, `_DATA`, `_HDR`),
//! through the milter protocol: sge-milter asks for them when the MTA offers them,
//! sends no reply there, and a verdict reached at one of them (here the in-flight
//! budget overflowing on a header) reaches the MTA at end of headers, with its
//! reply text. An MTA that does not offer them gets a reply to every command.

mod common;

use indymilter_test::{ProtoOpts, Status, TestConnection};
use std::net::SocketAddr;

async fn start(dir: &tempfile::TempDir) -> SocketAddr {
    let toml = "[limits]\nmax_in_flight_bytes = \"4K\"\n[auth]\nenabled = false\n";
    common::inprocess::serve(dir.path(), toml, std::future::pending())
        .await
        .0
}

/// Connect and HELO; the status of HELO.
async fn greet(conn: &mut TestConnection) -> Status {
    conn.connect("client.example", ([203, 0, 113, 5], 40000))
        .await
        .unwrap();
    conn.helo("client.example").await.unwrap()
}

/// The statuses of MAIL, RCPT, DATA, each header and end of headers.
async fn through_headers(conn: &mut TestConnection, headers: &[(&str, &str)]) -> Vec<Status> {
    let mut seen = Vec::new();
    seen.push(conn.mail(["<alice@sender.example>"]).await.unwrap());
    seen.push(conn.rcpt(["<bob@rcpt.example>"]).await.unwrap());
    seen.push(conn.data().await.unwrap());
    for (name, value) in headers {
        seen.push(conn.header(*name, *value).await.unwrap());
    }
    seen.push(conn.eoh().await.unwrap());
    seen
}

#[tokio::test]
async fn headers_get_no_reply_and_a_header_verdict_comes_at_end_of_headers() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start(&dir).await;

    let mut conn = TestConnection::open(addr).await.unwrap();
    let negotiated = conn.negotiated_opts();
    for stage in [
        ProtoOpts::NOREPLY_HELO,
        ProtoOpts::NOREPLY_RCPT,
        ProtoOpts::NOREPLY_DATA,
        ProtoOpts::NOREPLY_HEADER,
    ] {
        assert!(
            negotiated.contains(stage),
            "{stage:?} not in {negotiated:?}"
        );
    }
    for replied in [
        ProtoOpts::NOREPLY_CONNECT,
        ProtoOpts::NOREPLY_MAIL,
        ProtoOpts::NOREPLY_EOH,
        ProtoOpts::NOREPLY_BODY,
    ] {
        assert!(
            !negotiated.contains(replied),
            "{replied:?} in {negotiated:?}"
        );
    }

    // A message that fits: no reply until end of headers, then on to the body.
    use Status::{Continue, Noreply};
    assert_eq!(greet(&mut conn).await, Noreply);
    let seen = through_headers(
        &mut conn,
        &[("From", " alice@sender.example"), ("Subject", " hello")],
    )
    .await;
    assert_eq!(
        seen,
        [Continue, Noreply, Noreply, Noreply, Noreply, Continue]
    );
    assert_eq!(conn.body(b"hi\r\n".as_slice()).await.unwrap(), Continue);
    assert_eq!(conn.eom().await.unwrap().1, Continue);

    // A header that overflows the 4 KB budget: still no reply to it, and the
    // tempfail, with its text, at end of headers.
    let big = format!(" {}", "x".repeat(6000));
    let mut conn = TestConnection::open(addr).await.unwrap();
    let seen = through_headers(
        &mut conn,
        &[
            ("From", " alice@sender.example"),
            ("X-Big", &big),
            ("Subject", " hi"),
        ],
    )
    .await;
    assert!(
        seen[..seen.len() - 1]
            .iter()
            .all(|s| matches!(s, Noreply | Continue)),
        "{seen:?}"
    );
    match seen.last().unwrap() {
        Status::Tempfail { message: Some(m) } => {
            let text = m.to_string_lossy();
            assert!(
                text.starts_with("451 4.3.1 [sge:limit.in_flight]"),
                "{text}"
            );
        }
        other => panic!("expected 451 4.3.1 at end of headers, got {other:?}"),
    }

    // The connection goes on: the next message is judged afresh.
    let seen = through_headers(&mut conn, &[("Subject", " again")]).await;
    assert_eq!(seen.last(), Some(&Continue));
}

#[tokio::test]
async fn an_mta_without_no_reply_options_gets_every_reply() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start(&dir).await;
    let offered = ProtoOpts::LEADING_SPACE;
    let mut conn = TestConnection::configure()
        .available_opts(offered)
        .open_tcp(addr)
        .await
        .unwrap();
    assert!(!conn.negotiated_opts().intersects(ProtoOpts::NOREPLY_HEADER));
    assert_eq!(greet(&mut conn).await, Status::Continue);
    let seen = through_headers(&mut conn, &[("Subject", " hello")]).await;
    assert!(seen.iter().all(|s| *s == Status::Continue), "{seen:?}");
}
