//! SPF record syntax (RFC 7208 sections 4.5, 4.6 and 12): strict parsing, so that any
//! syntax error anywhere in a record is a permerror before evaluation starts.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::macros::{MacroError, MacroString};

/// A mechanism's qualifier (section 4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

/// A mechanism (section 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    All,
    Include(MacroString),
    A {
        domain: Option<MacroString>,
        v4_prefix: u8,
        v6_prefix: u8,
    },
    Mx {
        domain: Option<MacroString>,
        v4_prefix: u8,
        v6_prefix: u8,
    },
    Ptr(Option<MacroString>),
    Ip4 {
        network: Ipv4Addr,
        prefix: u8,
    },
    Ip6 {
        network: Ipv6Addr,
        prefix: u8,
    },
    Exists(MacroString),
}

impl Mechanism {
    /// True for the mechanisms that count toward the 10-lookup limit (section 4.6.4).
    pub fn queries_dns(&self) -> bool {
        !matches!(self, Self::All | Self::Ip4 { .. } | Self::Ip6 { .. })
    }
}

/// A qualified mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub qualifier: Qualifier,
    pub mechanism: Mechanism,
}

/// A parsed SPF record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub directives: Vec<Directive>,
    pub redirect: Option<MacroString>,
    pub explanation: Option<MacroString>,
}

/// Why a record is malformed: every variant is a permerror.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record is not 7-bit ASCII")]
    NotAscii,
    #[error("record does not start with v=spf1")]
    NotSpf,
    #[error("unknown mechanism or malformed term '{0}'")]
    BadTerm(String),
    #[error("modifier '{0}' appears twice")]
    DuplicateModifier(&'static str),
    #[error("bad CIDR length in '{0}'")]
    BadCidr(String),
    #[error("bad IP address in '{0}'")]
    BadAddress(String),
    #[error("bad domain-spec in '{0}'")]
    BadDomainSpec(String),
    #[error("bad macro in '{term}': {error}")]
    BadMacro { term: String, error: MacroError },
}

/// True when a TXT record is an SPF version 1 record (section 4.5): `v=spf1` followed by
/// a space or the end, compared case-insensitively.
pub fn is_spf_record(txt: &[u8]) -> bool {
    txt.len() >= 6 && txt[..6].eq_ignore_ascii_case(b"v=spf1") && (txt.len() == 6 || txt[6] == b' ')
}

impl Record {
    /// Parses a record selected by [`is_spf_record`].
    pub fn parse(txt: &[u8]) -> Result<Self, RecordError> {
        let text = std::str::from_utf8(txt).map_err(|_| RecordError::NotAscii)?;
        if !text.is_ascii() {
            return Err(RecordError::NotAscii);
        }
        if !is_spf_record(txt) {
            return Err(RecordError::NotSpf);
        }
        let mut record = Record::default();
        // Terms are separated by one or more SP; any other whitespace is a syntax error
        // (it fails the per-term grammar below).
        for term in text[6..].split(' ').filter(|t| !t.is_empty()) {
            if let Some((name, value)) = split_modifier(term) {
                parse_modifier(&mut record, term, name, value)?;
            } else {
                record.directives.push(parse_directive(term)?);
            }
        }
        Ok(record)
    }
}

/// `name=value` when `term` is syntactically a modifier: name = ALPHA *( ALPHA / DIGIT /
/// "-" / "_" / "." ) followed by "=".
fn split_modifier(term: &str) -> Option<(&str, &str)> {
    let end = term
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(term.len());
    if term[end..].starts_with('=') {
        Some((&term[..end], &term[end + 1..]))
    } else {
        None
    }
}

fn parse_modifier(
    record: &mut Record,
    term: &str,
    name: &str,
    value: &str,
) -> Result<(), RecordError> {
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(RecordError::BadTerm(term.to_string()));
    }
    if name.eq_ignore_ascii_case("redirect") {
        if record.redirect.is_some() {
            return Err(RecordError::DuplicateModifier("redirect"));
        }
        record.redirect = Some(parse_domain_spec(term, value)?);
    } else if name.eq_ignore_ascii_case("exp") {
        if record.explanation.is_some() {
            return Err(RecordError::DuplicateModifier("exp"));
        }
        record.explanation = Some(parse_domain_spec(term, value)?);
    } else {
        // Unknown modifiers are ignored, but must still be well-formed (section 6).
        MacroString::parse(value, false).map_err(|error| RecordError::BadMacro {
            term: term.to_string(),
            error,
        })?;
    }
    Ok(())
}

fn parse_directive(term: &str) -> Result<Directive, RecordError> {
    let (qualifier, rest) = match term.as_bytes().first() {
        Some(b'+') => (Qualifier::Pass, &term[1..]),
        Some(b'-') => (Qualifier::Fail, &term[1..]),
        Some(b'~') => (Qualifier::SoftFail, &term[1..]),
        Some(b'?') => (Qualifier::Neutral, &term[1..]),
        _ => (Qualifier::Pass, term),
    };
    let name_end = rest.find([':', '/']).unwrap_or(rest.len());
    let (name, args) = rest.split_at(name_end);
    let bad = || RecordError::BadTerm(term.to_string());
    let mechanism = match name.to_ascii_lowercase().as_str() {
        "all" => {
            if !args.is_empty() {
                return Err(bad());
            }
            Mechanism::All
        }
        "include" => Mechanism::Include(required_domain(term, args)?),
        "exists" => Mechanism::Exists(required_domain(term, args)?),
        "ptr" => Mechanism::Ptr(optional_domain(term, args)?),
        "a" | "mx" => {
            let (spec, v4_prefix, v6_prefix) = split_dual_cidr(term, args)?;
            let domain = optional_domain(term, spec)?;
            if name.eq_ignore_ascii_case("a") {
                Mechanism::A {
                    domain,
                    v4_prefix,
                    v6_prefix,
                }
            } else {
                Mechanism::Mx {
                    domain,
                    v4_prefix,
                    v6_prefix,
                }
            }
        }
        "ip4" => {
            let value = args.strip_prefix(':').ok_or_else(bad)?;
            let (address, prefix) = split_cidr(term, value, 32)?;
            let network = address
                .parse::<Ipv4Addr>()
                .map_err(|_| RecordError::BadAddress(term.to_string()))?;
            Mechanism::Ip4 {
                network,
                prefix: prefix.unwrap_or(32),
            }
        }
        "ip6" => {
            let value = args.strip_prefix(':').ok_or_else(bad)?;
            let (address, prefix) = split_cidr(term, value, 128)?;
            let network = address
                .parse::<Ipv6Addr>()
                .map_err(|_| RecordError::BadAddress(term.to_string()))?;
            Mechanism::Ip6 {
                network,
                prefix: prefix.unwrap_or(128),
            }
        }
        _ => return Err(bad()),
    };
    Ok(Directive {
        qualifier,
        mechanism,
    })
}

/// `:domain-spec` that must be present (include, exists).
fn required_domain(term: &str, args: &str) -> Result<MacroString, RecordError> {
    let spec = args
        .strip_prefix(':')
        .ok_or_else(|| RecordError::BadTerm(term.to_string()))?;
    parse_domain_spec(term, spec)
}

/// Optional `:domain-spec` (a, mx, ptr); anything else after the name is an error.
fn optional_domain(term: &str, args: &str) -> Result<Option<MacroString>, RecordError> {
    if args.is_empty() {
        return Ok(None);
    }
    let spec = args
        .strip_prefix(':')
        .ok_or_else(|| RecordError::BadTerm(term.to_string()))?;
    parse_domain_spec(term, spec).map(Some)
}

/// Splits `[:domain-spec][/ip4-cidr][//ip6-cidr]`, returning the part before the CIDRs.
fn split_dual_cidr<'a>(term: &str, args: &'a str) -> Result<(&'a str, u8, u8), RecordError> {
    let mut rest = args;
    let mut v6 = 128;
    let mut v4 = 32;
    if let Some(at) = rest.rfind("//") {
        v6 = parse_cidr_length(term, &rest[at + 2..], 128)?;
        rest = &rest[..at];
    }
    if let Some(at) = rest.rfind('/') {
        let digits = &rest[at + 1..];
        // A '/' inside the domain-spec (a macro literal) is not a CIDR unless all digits.
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            v4 = parse_cidr_length(term, digits, 32)?;
            rest = &rest[..at];
        } else if rest.len() == at + 1 || !rest.starts_with(':') {
            return Err(RecordError::BadCidr(term.to_string()));
        }
    }
    Ok((rest, v4, v6))
}

/// Splits `address[/len]` for ip4/ip6.
fn split_cidr<'a>(
    term: &str,
    value: &'a str,
    max: u8,
) -> Result<(&'a str, Option<u8>), RecordError> {
    match value.split_once('/') {
        None => Ok((value, None)),
        Some((address, length)) => Ok((address, Some(parse_cidr_length(term, length, max)?))),
    }
}

/// A CIDR length: "0" or digits without a leading zero, at most `max`.
fn parse_cidr_length(term: &str, digits: &str, max: u8) -> Result<u8, RecordError> {
    let bad = || RecordError::BadCidr(term.to_string());
    if digits.is_empty()
        || digits.len() > 3
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return Err(bad());
    }
    let value: u16 = digits.parse().map_err(|_| bad())?;
    u8::try_from(value)
        .ok()
        .filter(|v| *v <= max)
        .ok_or_else(bad)
}

/// A domain-spec: a macro string whose end is a macro or "." toplabel ["."] (section 7.1).
fn parse_domain_spec(term: &str, spec: &str) -> Result<MacroString, RecordError> {
    let macro_string = MacroString::parse(spec, false).map_err(|error| RecordError::BadMacro {
        term: term.to_string(),
        error,
    })?;
    if macro_string.tokens.is_empty() {
        return Err(RecordError::BadDomainSpec(term.to_string()));
    }
    if !macro_string.ends_with_macro() && !has_domain_end(macro_string.literal_tail()) {
        return Err(RecordError::BadDomainSpec(term.to_string()));
    }
    Ok(macro_string)
}

/// True when `text` ends in "." toplabel with an optional final ".".
fn has_domain_end(text: &str) -> bool {
    let text = text.strip_suffix('.').unwrap_or(text);
    match text.rsplit_once('.') {
        Some((_, top)) => is_toplabel(top),
        None => false,
    }
}

/// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
pub fn is_toplabel(label: &str) -> bool {
    let bytes = label.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    {
        return false;
    }
    if bytes.contains(&b'-') {
        first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric()
    } else {
        bytes.iter().any(|b| b.is_ascii_alphabetic())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Record, RecordError> {
        Record::parse(s.as_bytes())
    }

    #[test]
    fn selects_version_1_only() {
        assert!(is_spf_record(b"v=spf1"));
        assert!(is_spf_record(b"V=SPF1 -all"));
        assert!(!is_spf_record(b"v=spf10"));
        assert!(!is_spf_record(b"v=spf1\t-all"));
    }

    #[test]
    fn parses_a_typical_record() {
        let record = parse("v=spf1 a mx/24 ip4:192.0.2.0/24 ip6:2001:db8::/32 include:_spf.example.com ~all exp=explain.%{d}").unwrap();
        assert_eq!(record.directives.len(), 6);
        assert_eq!(
            record.directives[1].mechanism,
            Mechanism::Mx {
                domain: None,
                v4_prefix: 24,
                v6_prefix: 128
            }
        );
        assert_eq!(record.directives[5].qualifier, Qualifier::SoftFail);
        assert!(record.explanation.is_some());
    }

    #[test]
    fn rejects_syntax_errors() {
        for bad in [
            "v=spf1 ip4:1.2.3.4/33",
            "v=spf1 ip6:::1/129",
            "v=spf1 ip4:1.2.3.4/032",
            "v=spf1 ip4:1.2.3",
            "v=spf1 ip4:1.2.3.4//32",
            "v=spf1 a:foo.example.com/",
            "v=spf1 a//129",
            "v=spf1 moo",
            "v=spf1 all:x",
            "v=spf1 all/8",
            "v=spf1 exists",
            "v=spf1 include:",
            "v=spf1 a:",
            "v=spf1 a:foo.1",
            "v=spf1 a:museum",
            "v=spf1 ptr/24",
            "v=spf1 redirect=a.example redirect=b.example",
            "v=spf1 exp=a.example exp=b.example",
            "v=spf1 exp=",
            "v=spf1 =foo",
            "v=spf1 1x=foo",
            "v=spf1 foo=%{x}",
            "v=spf1 -redirect=a.example",
            "v=spf1\t-all",
            "v=spf1 a:caf\u{e9}.example",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn accepts_edge_cases() {
        for good in [
            "v=spf1",
            "v=spf1 -all ",
            "v=spf1  -all",
            "v=spf1 moo.cow-far_out=man:dog/cat -all",
            "v=spf1 a:%{d}",
            "v=spf1 a:foo.example.com.",
            "v=spf1 a:foo.a-1",
            "v=spf1 a/0//0",
            "v=spf1 ip4:0.0.0.0/0 ip6:::/0",
        ] {
            assert!(parse(good).is_ok(), "{good} should be accepted");
        }
    }
}
