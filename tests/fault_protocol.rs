//! Faults on the milter connection itself, from a hand-driven MTA side:
//! - an MTA that stops sending mid-body is timed out after `connection_timeout`, and
//!   its session (message state included) is dropped: `connections_active` returns to 0;
//! - a packet over indymilter's 1 MiB limit is logged and counted
//!   (`errors_total{kind="milter_protocol"}`) before the connection is closed, instead
//!   of vanishing silently.

mod common;
mod metrics_support;

use common::WAIT;
use common::faults::{milter_packet, milter_prologue, milter_with_metrics};
use common::wait_for;
use metrics_support::{sample, scrape};
use std::io::{Read, Write};
use std::net::TcpStream;

fn connect(milter: &common::MilterProcess) -> TcpStream {
    let port = milter.port().expect("inet milter");
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to milter");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s
}

fn wait_gauge(metrics: &str, want: f64) -> String {
    wait_for(WAIT, || {
        let m = scrape(metrics);
        (sample(&m, "sgemilter_connections_active") == Some(want)).then_some(m)
    })
    .unwrap_or_else(|| {
        panic!(
            "connections_active never became {want}:\n{}",
            scrape(metrics)
        )
    })
}

/// Reads until the milter closes the connection (EOF or reset).
fn wait_closed(s: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[test]
fn an_mta_that_stalls_mid_body_is_timed_out_and_its_session_freed() {
    let (milter, metrics) = milter_with_metrics("[milter]\nconnection_timeout = \"2s\"\n", &[]);
    let mut s = connect(&milter);
    let mut out = milter_prologue();
    out.extend(milter_packet(b'L', b"From\0 alice@sender.example\0"));
    out.extend(milter_packet(b'L', b"Subject\0 stalled [UNCLASSIFIED]\0"));
    out.extend(milter_packet(b'N', b""));
    // Half a megabyte of body, then silence in the middle of the message.
    for _ in 0..8 {
        out.extend(milter_packet(b'B', &[b'x'; 65535]));
    }
    s.write_all(&out).expect("send");
    wait_gauge(&metrics, 1.0);
    // Nothing more is sent: the milter must give up on its own.
    wait_closed(&mut s);
    let m = wait_gauge(&metrics, 0.0);
    assert_eq!(
        sample(
            &m,
            r#"sgemilter_messages_total{action="accept",direction="outbound"}"#
        ),
        Some(0.0),
        "a stalled message is never decided:\n{m}"
    );
    // The milter still serves.
    let mut again = connect(&milter);
    again.write_all(&milter_prologue()).expect("send");
    wait_gauge(&metrics, 1.0);
    drop(again);
    wait_gauge(&metrics, 0.0);
}

#[test]
fn a_packet_over_one_mebibyte_is_logged_and_counted() {
    let (milter, metrics) = milter_with_metrics("", &[]);
    let mut s = connect(&milter);
    let mut out = milter_prologue();
    // A header packet of 1.5 MiB: the length prefix alone gives it away.
    let value = vec![b'a'; 1536 * 1024];
    let mut payload = b"X-Big\0".to_vec();
    payload.extend_from_slice(&value);
    payload.push(0);
    out.extend(milter_packet(b'L', &payload));
    // The milter may close before reading it all; a broken pipe is fine.
    let _ = s.write_all(&out);
    wait_closed(&mut s);
    assert!(
        milter.wait_for_log("over the protocol's 1 MiB limit", WAIT),
        "{}",
        milter.log()
    );
    let m = wait_gauge(&metrics, 0.0);
    assert_eq!(
        sample(&m, r#"sgemilter_errors_total{kind="milter_protocol"}"#),
        Some(1.0),
        "{m}"
    );
}
