//! SPF evaluation against a warm cache (an in-memory zone, so only the evaluator's own
//! work is measured) and the record parser.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sge_milter::spf_eval::{MemoryDns, Record, SpfRequest, check};

const TYPICAL: &str = "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 ip6:2001:db8::/32 \
                       a mx include:_spf.example.net exists:%{ir}.%{v}._spf.%{d2} ~all exp=why.%{d}";

fn zone() -> MemoryDns {
    MemoryDns::new()
        .with_txt(
            "example.govt.nz",
            "v=spf1 mx a:relay.example.govt.nz include:_spf.example.net -all",
        )
        .with_txt(
            "_spf.example.net",
            "v=spf1 ip4:203.0.113.0/24 include:_spf2.example.net ~all",
        )
        .with_txt(
            "_spf2.example.net",
            "v=spf1 ip6:2001:db8::/32 ip4:192.0.2.0/24 -all",
        )
        .with_mx("example.govt.nz", "mx1.example.govt.nz")
        .with_mx("example.govt.nz", "mx2.example.govt.nz")
        .with_ip("mx1.example.govt.nz", "198.51.100.10".parse().expect("ip"))
        .with_ip("mx2.example.govt.nz", "198.51.100.11".parse().expect("ip"))
        .with_ip(
            "relay.example.govt.nz",
            "198.51.100.20".parse().expect("ip"),
        )
}

fn bench_parser(c: &mut Criterion) {
    c.bench_function("spf/parse typical record", |b| {
        b.iter(|| Record::parse(black_box(TYPICAL.as_bytes())))
    });
}

fn bench_evaluation(c: &mut Criterion) {
    let dns = zone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let request = |ip: &'static str| SpfRequest {
        client_ip: ip.parse().expect("ip"),
        helo: "mail.example.govt.nz",
        mail_from: "someone@example.govt.nz",
        receiver: "mx.test",
    };
    // Passes on the first mechanism (MX, 2 exchanges).
    let early = request("198.51.100.10");
    c.bench_function("spf/check pass via mx", |b| {
        b.iter(|| runtime.block_on(check(&dns, black_box(&early))))
    });
    // Walks everything: mx, a, two nested includes, then fails.
    let full = request("203.0.114.1");
    c.bench_function("spf/check fail after 2 includes", |b| {
        b.iter(|| runtime.block_on(check(&dns, black_box(&full))))
    });
}

criterion_group!(benches, bench_parser, bench_evaluation);
criterion_main!(benches);
