//! Header parsing and decoding: unfolding, RFC 2047 encoded words, charsets, parameters.

/// Headers split from the start of a raw message, as an MTA would pass them to a milter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderBlock {
    /// `(name, raw value)`: the value is everything after the colon (leading space kept),
    /// folded lines joined with bare LF as the milter protocol delivers them.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Offset of the first body byte (after the empty line), or the input length.
    pub body_offset: usize,
}

/// Splits the header block off a raw message (CRLF or LF line ends).
pub fn parse_header_block(data: &[u8]) -> HeaderBlock {
    let _ = data;
    todo!("message layer helper")
}

/// Decodes a raw header value for scanners: unfolds, trims, decodes RFC 2047 encoded
/// words, converts charsets to UTF-8 (invalid bytes become U+FFFD).
pub fn decode_value(raw: &[u8]) -> String {
    let _ = raw;
    todo!("message layer helper")
}
