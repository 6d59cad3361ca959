//! Charset conversion to UTF-8, streaming and one-shot.

use encoding_rs::{CoderResult, Decoder, Encoding, UTF_8};

/// How a declared charset is decoded.
pub enum CharsetChoice {
    /// UTF-8, US-ASCII or no charset: validated in place (the fast path).
    Utf8,
    Other(&'static Encoding),
    /// Not a charset encoding_rs knows: decoded as UTF-8 with replacement characters.
    Unknown,
}

/// Resolves a charset label. US-ASCII is read as UTF-8 (identical for ASCII; 8-bit
/// bytes in "us-ascii" mail are far more often UTF-8 than Windows-1252, which the
/// WHATWG mapping would pick).
pub fn choose(label: Option<&str>) -> CharsetChoice {
    let Some(label) = label.map(str::trim).filter(|l| !l.is_empty()) else {
        return CharsetChoice::Utf8;
    };
    let lower = label.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "us-ascii" | "ascii" | "ansi_x3.4-1968" | "iso646-us" | "us" | "utf8" | "utf-8"
    ) {
        return CharsetChoice::Utf8;
    }
    match Encoding::for_label(lower.as_bytes()) {
        Some(e) if e == UTF_8 => CharsetChoice::Utf8,
        Some(e) => CharsetChoice::Other(e),
        None => CharsetChoice::Unknown,
    }
}

/// Converts a complete byte string (a header word, a parameter) to UTF-8.
pub fn decode_bytes(label: &str, bytes: &[u8]) -> String {
    match choose(Some(label)) {
        CharsetChoice::Other(e) => e.decode_without_bom_handling(bytes).0.into_owned(),
        CharsetChoice::Utf8 | CharsetChoice::Unknown => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Streaming conversion of one part's text to UTF-8. Output holds only whole
/// characters; an incomplete trailing sequence waits for the next call.
pub enum TextDecoder {
    Utf8 {
        /// Bytes of an incomplete character from the previous call (at most 3).
        carry: [u8; 4],
        carried: usize,
    },
    Other(Box<Decoder>),
}

impl TextDecoder {
    pub fn new(choice: &CharsetChoice) -> Self {
        match choice {
            CharsetChoice::Other(e) => {
                TextDecoder::Other(Box::new(e.new_decoder_without_bom_handling()))
            }
            CharsetChoice::Utf8 | CharsetChoice::Unknown => TextDecoder::Utf8 {
                carry: [0; 4],
                carried: 0,
            },
        }
    }

    /// Decodes `input`; the result borrows `input` when it is valid UTF-8 as a whole
    /// (no copy), otherwise it is built in `out`.
    pub fn decode<'a>(&mut self, input: &'a [u8], out: &'a mut String) -> &'a str {
        out.clear();
        match self {
            TextDecoder::Utf8 { carry, carried } => {
                let mut input = input;
                if *carried == 0
                    && let Ok(s) = std::str::from_utf8(input)
                {
                    return s;
                }
                // Complete a character left over from the previous call.
                while *carried > 0 && !input.is_empty() {
                    carry[*carried] = input[0];
                    *carried += 1;
                    match std::str::from_utf8(&carry[..*carried]) {
                        Ok(s) => {
                            out.push_str(s);
                            *carried = 0;
                            input = &input[1..];
                        }
                        Err(e) if e.error_len().is_some() => {
                            // The new byte does not continue the sequence: the old bytes
                            // are one bad character, the new byte is read afresh.
                            out.push(char::REPLACEMENT_CHARACTER);
                            *carried = 0;
                        }
                        Err(_) => input = &input[1..],
                    }
                }
                loop {
                    match std::str::from_utf8(input) {
                        Ok(s) => {
                            out.push_str(s);
                            break;
                        }
                        Err(e) => {
                            let (valid, rest) = input.split_at(e.valid_up_to());
                            out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                            match e.error_len() {
                                Some(n) => {
                                    out.push(char::REPLACEMENT_CHARACTER);
                                    input = &rest[n..];
                                }
                                None => {
                                    carry[..rest.len()].copy_from_slice(rest);
                                    *carried = rest.len();
                                    break;
                                }
                            }
                        }
                    }
                }
                out.as_str()
            }
            TextDecoder::Other(decoder) => {
                decode_all(decoder, input, out, false);
                out.as_str()
            }
        }
    }

    /// End of the part: an incomplete trailing character becomes U+FFFD.
    pub fn finish<'a>(&mut self, out: &'a mut String) -> &'a str {
        out.clear();
        match self {
            TextDecoder::Utf8 { carried, .. } => {
                if *carried > 0 {
                    out.push(char::REPLACEMENT_CHARACTER);
                    *carried = 0;
                }
            }
            TextDecoder::Other(decoder) => decode_all(decoder, &[], out, true),
        }
        out.as_str()
    }
}

fn decode_all(decoder: &mut Decoder, mut input: &[u8], out: &mut String, last: bool) {
    loop {
        let need = decoder
            .max_utf8_buffer_length(input.len())
            .unwrap_or(input.len().saturating_mul(3).saturating_add(16));
        out.reserve(need);
        let (result, read, _) = decoder.decode_to_string(input, out, last);
        input = &input[read..];
        if result == CoderResult::InputEmpty {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(label: &str, input: &[u8], size: usize) -> String {
        let mut d = TextDecoder::new(&choose(Some(label)));
        let mut all = String::new();
        let mut out = String::new();
        for c in input.chunks(size) {
            all.push_str(d.decode(c, &mut out));
        }
        all.push_str(d.finish(&mut out));
        all
    }

    #[test]
    fn utf8_split_anywhere() {
        let s = "héllo wörld – 日本語 🎉!".as_bytes();
        for size in 1..8 {
            assert_eq!(chunked("utf-8", s, size), "héllo wörld – 日本語 🎉!");
        }
    }

    #[test]
    fn invalid_utf8_is_replaced_the_same_for_any_chunking() {
        let s = b"a\xe2\x82b\xff\xc3\xa9\xf0\x9f";
        let whole = chunked("utf-8", s, s.len());
        assert_eq!(whole, String::from_utf8_lossy(s));
        for size in 1..8 {
            assert_eq!(chunked("utf-8", s, size), whole, "size {size}");
        }
    }

    #[test]
    fn latin1_and_shift_jis() {
        assert_eq!(chunked("ISO-8859-1", b"caf\xe9", 1), "café");
        assert_eq!(chunked("shift_jis", b"\x93\xfa\x96\x7b", 1), "日本");
    }
}
