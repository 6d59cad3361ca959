//! Messages per second through the milter protocol over loopback TCP: the milter
//! served in-process, driven by an MTA-side client (indymilter-test), one message per
//! iteration on a reused connection, as Postfix does. The client is on loopback, so
//! the message is outbound (no DNS involved) and marked, so it passes the markings policy.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use indymilter_test::TestConnection;
use sge_milter::milter::{self, ListenAddr, Shared};
use sge_milter::pipeline::Engine;
use std::sync::Arc;

fn typical_body() -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..200 {
        body.extend_from_slice(
            format!("Line {i} of a typical message body about quarterly planning.\r\n").as_bytes(),
        );
    }
    body
}

fn bench_protocol(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let engine = Engine::embedded().expect("embedded config compiles");
    let (addr, mut conn) = rt.block_on(async {
        let listener = milter::bind(&ListenAddr::Inet("127.0.0.1:0".into()), None)
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("tcp address");
        tokio::spawn(milter::serve(
            listener,
            Shared::new(engine),
            std::future::pending(),
        ));
        let mut conn = TestConnection::open(addr).await.expect("open");
        conn.connect("localhost", ([127, 0, 0, 1], 4000))
            .await
            .expect("connect");
        conn.helo("client.example").await.expect("helo");
        (addr, conn)
    });
    let _ = addr;
    let body = Arc::new(typical_body());
    let mut group = c.benchmark_group("milter_protocol");
    group.throughput(Throughput::Elements(1));
    group.bench_function("message_12KB_over_tcp", |b| {
        b.iter(|| {
            rt.block_on(async {
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
                conn.body(body.as_slice().to_vec()).await.expect("body");
                // The verdict depends on the embedded policy (an unmarked message
                // may be refused); the full pipeline runs either way.
                let (_, status) = conn.eom().await.expect("eom");
                std::hint::black_box(status);
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench_protocol);
criterion_main!(benches);
