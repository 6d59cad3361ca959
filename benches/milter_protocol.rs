//! Messages per second through the milter protocol: the milter served in-process,
//! driven by an MTA-side client (indymilter-test), one message per iteration on a
//! reused connection, as Postfix does. The client claims a loopback address, so the
//! message is outbound (no DNS involved), and it is marked, so it passes the markings
//! policy and the whole pipeline runs.
//!
//! Two transports: a unix socket (the fastest wiring) and loopback TCP. Over TCP the
//! test client does not set TCP_NODELAY and writes a 12 KB body in two pieces, so its
//! second piece waits for our delayed ACK: the TCP figure shows that client-side stall
//! (~40 ms), not the milter.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use indymilter_test::TestConnection;
use sge_milter::milter::{self, ListenAddr, Shared};
use sge_milter::pipeline::Engine;

fn typical_body() -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..200 {
        body.extend_from_slice(
            format!("Line {i} of a typical message body about quarterly planning.\r\n").as_bytes(),
        );
    }
    body
}

async fn serve(addr: ListenAddr) -> Option<std::net::SocketAddr> {
    let engine = Engine::embedded().expect("embedded config compiles");
    let listener = milter::bind(&addr, None).await.expect("bind");
    let local = listener.local_addr();
    tokio::spawn(milter::serve(
        listener,
        Shared::new(engine),
        std::future::pending(),
    ));
    local
}

async fn one_message(conn: &mut TestConnection, body: &[u8]) {
    conn.mail(["<alice@sender.example>"]).await.expect("mail");
    conn.rcpt(["<bob@rcpt.example>"]).await.expect("rcpt");
    conn.data().await.expect("data");
    conn.header("From", "alice@sender.example")
        .await
        .expect("header");
    conn.header("Subject", "Planning [UNCLASSIFIED]")
        .await
        .expect("header");
    conn.eoh().await.expect("eoh");
    conn.body(body.to_vec()).await.expect("body");
    // The verdict depends on the embedded policy; the full pipeline runs either way.
    let (_, status) = conn.eom().await.expect("eom");
    std::hint::black_box(status);
}

fn bench_protocol(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("milter.sock");
    let (mut unix_conn, mut tcp_conn) = rt.block_on(async {
        serve(ListenAddr::Unix(socket.clone())).await;
        let tcp = serve(ListenAddr::Inet("127.0.0.1:0".into()))
            .await
            .expect("tcp address");
        let mut unix_conn = TestConnection::configure()
            .open_unix(&socket)
            .await
            .expect("open unix");
        let mut tcp_conn = TestConnection::open(tcp).await.expect("open tcp");
        for conn in [&mut unix_conn, &mut tcp_conn] {
            conn.connect("localhost", ([127, 0, 0, 1], 4000))
                .await
                .expect("connect");
            conn.helo("client.example").await.expect("helo");
        }
        (unix_conn, tcp_conn)
    });
    let body = typical_body();
    let mut group = c.benchmark_group("milter_protocol");
    group.throughput(Throughput::Elements(1));
    group.bench_function("message_12KB_unix_socket", |b| {
        b.iter(|| rt.block_on(one_message(&mut unix_conn, &body)))
    });
    group.sample_size(10);
    group.bench_function("message_12KB_tcp", |b| {
        b.iter(|| rt.block_on(one_message(&mut tcp_conn, &body)))
    });
    group.finish();
}

criterion_group!(benches, bench_protocol);
criterion_main!(benches);
