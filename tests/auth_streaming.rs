//! Issue 11 "less copying", through the public pipeline against a real DNS server
//! (knotd): inbound mail keeps only its header block, its DKIM body hashes computed
//! as the body streams in, whatever the chunking; outbound mail keeps only its
//! header block too, its signature's body hash computed as the body streams in, and
//! that signature verifies.

mod auth_fixture;
mod common;

use auth_fixture::{AuthFixture, GOOD_IP, message};
use bytes::Bytes;
use sge_milter::envelope::{Direction, Envelope};
use sge_milter::message::header::parse_header_block;
use sge_milter::pipeline::{Engine, MessageScan};
use sge_milter::policy::{Decision, HeaderEdit};
use std::path::Path;
use std::sync::Arc;
use tokio::runtime::Runtime;

fn engine(config: &Path) -> Arc<Engine> {
    let loaded = sge_milter::config::load(Some(config)).unwrap_or_else(|e| panic!("{e}"));
    Arc::new(Engine::compile(loaded).unwrap_or_else(|e| panic!("{e}")))
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Headers, then the body in `chunk`-byte pieces, as the milter feeds them.
fn feed(
    engine: &Arc<Engine>,
    rt: &Runtime,
    dir: Direction,
    raw: &[u8],
    chunk: usize,
) -> MessageScan {
    let mut env = Envelope {
        client_ip: Some(GOOD_IP.parse().unwrap()),
        helo: Some("mx.dkim.test".into()),
        mail_from: Some("a@dkim.test".into()),
        rcpts: vec!["user@agency.test".into()],
        direction: Some(dir),
        ..Default::default()
    };
    let spf = rt.block_on(engine.mail_from(&mut env));
    let mut scan = engine.start_message(env, spf);
    let block = parse_header_block(raw);
    for (name, value) in &block.headers {
        scan.header(name, value);
    }
    assert!(scan.end_of_headers().is_none());
    for c in raw[block.body_offset..].chunks(chunk) {
        scan.body_shared(Bytes::copy_from_slice(c));
    }
    scan
}

fn dkim_results(scan: &MessageScan) -> Vec<&'static str> {
    let report = scan.auth_report().expect("authentication on");
    report.dkim.iter().map(|d| d.result).collect()
}

const BODY: &str = "First line  \t\r\n\r\nsecond\tline with  spaces \r\nthird\r\n\r\n\r\n";

#[test]
fn inbound_keeps_the_header_block_only_and_verifies_any_chunking() {
    let f = AuthFixture::start();
    let signing = f.signing_config("sign.toml", "dkim.test", &[("rsa", &f.dkim_rsa)]);
    let raw = f.sign(&signing, &message("a@dkim.test", "stream", BODY));
    let engine = engine(&f.config("verify.toml", ""));
    let rt = runtime();
    for chunk in [1, 7, 64, raw.len()] {
        let mut scan = feed(&engine, &rt, Direction::Inbound, &raw, chunk);
        let kept = scan.raw().parts().expect("header block kept");
        assert!(kept.body.is_empty(), "chunk {chunk}: body kept");
        // `message` ends the body with one more CRLF.
        assert_eq!(kept.head, &raw[..raw.len() - BODY.len() - 2]);
        let d: Decision = rt.block_on(scan.finish());
        assert_eq!(dkim_results(&scan), ["pass"], "chunk {chunk}: {d:?}");
        let dmarc = scan.auth_report().and_then(|r| r.dmarc.clone()).unwrap();
        assert_eq!(dmarc.result, "pass");
    }
    // One body byte changed: the streamed hash no longer matches.
    let text = String::from_utf8(raw.clone())
        .unwrap()
        .replace("third", "thirD");
    let mut scan = feed(&engine, &rt, Direction::Inbound, text.as_bytes(), 5);
    rt.block_on(scan.finish());
    assert_eq!(dkim_results(&scan), ["fail"]);
}

#[test]
fn outbound_keeps_the_header_block_only_and_the_signature_verifies() {
    let f = AuthFixture::start();
    let signing = engine(&f.signing_config("sign.toml", "dkim.test", &[("rsa", &f.dkim_rsa)]));
    let verify = engine(&f.config("verify.toml", ""));
    let rt = runtime();
    let raw = message("a@dkim.test", "outbound", BODY);
    for chunk in [1, 5, raw.len()] {
        let mut scan = feed(&signing, &rt, Direction::Outbound, &raw, chunk);
        let kept = scan.raw().parts().expect("header block kept for signing");
        assert!(kept.body.is_empty(), "chunk {chunk}: body kept");
        let d = rt.block_on(scan.finish());
        let sig = d
            .header_edits
            .iter()
            .find_map(|e| match e {
                HeaderEdit::Insert { name, value, .. } if name == "DKIM-Signature" => Some(value),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no signature: {d:?}"));
        let mut signed = format!("DKIM-Signature: {sig}\r\n").into_bytes();
        signed.extend_from_slice(&raw);
        let mut scan = feed(&verify, &rt, Direction::Inbound, &signed, 3);
        rt.block_on(scan.finish());
        assert_eq!(dkim_results(&scan), ["pass"], "chunk {chunk}");
    }
}

#[test]
fn outbound_without_a_key_for_its_domain_keeps_no_body_and_is_not_signed() {
    let f = AuthFixture::start();
    let signing = engine(&f.signing_config("sign.toml", "dkim.test", &[("rsa", &f.dkim_rsa)]));
    let rt = runtime();
    let raw = message("a@other.test", "unsigned", BODY);
    let mut scan = feed(&signing, &rt, Direction::Outbound, &raw, 5);
    assert!(
        scan.raw()
            .parts()
            .expect("header block kept")
            .body
            .is_empty()
    );
    let d = rt.block_on(scan.finish());
    assert!(
        !d.header_edits
            .iter()
            .any(|e| matches!(e, HeaderEdit::Insert { name, .. } if name == "DKIM-Signature")),
        "{d:?}"
    );
}
