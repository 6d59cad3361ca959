//! What the fuzz targets share: one compiled engine (embedded rules, authentication
//! off so no target touches the network), one runtime, and the ways a target turns
//! bytes into a message for the pipeline.

use sge_milter::envelope::{Direction, Envelope};
use sge_milter::offline::scan_message;
use sge_milter::pipeline::Engine;
use std::sync::{Arc, LazyLock};

/// The embedded configuration and rules, with `[auth] enabled = false`, and a local
/// domain so outbound rules (markings, DLP) apply.
pub fn engine() -> &'static Arc<Engine> {
    static ENGINE: LazyLock<Arc<Engine>> = LazyLock::new(|| {
        let mut loaded = sge_milter::config::load(None).expect("embedded config loads");
        loaded.config.auth.enabled = false;
        loaded.config.policy.local_domains = vec!["agency.govt.nz".into()];
        Arc::new(Engine::compile(loaded).expect("embedded config compiles"))
    });
    &ENGINE
}

/// A current-thread runtime for the async parts (end of message).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    });
    &RT
}

/// An envelope for one direction: outbound from a local sender, or inbound.
pub fn envelope(direction: Direction) -> Envelope {
    let (from, to) = match direction {
        Direction::Outbound => ("alice@agency.govt.nz", "bob@example.com"),
        Direction::Inbound => ("bob@example.com", "alice@agency.govt.nz"),
    };
    Envelope {
        client_ip: Some("192.0.2.1".parse().expect("ip")),
        helo: Some("mx.example.com".into()),
        mail_from: Some(from.into()),
        rcpts: vec![to.into()],
        direction: Some(direction),
        ..Default::default()
    }
}

/// Runs a raw message through the pipeline exactly as `sge-milter scan` does.
pub fn scan(direction: Direction, raw: &[u8]) {
    tolerate_contained_panics();
    let outcome = runtime().block_on(scan_message(engine(), envelope(direction), raw));
    // The decision must always be one the milter can send.
    let _ = outcome.decision.smtp_reply.map(|r| r.to_string());
}

/// The direction chosen by a byte.
pub fn direction(b: u8) -> Direction {
    if b & 1 == 0 {
        Direction::Outbound
    } else {
        Direction::Inbound
    }
}

/// libFuzzer's panic hook aborts on every panic, even one the code catches on
/// purpose. The OLE2 extractor catches panics of the `cfb` crate on hostile
/// allocation tables (a damaged file, reported as uninspectable): those, and only
/// those, are let through to that `catch_unwind`; every other panic still aborts.
pub fn tolerate_contained_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let contained = info.location().is_some_and(|l| l.file().contains("/cfb-"));
            if !contained {
                abort(info);
            }
        }));
    });
}
