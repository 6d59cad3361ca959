//! Inputs the fuzz targets (fuzz/) found crashing, as regression tests through the
//! library's message API, fed exactly as the fuzz target fed them. Each input is also
//! kept in fuzz/seeds/TARGET/ so every fuzz run replays it.

use sge_milter::envelope::{Direction, Envelope};
use sge_milter::pipeline::Engine;
use std::sync::Arc;

/// The `dlp` fuzz target's message: outbound text after identifier keywords, the
/// body fed in chunks of `chunk` bytes.
fn dlp_target(chunk: usize, text: &[u8]) -> sge_milter::policy::Decision {
    let mut loaded = sge_milter::config::load(None).expect("embedded config");
    loaded.config.auth.enabled = false;
    let engine = Arc::new(Engine::compile(loaded).expect("compiles"));
    let env = Envelope {
        mail_from: Some("alice@agency.govt.nz".into()),
        rcpts: vec!["bob@example.com".into()],
        direction: Some(Direction::Outbound),
        ..Default::default()
    };
    let mut scan = engine.start_message(env, None);
    scan.header("From", b" alice@agency.govt.nz");
    scan.header("Subject", b" IRD number [UNCLASSIFIED]");
    assert!(scan.end_of_headers().is_none());
    let mut body = b"IRD number NHI passport card bank account\r\n".to_vec();
    body.extend_from_slice(text);
    for c in body.chunks(chunk) {
        scan.body(c);
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(scan.finish())
}

/// fuzz target `dlp`: a digit run longer than the tokenizer's group buffer (19)
/// continued in a later chunk indexed past the buffer (`Group::push_slice` panicked).
#[test]
fn a_digit_run_longer_than_the_group_buffer_split_over_chunks() {
    let input = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/seeds/dlp/regression-long-digit-run-across-chunks"
    ))
    .expect("seed");
    let decision = dlp_target(usize::from(input[0]).max(1), &input[1..]);
    let _ = decision.action;
    let long_run = format!("account 12-{}-00\r\n", "3".repeat(40));
    for chunk in [1, 7, 20, 64] {
        dlp_target(chunk, long_run.as_bytes());
    }
}
