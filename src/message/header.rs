//! Header parsing and decoding: unfolding, RFC 2047 encoded words, charsets, parameters.

use super::charset::decode_bytes;
use super::decode::base64_lenient;
use std::borrow::Cow;

/// Headers split from the start of a raw message, as an MTA would pass them to a milter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderBlock {
    /// `(name, raw value)`: the value is everything after the colon (leading space kept),
    /// folded lines joined with bare LF as the milter protocol delivers them.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Offset of the first body byte (after the empty line), or the input length.
    pub body_offset: usize,
}

/// Splits one header line into name and value, as Postfix recognises a header: a name
/// of printable ASCII without `:`, optional blanks, then `:`. `None` for anything else.
pub fn split_header_line(line: &[u8]) -> Option<(&str, &[u8])> {
    let colon = memchr::memchr(b':', line)?;
    let name = line[..colon].trim_ascii_end();
    let printable = |c: &u8| (33..=126).contains(c);
    if name.is_empty() || !name.iter().all(printable) {
        return None;
    }
    let name = std::str::from_utf8(name).ok()?;
    Some((name, &line[colon + 1..]))
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Splits the header block off a raw message (CRLF or LF line ends).
///
/// Like Postfix, a line that is neither a header nor a continuation ends the header
/// block and is the first line of the body; input without an empty line is all headers.
pub fn parse_header_block(data: &[u8]) -> HeaderBlock {
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let (end, next) = match memchr::memchr(b'\n', &data[pos..]) {
            Some(i) => (pos + i, pos + i + 1),
            None => (data.len(), data.len()),
        };
        let line = &data[pos..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return HeaderBlock {
                headers,
                body_offset: next,
            };
        }
        if is_blank(line[0])
            && let Some((_, value)) = headers.last_mut()
        {
            value.push(b'\n');
            value.extend_from_slice(line);
        } else if let Some((name, value)) = split_header_line(line) {
            headers.push((name.to_string(), value.to_vec()));
        } else {
            return HeaderBlock {
                headers,
                body_offset: pos,
            };
        }
        pos = next;
    }
    HeaderBlock {
        headers,
        body_offset: data.len(),
    }
}

/// Removes folding line breaks (the whitespace after them stays, RFC 5322 3.2.2).
/// Most values are not folded: those are borrowed, not copied.
fn unfold(raw: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr2(b'\r', b'\n', raw).is_none() {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(p) = memchr::memchr2(b'\r', b'\n', rest) {
        out.extend_from_slice(&rest[..p]);
        rest = &rest[p + 1..];
    }
    out.extend_from_slice(rest);
    Cow::Owned(out)
}

/// Decodes a raw header value for scanners: unfolds, trims, decodes RFC 2047 encoded
/// words, converts charsets to UTF-8 (invalid bytes become U+FFFD).
pub fn decode_value(raw: &[u8]) -> String {
    let unfolded = unfold(raw);
    decode_words(unfolded.trim_ascii())
}

/// One parsed `=?charset?enc?text?=`.
struct EncodedWord<'a> {
    charset: &'a [u8],
    bytes: Vec<u8>,
    len: usize,
}

/// Longest charset name accepted in an encoded word.
const MAX_CHARSET: usize = 64;

fn parse_encoded_word(s: &[u8]) -> Option<EncodedWord<'_>> {
    let rest = s.strip_prefix(b"=?")?;
    let q1 = memchr::memchr(b'?', &rest[..rest.len().min(MAX_CHARSET + 1)])?;
    let charset_lang = &rest[..q1];
    // RFC 2231 section 5: `charset*language`.
    let charset = charset_lang
        .split(|&c| c == b'*')
        .next()
        .unwrap_or_default();
    if charset.is_empty() || charset.iter().any(|c| c.is_ascii_whitespace()) {
        return None;
    }
    let enc = *rest.get(q1 + 1)?;
    if rest.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let start = q1 + 3;
    let q2 = start + memchr::memchr(b'?', &rest[start..])?;
    if rest.get(q2 + 1) != Some(&b'=') {
        return None;
    }
    let text = &rest[start..q2];
    if text.iter().any(|c| c.is_ascii_whitespace()) {
        return None;
    }
    let bytes = match enc {
        b'B' | b'b' => base64_lenient(text),
        b'Q' | b'q' => decode_q(text),
        _ => return None,
    };
    Some(EncodedWord {
        charset,
        bytes,
        len: 2 + q2 + 2,
    })
}

/// RFC 2047 `Q` encoding: `_` is a space, `=XY` a byte, anything else literal.
fn decode_q(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        match c {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(b) = hex {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'=');
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// Decodes the encoded words in an unfolded value; the rest is read as UTF-8.
/// Adjacent encoded words (only whitespace between) are joined, and their bytes are
/// concatenated before charset conversion so a character split across words survives.
fn decode_words(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending: Option<(&[u8], Vec<u8>)> = None;
    let flush = |pending: &mut Option<(&[u8], Vec<u8>)>, out: &mut String| {
        if let Some((charset, bytes)) = pending.take() {
            out.push_str(&decode_bytes(&String::from_utf8_lossy(charset), &bytes));
        }
    };
    let mut i = 0;
    let mut literal_start = 0;
    let mut after_word = false;
    while let Some(p) = memchr::memmem::find(&s[i..], b"=?") {
        let p = i + p;
        let Some(word) = parse_encoded_word(&s[p..]) else {
            i = p + 1;
            continue;
        };
        let between = &s[literal_start..p];
        let adjacent = after_word && between.iter().all(|&c| is_blank(c));
        if !adjacent {
            flush(&mut pending, &mut out);
            out.push_str(&String::from_utf8_lossy(between));
        }
        match &mut pending {
            Some((charset, bytes)) if charset.eq_ignore_ascii_case(word.charset) => {
                bytes.extend_from_slice(&word.bytes);
            }
            _ => {
                flush(&mut pending, &mut out);
                pending = Some((word.charset, word.bytes));
            }
        }
        i = p + word.len;
        literal_start = i;
        after_word = true;
    }
    flush(&mut pending, &mut out);
    out.push_str(&String::from_utf8_lossy(&s[literal_start..]));
    out
}

/// A structured header value such as Content-Type or Content-Disposition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParamValue {
    /// The leading value, lower-case (`multipart/mixed`, `attachment`).
    pub value: String,
    /// Parameters with lower-case names and decoded values (RFC 2231 continuations and
    /// charsets applied; RFC 2047 words in values decoded, as many clients send them).
    pub params: Vec<(String, String)>,
}

impl ParamValue {
    /// A parameter by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The value with its decoded parameters, e.g. `attachment; filename="café.txt"`:
/// what scanners read instead of the encoded header.
impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.value)?;
        for (name, value) in &self.params {
            write!(f, "; {name}=\"{value}\"")?;
        }
        Ok(())
    }
}

/// Highest RFC 2231 continuation index honoured (bounds work on hostile input).
const MAX_CONTINUATIONS: u32 = 1000;

/// One raw `name=value` before RFC 2231 assembly.
struct RawParam {
    name: String,
    /// Continuation index for `name*N` / `name*N*`.
    section: Option<u32>,
    /// Whether the value is RFC 2231 extended (percent-encoded, maybe with charset).
    extended: bool,
    value: Vec<u8>,
}

/// Parses `value; name=token; name="quoted"; name*=utf-8''%E2%82%AC; name*0=...`.
pub fn parse_params(raw: &[u8]) -> ParamValue {
    let s = unfold(raw);
    let mut p = Cursor { s: &s, i: 0 };
    let main = p.take_until(b';');
    let value = String::from_utf8_lossy(main.trim_ascii()).to_ascii_lowercase();
    let mut raw_params = Vec::new();
    while p.i < s.len() {
        p.i += 1; // the ';'
        let name = p.take_until_any(b'=', b';');
        if p.peek() != Some(b'=') {
            continue;
        }
        p.i += 1;
        p.skip_blanks();
        let value = if p.peek() == Some(b'"') {
            let v = p.quoted();
            p.take_until(b';');
            v
        } else {
            p.take_until(b';').trim_ascii().to_vec()
        };
        let name = String::from_utf8_lossy(name.trim_ascii()).to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        raw_params.push(split_section(name, value));
    }
    ParamValue {
        value,
        params: assemble(raw_params),
    }
}

/// Splits `name*N*` into base name, section and extended flag.
fn split_section(name: String, value: Vec<u8>) -> RawParam {
    let (base, extended) = match name.strip_suffix('*') {
        Some(b) => (b.to_string(), true),
        None => (name, false),
    };
    if let Some((b, n)) = base.rsplit_once('*')
        && let Ok(n) = n.parse::<u32>()
    {
        return RawParam {
            name: b.to_string(),
            section: Some(n),
            extended,
            value,
        };
    }
    RawParam {
        name: base,
        section: None,
        extended,
        value,
    }
}

/// Joins RFC 2231 continuations and decodes every value. Linear in the number of
/// parameters: they are grouped by name through one map, never name by name.
fn assemble(raw: Vec<RawParam>) -> Vec<(String, String)> {
    let mut order: Vec<(String, Vec<RawParam>)> = Vec::new();
    let mut slot: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for r in raw {
        let k = *slot.entry(r.name.clone()).or_insert_with(|| {
            order.push((r.name.clone(), Vec::new()));
            order.len() - 1
        });
        order[k].1.push(r);
    }
    order
        .into_iter()
        .map(|(name, group)| {
            let rfc2231: Vec<&RawParam> = group
                .iter()
                .filter(|r| r.extended || r.section.is_some())
                .collect();
            let value = if rfc2231.is_empty() {
                group
                    .first()
                    .map(|r| decode_plain(&r.value))
                    .unwrap_or_default()
            } else {
                decode_2231(rfc2231)
            };
            (name, value)
        })
        .collect()
}

fn decode_plain(value: &[u8]) -> String {
    if memchr::memmem::find(value, b"=?").is_some() {
        decode_words(value)
    } else {
        String::from_utf8_lossy(value).into_owned()
    }
}

fn decode_2231(mut sections: Vec<&RawParam>) -> String {
    sections.retain(|r| r.section.unwrap_or(0) <= MAX_CONTINUATIONS);
    sections.sort_by_key(|r| r.section.unwrap_or(0));
    sections.dedup_by_key(|r| r.section.unwrap_or(0));
    let mut charset = String::new();
    let mut bytes = Vec::new();
    for (k, r) in sections.iter().enumerate() {
        if !r.extended {
            bytes.extend_from_slice(&r.value);
            continue;
        }
        let mut v = &r.value[..];
        if k == 0 {
            // charset'language'value
            let mut fields = v.splitn(3, |&c| c == b'\'');
            if let (Some(cs), Some(_lang), Some(rest)) =
                (fields.next(), fields.next(), fields.next())
            {
                charset = String::from_utf8_lossy(cs).into_owned();
                v = rest;
            }
        }
        percent_decode(v, &mut bytes);
    }
    if charset.is_empty() {
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        decode_bytes(&charset, &bytes)
    }
}

fn percent_decode(v: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%'
            && let Some(b) = v
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(v[i]);
        i += 1;
    }
}

/// A position in a parameter list.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn take_until(&mut self, stop: u8) -> &'a [u8] {
        let rest = &self.s[self.i..];
        let n = memchr::memchr(stop, rest).unwrap_or(rest.len());
        self.i += n;
        &rest[..n]
    }

    fn take_until_any(&mut self, a: u8, b: u8) -> &'a [u8] {
        let rest = &self.s[self.i..];
        let n = memchr::memchr2(a, b, rest).unwrap_or(rest.len());
        self.i += n;
        &rest[..n]
    }

    /// A quoted string starting at the cursor; backslash escapes removed. An
    /// unterminated string runs to the end of the value.
    fn quoted(&mut self) -> Vec<u8> {
        self.i += 1;
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                _ => out.push(c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_block_like_postfix() {
        let b = parse_header_block(b"Subject: a\r\n b\r\nX-E:\r\nTo:x\r\n\r\nbody");
        assert_eq!(
            b.headers,
            vec![
                ("Subject".to_string(), b" a\n b".to_vec()),
                ("X-E".to_string(), b"".to_vec()),
                ("To".to_string(), b"x".to_vec()),
            ]
        );
        assert_eq!(b.body_offset, 30);
        let b = parse_header_block(b"A: 1\nnot a header\nB: 2\n");
        assert_eq!(b.headers.len(), 1);
        assert_eq!(b.body_offset, 5);
        let b = parse_header_block(b"A: 1\nB: 2");
        assert_eq!(b.headers.len(), 2);
        assert_eq!(b.body_offset, 9);
    }

    #[test]
    fn encoded_words() {
        assert_eq!(decode_value(b" =?utf-8?B?SMOpbGxv?= world"), "Héllo world");
        assert_eq!(
            decode_value(b" =?ISO-8859-1?Q?caf=E9_au?=\n =?iso-8859-1?q?_lait?="),
            "café au lait"
        );
        // A UTF-8 character split over two words.
        assert_eq!(
            decode_value(b"=?utf-8?B?w6k=?= =?utf-8?Q?=C3?= =?utf-8?Q?=A9?="),
            "éé"
        );
        assert_eq!(
            decode_value(b" =?bogus?X?abc?= =?utf-8?Q?ok"),
            "=?bogus?X?abc?= =?utf-8?Q?ok"
        );
        assert_eq!(decode_value(b" a =?utf-8*en?Q?b?= c"), "a b c");
        assert_eq!(decode_value(b"\xff\x00x"), "\u{fffd}\u{0}x");
    }

    #[test]
    fn parameters() {
        let p = parse_params(b" Multipart/Mixed; BOUNDARY=\"a\\\"b; c\"; charset=UTF-8 ;x");
        assert_eq!(p.value, "multipart/mixed");
        assert_eq!(p.get("boundary"), Some("a\"b; c"));
        assert_eq!(p.get("Charset"), Some("UTF-8"));
        let p = parse_params(b"attachment; filename*=utf-8''%E2%82%AC%20rates.pdf");
        assert_eq!(p.get("filename"), Some("€ rates.pdf"));
        let p = parse_params(
            b"attachment; filename*0*=iso-8859-1'en'caf%E9; filename*1=\" menu\"; filename*2*=.txt",
        );
        assert_eq!(p.get("filename"), Some("café menu.txt"));
        let p = parse_params(b"application/pdf; name=\"=?utf-8?B?w6kucGRm?=\"");
        assert_eq!(p.get("name"), Some("é.pdf"));
        assert_eq!(p.to_string(), "application/pdf; name=\"é.pdf\"");
    }

    /// Hostile parameter lists cost linear work: 200k distinct names and 200k
    /// continuations of one name parse (quadratic work would take minutes).
    #[test]
    fn huge_parameter_lists_parse() {
        let mut raw = b"attachment".to_vec();
        for i in 0..200_000 {
            raw.extend_from_slice(format!("; p{i}=v").as_bytes());
        }
        let p = parse_params(&raw);
        assert_eq!(p.params.len(), 200_000);
        assert_eq!(p.get("p199999"), Some("v"));
        let mut raw = b"attachment".to_vec();
        for i in 0..200_000 {
            raw.extend_from_slice(format!("; filename*{i}=a").as_bytes());
        }
        let p = parse_params(&raw);
        assert_eq!(p.get("filename").map(str::len), Some(1001));
    }
}
