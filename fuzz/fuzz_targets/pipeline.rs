//! Any bytes as a whole message (headers and body), through the same pipeline
//! `sge-milter scan` and the milter drive: the first byte picks the direction.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sge_milter_fuzz::{direction, scan};

fuzz_target!(|data: &[u8]| {
    let Some((&first, raw)) = data.split_first() else {
        return;
    };
    scan(direction(first), raw);
});
