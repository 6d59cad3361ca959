//! The marking parser: the bytes as an X-Protective-Marking value, as a Subject, and
//! as banner lines at the top and bottom of a text body, outbound and inbound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sge_milter_fuzz::{direction, scan};

fuzz_target!(|data: &[u8]| {
    let Some((&first, value)) = data.split_first() else {
        return;
    };
    let mut raw = Vec::with_capacity(value.len() * 4 + 200);
    raw.extend_from_slice(b"From: alice@agency.govt.nz\r\nTo: bob@example.com\r\n");
    if first & 2 == 0 {
        raw.extend_from_slice(b"X-Protective-Marking: ");
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"Subject: ");
    raw.extend_from_slice(value);
    raw.extend_from_slice(b"\r\n\r\n");
    raw.extend_from_slice(value);
    raw.extend_from_slice(b"\r\nbody text\r\n");
    raw.extend_from_slice(value);
    raw.extend_from_slice(b"\r\n");
    scan(direction(first), &raw);
});
