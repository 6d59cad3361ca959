//! `[limits] max_in_flight_bytes` through the milter protocol: while messages in
//! flight hold the budget, a message that would overflow it and new messages get
//! 451 4.3.1, each refusal counted in `sgemilter_in_flight_refusals_total{stage}`;
//! once they end, mail flows again. Also: a large message (finished on the blocking
//! pool) gets the same verdict as a small one.

mod common;

use indymilter_test::{Status, TestConnection};
use sge_milter::milter::Shared;
use std::net::SocketAddr;
use std::sync::Arc;

async fn start(dir: &tempfile::TempDir, budget: &str) -> (SocketAddr, Arc<Shared>) {
    let toml = format!(
        "[limits]\nmax_in_flight_bytes = \"{budget}\"\n[auth]\nenabled = false\n\
         [policy]\nmarking_enforcement = \"off\"\n"
    );
    let (addr, shared, _) =
        common::inprocess::serve(dir.path(), &toml, std::future::pending()).await;
    (addr, shared)
}

/// Connected, greeted, and through DATA and the headers of one message.
async fn begin(addr: SocketAddr) -> (TestConnection, Status) {
    let mut conn = TestConnection::open(addr).await.unwrap();
    conn.connect("client.example", ([203, 0, 113, 5], 40000))
        .await
        .unwrap();
    conn.helo("client.example").await.unwrap();
    let status = conn.mail(["<alice@sender.example>"]).await.unwrap();
    if status != Status::Continue {
        return (conn, status);
    }
    conn.rcpt(["<bob@rcpt.example>"]).await.unwrap();
    conn.data().await.unwrap();
    conn.header("From", " alice@sender.example").await.unwrap();
    conn.header("Subject", " hello").await.unwrap();
    let status = conn.eoh().await.unwrap();
    (conn, status)
}

fn tempfail_text(status: &Status) -> String {
    match status {
        Status::Tempfail { message: Some(m) } => m.to_string_lossy().into_owned(),
        other => panic!("expected 451 4.3.1, got {other:?}"),
    }
}

/// `sgemilter_in_flight_refusals_total{stage}` as `/metrics` would show it. The
/// metrics are process-wide; the other test here never fills its budget.
fn refusals(stage: &str) -> u64 {
    let text = String::from_utf8(sge_milter::metrics::global().render()).unwrap();
    let series = format!("sgemilter_in_flight_refusals_total{{stage=\"{stage}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .parse()
        .unwrap()
}

fn body(n: usize) -> Vec<u8> {
    b"budget test line of text\r\n"
        .iter()
        .copied()
        .cycle()
        .take(n)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_budget_tempfails_and_frees_when_messages_end() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, shared) = start(&dir, "16K").await;
    let (mail_before, data_before) = (refusals("mail"), refusals("data"));

    // The first message holds 12 KB of the 16 KB budget.
    let (mut first, status) = begin(addr).await;
    assert_eq!(status, Status::Continue);
    assert_eq!(first.body(body(12_000)).await.unwrap(), Status::Continue);

    // A second one fits its headers, but not 8 KB of body: 451 4.3.1.
    let (mut second, status) = begin(addr).await;
    assert_eq!(status, Status::Continue);
    let text = tempfail_text(&second.body(body(8_000)).await.unwrap());
    assert!(
        text.starts_with("451 4.3.1 [sge:limit.in_flight]"),
        "{text}"
    );
    assert_eq!(refusals("data"), data_before + 1);
    assert_eq!(refusals("mail"), mail_before);

    // Filled to the brim, new messages are refused at MAIL FROM.
    let held = shared.budget.used() as usize;
    assert!((12_000..12_200).contains(&held), "{held}");
    let rest = 16 * 1024 - held;
    assert_eq!(first.body(body(rest)).await.unwrap(), Status::Continue);
    let (_third, status) = begin(addr).await;
    assert!(
        tempfail_text(&status).starts_with("451 4.3.1"),
        "{status:?}"
    );
    assert_eq!(refusals("mail"), mail_before + 1);

    // The first one ends normally and gives its bytes back.
    let (_, status) = first.eom().await.unwrap();
    assert_eq!(status, Status::Continue);
    let (mut fourth, status) = begin(addr).await;
    assert_eq!(status, Status::Continue);
    assert_eq!(fourth.body(body(8_000)).await.unwrap(), Status::Continue);
    assert_eq!(fourth.eom().await.unwrap().1, Status::Continue);
    assert_eq!(shared.budget.used(), 0, "every message gave its bytes back");
    assert_eq!(
        (refusals("mail"), refusals("data")),
        (mail_before + 1, data_before + 1),
        "accepted messages are not counted"
    );
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_message_finishes_off_the_runtime_with_the_same_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _) = start(&dir, "64M").await;
    let (mut conn, status) = begin(addr).await;
    assert_eq!(status, Status::Continue);
    let mut big = body(3 * 1024 * 1024);
    big.extend_from_slice(b"SGE-MILTER-TEST-REJECT-4F1C9\r\n");
    for chunk in big.chunks(65535) {
        assert_eq!(conn.body(chunk.to_vec()).await.unwrap(), Status::Continue);
    }
    let (_, status) = conn.eom().await.unwrap();
    assert!(matches!(status, Status::Reject { .. }), "{status:?}");
}
