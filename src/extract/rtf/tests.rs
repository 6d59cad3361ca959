use std::time::Duration;

use super::*;
use crate::extract::samples;

fn text(rtf: &[u8]) -> Result<String, Uninspectable> {
    let mut s = String::new();
    extract(rtf, &mut Budget::unlimited(), &mut |t| s.push_str(t))?;
    Ok(s)
}

#[test]
fn sample_body_without_tables_info_or_pictures() {
    let body = "IRD number 136-410-132\nNgā mihi, café {x} \\ 😀";
    let s = text(&samples::rtf(body)).unwrap();
    assert_eq!(s, format!("{body}\n"));
    assert!(!s.contains("999-999-999") && !s.contains("123-123-123") && !s.contains("Msftedit"));
}

#[test]
fn escapes_unicode_and_code_pages() {
    let s = text(b"{\\rtf1\\ansi\\ansicpg1251 \\'c8\\'c4\\uc2\\u-3913\\'3f\\'3f 1\\_2\\~3\\tab 4}")
        .unwrap();
    assert_eq!(s, "\u{418}\u{414}\u{f0b7} 1-2 3\t4");
    let s = text(b"{\\rtf1\\ansi\\ansicpg932 \\'82\\'a0 \\u-10179 \\u-8704 ?}").unwrap();
    assert_eq!(s, "\u{3042} \u{1f600}");
}

#[test]
fn identifiers_stay_whole_and_cells_do_not_glue() {
    let s = text(b"{\\rtf1 {\\b 136}-{\\i 410}-132\\cell 049091850\\cell\\row}").unwrap();
    assert_eq!(s, "136-410-132\n049091850\n\n");
}

#[test]
fn bin_data_and_destinations_are_skipped() {
    let s = text(b"{\\rtf1 a{\\*\\unknown 111-111-111}{\\pict\\bin4 }}{}}b{\\object{\\*\\objdata 0102}{\\result c}}}").unwrap();
    assert_eq!(s, "abc");
}

#[test]
fn hostile_input_does_not_panic() {
    assert!(matches!(
        text(b"plain text"),
        Err(Uninspectable::Damaged(_))
    ));
    let deep = [
        b"{\\rtf1 ".as_slice(),
        &b"{".repeat(1_000_000),
        b"deep 136-410-132",
        &b"}".repeat(1_000_000),
    ]
    .concat();
    assert_eq!(text(&deep).unwrap(), "deep 136-410-132");
    for junk in [
        &b"{\\rtf1 \\'"[..],
        b"{\\rtf1 \\u",
        b"{\\rtf1 \\bin99999999999999 x",
        b"{\\rtf1 \\u-99999999999 \\uc-5 x",
        b"{\\rtf1 }}}}}x",
    ] {
        let _ = text(junk);
    }
}

#[test]
fn budget_exhaustion_is_an_error() {
    let rtf = samples::rtf(&"136-410-132 ".repeat(100_000));
    let mut budget = Budget::new(100_000, Duration::from_secs(60));
    assert_eq!(
        extract(&rtf, &mut budget, &mut |_| {}),
        Err(Uninspectable::ByteBudget(100_000))
    );
}

#[test]
fn random_bytes_do_not_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let tokens: &[&[u8]] = &[
        b"{", b"}", b"\\", b"\\'", b"\\u", b"-", b"12", b"\\bin", b"\\uc", b"\\*", b"a", b" ",
        b"\\par", b"\xe9",
    ];
    for _ in 0..200 {
        let mut rtf = b"{\\rtf1 ".to_vec();
        for _ in 0..300 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            rtf.extend_from_slice(tokens[(seed % tokens.len() as u64) as usize]);
        }
        let _ = text(&rtf);
    }
}
