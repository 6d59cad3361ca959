//! Header decoding: RFC 2047 encoded words, RFC 2231 parameters (continuations,
//! charsets, percent-encoding) and header block splitting, on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sge_milter::message::header::{decode_value, parse_header_block, parse_params};

fuzz_target!(|data: &[u8]| {
    let decoded = decode_value(data);
    assert!(std::str::from_utf8(decoded.as_bytes()).is_ok());
    let params = parse_params(data);
    let _ = params.get("filename");
    let _ = params.get("charset");
    let block = parse_header_block(data);
    let _ = block.headers.len();
});
