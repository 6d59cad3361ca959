//! The DLP candidate tokenizer and validators: the bytes as outbound body text
//! (with identifier keywords around it, so proximity and confidence logic run),
//! split into body chunks at a fuzzed size so chunk boundaries fall anywhere.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sge_milter::envelope::Direction;
use sge_milter_fuzz::{engine, envelope, runtime};

fuzz_target!(|data: &[u8]| {
    let Some((&first, text)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first).max(1);
    let mut scan = engine().start_message(envelope(Direction::Outbound), None);
    scan.header("From", b" alice@agency.govt.nz");
    scan.header("To", b" bob@example.com");
    scan.header("Subject", b" IRD number and bank account [UNCLASSIFIED]");
    scan.header("Content-Type", b" text/plain; charset=utf-8");
    if scan.end_of_headers().is_some() {
        return;
    }
    let mut body = b"IRD number NHI passport card bank account\r\n".to_vec();
    body.extend_from_slice(text);
    body.extend_from_slice(b"\r\ntax file number\r\n");
    for c in body.chunks(chunk) {
        scan.body(c);
    }
    let _ = runtime().block_on(scan.finish());
});
