//! The key=value marking syntax of the `X-Protective-Marking` header and of the
//! subject form `[SEC=..., CAVEAT=...]`:
//! `VER=2018.1, NS=govt.nz, SEC=RESTRICTED, CAVEAT=SH:NZEO, ORIGIN=a@agency.govt.nz`.
//! Keys come in the order VER, NS, SEC, CAVEAT*, EXPIRES, DOWNTO, ACCESS*, NOTE, ORIGIN;
//! values are at most 128 printable characters with `,` and `\` escaped by `\`.

use std::borrow::Cow;

/// Longest value the syntax allows.
pub const MAX_VALUE_LEN: usize = 128;

/// The keys, in the order the syntax requires.
const KEYS: [&str; 9] = [
    "VER", "NS", "SEC", "CAVEAT", "EXPIRES", "DOWNTO", "ACCESS", "NOTE", "ORIGIN",
];

/// Keys that may repeat.
fn repeatable(key_idx: usize) -> bool {
    matches!(KEYS[key_idx], "CAVEAT" | "ACCESS")
}

/// One parsed key=value marking. Parsing never fails: every problem is listed and
/// whatever could be read is kept, so a broken header still raises the ceiling checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyValueMarking {
    pub ver: Option<String>,
    pub ns: Option<String>,
    pub sec: Option<String>,
    pub caveats: Vec<String>,
    pub downto: Option<String>,
    /// Why the value is malformed; empty when it is well formed.
    pub problems: Vec<String>,
}

/// Whether a subject bracket holds the key=value form (`SEC=` first, any case).
pub fn looks_like_key_value(content: &str) -> bool {
    let t = content.trim_start();
    t.len() >= 4 && t.as_bytes()[..3].eq_ignore_ascii_case(b"SEC") && {
        let rest = t[3..].trim_start();
        rest.starts_with('=')
    }
}

/// Parses a key=value marking. `strict` (the header) also checks key order and
/// requires SEC; the subject form only needs SEC.
pub fn parse(value: &str, strict: bool) -> KeyValueMarking {
    let mut out = KeyValueMarking::default();
    let mut last_key: Option<usize> = None;
    for item in split_items(value, &mut out.problems) {
        let item = item.trim_matches(|c: char| c.is_whitespace());
        if item.is_empty() {
            out.problems.push("empty item (stray comma)".into());
            continue;
        }
        let Some((key, val)) = item.split_once('=') else {
            out.problems
                .push(format!("item {:?} is not KEY=VALUE", clip(item)));
            continue;
        };
        let key = key.trim();
        let val = val.trim();
        let Some(k) = KEYS.iter().position(|k| k.eq_ignore_ascii_case(key)) else {
            out.problems.push(format!("unknown key {:?}", clip(key)));
            continue;
        };
        if val.chars().count() > MAX_VALUE_LEN {
            out.problems.push(format!(
                "{} value longer than {MAX_VALUE_LEN} characters",
                KEYS[k]
            ));
        }
        if val.chars().any(char::is_control) {
            out.problems
                .push(format!("{} value holds control characters", KEYS[k]));
        }
        if let Some(prev) = last_key
            && strict
            && (k < prev || (k == prev && !repeatable(k)))
        {
            out.problems
                .push(format!("key {} out of order or repeated", KEYS[k]));
        }
        last_key = Some(last_key.map_or(k, |p| p.max(k)));
        let val = val.to_string();
        match KEYS[k] {
            "VER" => out.ver = Some(val),
            "NS" => out.ns = Some(val),
            "SEC" if out.sec.is_some() => out.problems.push("SEC given twice".into()),
            "SEC" => out.sec = Some(val),
            "CAVEAT" => out.caveats.push(val),
            "DOWNTO" => out.downto = Some(val),
            _ => {}
        }
    }
    if out.sec.is_none() {
        out.problems.push("no SEC= key".into());
    }
    out
}

/// Splits on unescaped commas and undoes `\,` and `\\`. Items are borrowed
/// unless the value has escapes or line breaks (every message's header is parsed).
fn split_items<'a>(value: &'a str, problems: &mut Vec<String>) -> Vec<Cow<'a, str>> {
    if !value.contains(['\\', '\r', '\n', '\t']) {
        return value.split(',').map(Cow::Borrowed).collect();
    }
    let mut items = vec![String::new()];
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        let cur = items.last_mut().expect("items starts non-empty");
        match c {
            '\\' => match chars.next() {
                Some(e @ (',' | '\\')) => cur.push(e),
                Some(other) => {
                    problems.push(format!("bad escape \\{other}"));
                    cur.push(other);
                }
                None => problems.push("value ends with a lone backslash".into()),
            },
            ',' => items.push(String::new()),
            // Folding leaves CR/LF/TAB behind when a value was not unfolded upstream.
            '\r' | '\n' | '\t' => cur.push(' '),
            _ => cur.push(c),
        }
    }
    items.into_iter().map(Cow::Owned).collect()
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_header() {
        let m = parse(
            "VER=2018.1, NS=govt.nz, SEC=RESTRICTED, CAVEAT=SH:NZEO, CAVEAT=SH:BUDGET,\n ORIGIN=a@agency.govt.nz",
            true,
        );
        assert_eq!(m.problems, Vec::<String>::new());
        assert_eq!(m.sec.as_deref(), Some("RESTRICTED"));
        assert_eq!(m.ns.as_deref(), Some("govt.nz"));
        assert_eq!(m.caveats, ["SH:NZEO", "SH:BUDGET"]);
    }

    #[test]
    fn unescapes_commas_and_backslashes() {
        let m = parse(
            r"VER=2018.1, NS=govt.nz, SEC=SECRET, CAVEAT=RI:REL TO NZL\, AUS, NOTE=a\\b",
            true,
        );
        assert_eq!(m.problems, Vec::<String>::new());
        assert_eq!(m.caveats, ["RI:REL TO NZL, AUS"]);
    }

    #[test]
    fn reports_every_problem_but_keeps_sec() {
        let m = parse("SEC=SENSITIVE, VER=2018.1, BOGUS=1, junk, NOTE=x\\q", true);
        assert_eq!(m.sec.as_deref(), Some("SENSITIVE"));
        assert_eq!(m.problems.len(), 4, "{:?}", m.problems);
        assert!(parse("VER=1, NS=govt.nz", true).problems[0].contains("SEC"));
        let long = format!("SEC=SENSITIVE, NOTE={}", "x".repeat(129));
        assert_eq!(parse(&long, true).problems.len(), 1);
    }

    #[test]
    fn subject_form_is_lenient_on_order() {
        let m = parse("SEC=IN-CONFIDENCE, CAVEAT=SH:MEDICAL", false);
        assert!(m.problems.is_empty());
        assert!(looks_like_key_value(" sec = x"));
        assert!(!looks_like_key_value("SECRET"));
    }
}
