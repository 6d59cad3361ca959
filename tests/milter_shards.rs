//! Milter connections are served on shard threads (`milter::shards`): one per CPU,
//! every connection answered whichever shard takes it, and at shutdown the threads
//! end and the listening socket (duplicated into each shard) closes.

mod common;

use indymilter_test::{Status, TestConnection};
use std::time::Duration;
use tokio::sync::oneshot;

/// Threads of this process named as shards are.
fn shard_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("milter-shard-"))
        .count()
}

/// One message on a fresh connection; returns the end-of-message status.
async fn one_message(addr: std::net::SocketAddr, n: usize) -> Status {
    let mut conn = TestConnection::open(addr).await.expect("connection");
    conn.connect("client.example", ([203, 0, 113, 9], 40000))
        .await
        .expect("connect");
    conn.helo("client.example").await.expect("helo");
    conn.mail(["<alice@sender.example>"]).await.expect("mail");
    conn.rcpt(["<bob@rcpt.example>"]).await.expect("rcpt");
    conn.data().await.expect("data");
    conn.header("From", "alice@sender.example").await.unwrap();
    conn.header("Subject", format!("message {n}"))
        .await
        .unwrap();
    conn.eoh().await.expect("eoh");
    conn.body(b"hello\r\n".to_vec()).await.expect("body");
    let (_, status) = conn.eom().await.expect("eom");
    let _ = conn.close().await;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cpu_gets_a_shard_and_shutdown_ends_them() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    let dir = tempfile::tempdir().unwrap();
    let toml = "[auth]\nenabled = false\n[policy]\nmarking_enforcement = \"off\"\n";
    let (stop, stopped) = oneshot::channel::<()>();
    let (addr, _shared, task) = common::inprocess::serve(dir.path(), toml, async move {
        let _ = stopped.await;
    })
    .await;
    // The server task starts the shards once it runs.
    while shard_threads() < cpus {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(shard_threads(), cpus, "one shard thread per CPU");

    // More connections at once than shards: every message is answered.
    let messages: Vec<_> = (0..4 * cpus)
        .map(|n| tokio::spawn(one_message(addr, n)))
        .collect();
    for message in messages {
        assert_eq!(message.await.unwrap(), Status::Continue);
    }

    let _ = stop.send(());
    task.await.unwrap().expect("the server stops cleanly");
    // A shard reports its end just before its thread exits.
    while shard_threads() != 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no shard keeps the listening socket open"
    );
}
