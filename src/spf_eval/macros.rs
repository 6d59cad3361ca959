//! Macro strings (RFC 7208 section 7): parsing into tokens, and expansion against the
//! values of one check_host() call.

use std::fmt::Write as _;

/// Upper bound on the text one macro string may expand to. Expansions used as names are
/// cut to 253 octets afterwards; this guards explanation strings and keeps a hostile
/// record from making us build megabytes (`%{s}` repeated in a 64 KiB TXT record).
pub const MAX_EXPANSION: usize = 4096;

/// Upper bound on a macro's right-hand-part count; larger values are saturated since no
/// value can have more parts than octets.
const MAX_DIGITS: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacroLetter {
    /// `s`: the sender, `local-part@domain`.
    Sender,
    /// `l`: the sender's local-part.
    LocalPart,
    /// `o`: the sender's domain.
    SenderDomain,
    /// `d`: the domain being checked.
    Domain,
    /// `i`: the client IP, dotted (nibbles for IPv6).
    Ip,
    /// `p`: a validated domain name of the client IP.
    ValidatedName,
    /// `v`: `in-addr` or `ip6`.
    IpVersion,
    /// `h`: the HELO/EHLO domain.
    Helo,
    /// `c`: the client IP in its normal text form (explanations only).
    ClientIp,
    /// `r`: the receiving host's domain (explanations only).
    Receiver,
    /// `t`: the current time in seconds since the epoch (explanations only).
    Timestamp,
}

impl MacroLetter {
    fn from_char(c: char, in_explanation: bool) -> Option<Self> {
        Some(match c.to_ascii_lowercase() {
            's' => Self::Sender,
            'l' => Self::LocalPart,
            'o' => Self::SenderDomain,
            'd' => Self::Domain,
            'i' => Self::Ip,
            'p' => Self::ValidatedName,
            'v' => Self::IpVersion,
            'h' => Self::Helo,
            'c' if in_explanation => Self::ClientIp,
            'r' if in_explanation => Self::Receiver,
            't' if in_explanation => Self::Timestamp,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MacroToken {
    Literal(String),
    Expand {
        letter: MacroLetter,
        /// Keep this many right-hand parts (after reversal); `None` keeps all.
        keep: Option<usize>,
        reverse: bool,
        /// Characters that split the value into parts; empty means ".".
        delimiters: String,
        /// Uppercase macro letter: URL-encode the result.
        url_escape: bool,
    },
}

/// A parsed macro string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MacroString {
    pub tokens: Vec<MacroToken>,
}

/// Why a macro string is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacroError {
    #[error("'%' not followed by '{{', '%', '_' or '-'")]
    BadPercent,
    #[error("unterminated macro")]
    Unterminated,
    #[error("unknown macro letter")]
    BadLetter,
    #[error("bad macro transformer or delimiter")]
    BadTransformer,
    #[error("character not allowed in a macro string")]
    BadCharacter,
}

impl MacroString {
    /// Parses a macro string. `in_explanation` allows spaces and the `c`, `r`, `t` letters
    /// (the explain-string grammar of section 6.2).
    pub fn parse(text: &str, in_explanation: bool) -> Result<Self, MacroError> {
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '%' => match chars.next() {
                    Some('%') => literal.push('%'),
                    Some('_') => literal.push(' '),
                    Some('-') => literal.push_str("%20"),
                    Some('{') => {
                        if !literal.is_empty() {
                            tokens.push(MacroToken::Literal(std::mem::take(&mut literal)));
                        }
                        tokens.push(parse_expand(&mut chars, in_explanation)?);
                    }
                    _ => return Err(MacroError::BadPercent),
                },
                ' ' if in_explanation => literal.push(' '),
                '\x21'..='\x7e' => literal.push(c),
                _ => return Err(MacroError::BadCharacter),
            }
        }
        if !literal.is_empty() {
            tokens.push(MacroToken::Literal(literal));
        }
        Ok(Self { tokens })
    }

    /// True when the string ends with a macro expansion (a valid domain-end by itself).
    pub fn ends_with_macro(&self) -> bool {
        matches!(self.tokens.last(), Some(MacroToken::Expand { .. }))
    }

    /// The literal text after the last macro (the whole string when there is none).
    pub fn literal_tail(&self) -> &str {
        match self.tokens.last() {
            Some(MacroToken::Literal(text)) => text,
            _ => "",
        }
    }

    /// Expands the string. Output is capped at [`MAX_EXPANSION`] octets.
    pub fn expand(&self, values: &MacroValues<'_>) -> String {
        let mut out = String::new();
        for token in &self.tokens {
            match token {
                MacroToken::Literal(text) => out.push_str(text),
                MacroToken::Expand {
                    letter,
                    keep,
                    reverse,
                    delimiters,
                    url_escape,
                } => {
                    let value = values.value(*letter);
                    let transformed = transform(&value, *keep, *reverse, delimiters);
                    if *url_escape {
                        url_encode_into(&transformed, &mut out);
                    } else {
                        out.push_str(&transformed);
                    }
                }
            }
            if out.len() > MAX_EXPANSION {
                let mut end = MAX_EXPANSION;
                while !out.is_char_boundary(end) {
                    end -= 1;
                }
                out.truncate(end);
                break;
            }
        }
        out
    }
}

fn parse_expand(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    in_explanation: bool,
) -> Result<MacroToken, MacroError> {
    let letter_char = chars.next().ok_or(MacroError::Unterminated)?;
    let letter =
        MacroLetter::from_char(letter_char, in_explanation).ok_or(MacroError::BadLetter)?;
    let mut keep: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        let current = keep.unwrap_or(0);
        keep = Some((current * 10 + d as usize).min(MAX_DIGITS));
    }
    if keep == Some(0) {
        // "If a DIGIT is specified, the value MUST be nonzero."
        return Err(MacroError::BadTransformer);
    }
    let mut reverse = false;
    if matches!(chars.peek(), Some('r' | 'R')) {
        chars.next();
        reverse = true;
    }
    let mut delimiters = String::new();
    loop {
        match chars.next() {
            Some('}') => break,
            Some(c @ ('.' | '-' | '+' | ',' | '/' | '_' | '=')) => delimiters.push(c),
            Some(_) => return Err(MacroError::BadTransformer),
            None => return Err(MacroError::Unterminated),
        }
    }
    Ok(MacroToken::Expand {
        letter,
        keep,
        reverse,
        delimiters,
        url_escape: letter_char.is_ascii_uppercase(),
    })
}

fn transform(value: &str, keep: Option<usize>, reverse: bool, delimiters: &str) -> String {
    if keep.is_none() && !reverse && delimiters.is_empty() {
        return value.to_string();
    }
    let split_on = |c: char| {
        if delimiters.is_empty() {
            c == '.'
        } else {
            delimiters.contains(c)
        }
    };
    let mut parts: Vec<&str> = value.split(split_on).collect();
    if reverse {
        parts.reverse();
    }
    let skip = keep.map_or(0, |keep| parts.len().saturating_sub(keep));
    parts[skip..].join(".")
}

/// URL-encodes everything outside RFC 3986's unreserved set, as section 7.3 asks for
/// uppercase macro letters.
fn url_encode_into(value: &str, out: &mut String) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// The values macros expand to in one check_host() call.
#[derive(Debug, Clone)]
pub struct MacroValues<'a> {
    pub sender: &'a str,
    pub local_part: &'a str,
    pub sender_domain: &'a str,
    pub domain: &'a str,
    pub ip: std::net::IpAddr,
    pub helo: &'a str,
    pub receiver: &'a str,
    /// The `p` value, resolved before expansion when the string uses it.
    pub validated_name: &'a str,
    pub timestamp: u64,
}

impl MacroValues<'_> {
    fn value(&self, letter: MacroLetter) -> String {
        use std::net::IpAddr;
        match letter {
            MacroLetter::Sender => self.sender.to_string(),
            MacroLetter::LocalPart => self.local_part.to_string(),
            MacroLetter::SenderDomain => self.sender_domain.to_string(),
            MacroLetter::Domain => self.domain.to_string(),
            MacroLetter::Ip => match self.ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => {
                    let mut out = String::with_capacity(63);
                    for byte in v6.octets() {
                        for nibble in [byte >> 4, byte & 0xf] {
                            if !out.is_empty() {
                                out.push('.');
                            }
                            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                        }
                    }
                    out
                }
            },
            MacroLetter::ValidatedName => self.validated_name.to_string(),
            MacroLetter::IpVersion => match self.ip {
                IpAddr::V4(_) => "in-addr".to_string(),
                IpAddr::V6(_) => "ip6".to_string(),
            },
            MacroLetter::Helo => self.helo.to_string(),
            MacroLetter::ClientIp => self.ip.to_string(),
            MacroLetter::Receiver => self.receiver.to_string(),
            MacroLetter::Timestamp => self.timestamp.to_string(),
        }
    }
}

impl MacroString {
    /// True when expanding needs the `p` macro (and so a PTR lookup).
    pub fn uses_validated_name(&self) -> bool {
        self.tokens.iter().any(|t| {
            matches!(
                t,
                MacroToken::Expand {
                    letter: MacroLetter::ValidatedName,
                    ..
                }
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> MacroValues<'static> {
        MacroValues {
            sender: "strong-bad@email.example.com",
            local_part: "strong-bad",
            sender_domain: "email.example.com",
            domain: "email.example.com",
            ip: "192.0.2.3".parse().unwrap(),
            helo: "mx.example.org",
            receiver: "unknown",
            validated_name: "unknown",
            timestamp: 0,
        }
    }

    fn expand(s: &str) -> String {
        MacroString::parse(s, false).unwrap().expand(&values())
    }

    #[test]
    fn rfc_examples() {
        assert_eq!(expand("%{s}"), "strong-bad@email.example.com");
        assert_eq!(expand("%{o}"), "email.example.com");
        assert_eq!(expand("%{d}"), "email.example.com");
        assert_eq!(expand("%{d4}"), "email.example.com");
        assert_eq!(expand("%{d3}"), "email.example.com");
        assert_eq!(expand("%{d2}"), "example.com");
        assert_eq!(expand("%{d1}"), "com");
        assert_eq!(expand("%{dr}"), "com.example.email");
        assert_eq!(expand("%{d2r}"), "example.email");
        assert_eq!(expand("%{l}"), "strong-bad");
        assert_eq!(expand("%{l-}"), "strong.bad");
        assert_eq!(expand("%{lr}"), "strong-bad");
        assert_eq!(expand("%{lr-}"), "bad.strong");
        assert_eq!(expand("%{l1r-}"), "strong");
        assert_eq!(
            expand("%{ir}.%{v}._spf.%{d2}"),
            "3.2.0.192.in-addr._spf.example.com"
        );
        assert_eq!(
            expand("%{lr-}.lp._spf.%{d2}"),
            "bad.strong.lp._spf.example.com"
        );
    }

    #[test]
    fn ipv6_nibbles() {
        let mut v = values();
        v.ip = "2001:db8::cb01".parse().unwrap();
        let s = MacroString::parse("%{ir}.%{v}._spf.%{d2}", false)
            .unwrap()
            .expand(&v);
        assert_eq!(
            s,
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
        );
    }

    #[test]
    fn url_escaping_and_escapes() {
        assert_eq!(expand("%{S}"), "strong-bad%40email.example.com");
        assert_eq!(expand("a%%b%_c%-d"), "a%b c%20d");
    }

    #[test]
    fn malformed() {
        assert!(MacroString::parse("%{d0}", false).is_err());
        assert!(MacroString::parse("%{x}", false).is_err());
        assert!(MacroString::parse("%{c}", false).is_err());
        assert!(MacroString::parse("%{c}", true).is_ok());
        assert!(MacroString::parse("%{d", false).is_err());
        assert!(MacroString::parse("%", false).is_err());
        assert!(MacroString::parse("%a", false).is_err());
        assert!(MacroString::parse("a b", false).is_err());
        assert!(MacroString::parse("%{d99999999999999999999}", false).is_ok());
    }
}
