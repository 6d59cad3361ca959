//! What DMARC report recording adds to an inbound message: building the
//! observation from the authentication results and counting it in memory (the
//! work done on the message path; the store is written by a separate flusher).
//! Run: `cargo bench --bench dmarc_reports -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, criterion_group, criterion_main};
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::dmarc::Dmarc;
use mail_auth::{DmarcOutput, DmarcResult};
use sge_milter::auth::SpfVerdict;
use sge_milter::auth::inbound::InboundResults;
use sge_milter::auth::report::{ArcVerdict, DkimVerdict, DmarcVerdict};
use sge_milter::config::Action;
use sge_milter::dmarc_reports::Recorder;
use sge_milter::dmarc_reports::observe::observation;
use sge_milter::policy::{Finding, FindingKind};
use std::sync::Arc;

fn results() -> InboundResults {
    let record = Dmarc::parse(b"v=DMARC1; p=reject; rua=mailto:dmarc@sender.example").unwrap();
    InboundResults {
        dkim: vec![DkimVerdict {
            domain: "sender.example".into(),
            selector: "s1".into(),
            algorithm: "rsa-sha256",
            result: "fail",
            reason: None,
        }],
        dmarc: DmarcVerdict {
            result: "fail",
            policy: "reject",
            domain: "sender.example".into(),
            sampled_out: None,
        },
        arc: ArcVerdict {
            result: "none",
            sealer: None,
            instances: 0,
        },
        dmarc_output: DmarcOutput::new("sender.example".into())
            .with_dkim_result(DmarcResult::None)
            .with_spf_result(DmarcResult::None)
            .with_record(Arc::new(record)),
        from_domains: vec!["sender.example".into()],
        header_value: String::new(),
    }
}

fn bench(c: &mut Criterion) {
    let results = results();
    let mut spf = SpfVerdict::none("a@sender.example", "mx.sender.example");
    let findings = vec![Finding::new(
        "auth.dmarc_reject",
        FindingKind::Auth,
        Action::Reject,
        "DMARC",
    )];
    let recorder = Recorder::new(86_400);
    let mut n = 0u32;
    c.bench_function("dmarc_reports/observe_and_record", |b| {
        b.iter(|| {
            // 256 distinct sources, as a busy gateway would see.
            n = n.wrapping_add(1);
            spf.client_ip = Some(std::net::IpAddr::from([192, 0, 2, (n % 256) as u8]));
            let obs = observation(&spf, &results, &findings).expect("reports requested");
            recorder.record(obs);
        })
    });
    // One row per source: at most 256 (a `cargo test` run iterates only once).
    let pending = recorder.aggregate().take();
    assert!((1..=256).contains(&pending.counts.len()));
}

criterion_group!(benches, bench);
criterion_main!(benches);
