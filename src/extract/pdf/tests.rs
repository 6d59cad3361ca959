use std::time::Duration;

use super::*;
use crate::extract::samples;

const IRD: &str = "IRD number 136-410-132";

fn text(pdf: &[u8]) -> Result<String, Uninspectable> {
    let mut s = String::new();
    extract(pdf, &mut Budget::unlimited(), &mut |t| s.push_str(t))?;
    Ok(s)
}

#[test]
fn plain_and_flate_content() {
    let body = "Dear client,\nIRD number 136-410-132\n(escaped) \\ café";
    for pdf in [samples::pdf_plain(body), samples::pdf_flate(body)] {
        assert_eq!(text(&pdf).unwrap(), body);
    }
}

#[test]
fn tounicode_hex_strings() {
    let body = "Ngā mihi\nIRD number 136-410-132 €5";
    assert_eq!(text(&samples::pdf_tounicode(body)).unwrap(), body);
}

#[test]
fn object_stream_fonts() {
    let s = text(&samples::pdf_object_stream(IRD)).unwrap();
    assert_eq!(s, IRD);
}

#[test]
fn encrypted_is_uninspectable() {
    assert_eq!(
        text(&samples::pdf_encrypted()),
        Err(Uninspectable::EncryptedPdf)
    );
}

#[test]
fn text_heavy_sample_reads() {
    let pdf = samples::pdf_text_heavy(300_000);
    let s = text(&pdf).unwrap();
    assert!(s.matches("IRD number 136-410-132,").count() > 10);
    assert!(s.contains("taxpayer") || s.contains("assessment"));
    assert!(!s.contains("tax payer") && !s.contains("assess ment"));
}

#[test]
fn budget_exhaustion_is_an_error() {
    let pdf = samples::pdf_text_heavy(300_000);
    let mut budget = Budget::new(100_000, Duration::from_secs(60));
    let err = extract(&pdf, &mut budget, &mut |_| {}).unwrap_err();
    assert_eq!(err, Uninspectable::ByteBudget(100_000));
}

#[test]
fn decompression_bomb_in_a_stream() {
    let bomb = samples::deflate(&vec![b' '; 64 << 20]);
    let mut pdf = b"%PDF-1.4\n1 0 obj << /Type /Page /Contents 2 0 R >> endobj\n".to_vec();
    pdf.extend_from_slice(
        format!(
            "2 0 obj << /Length {} /Filter /FlateDecode >> stream\n",
            bomb.len()
        )
        .as_bytes(),
    );
    pdf.extend_from_slice(&bomb);
    pdf.extend_from_slice(b"\nendstream endobj\n");
    let mut budget = Budget::new(8 << 20, Duration::from_secs(60));
    assert_eq!(
        extract(&pdf, &mut budget, &mut |_| {}),
        Err(Uninspectable::ByteBudget(8 << 20))
    );
}

#[test]
fn damaged_files_do_not_panic() {
    let good = samples::pdf_object_stream(IRD);
    for cut in (0..good.len()).step_by(7) {
        let _ = text(&good[..cut]);
    }
    let mut flipped = samples::pdf_tounicode(IRD);
    for i in (0..flipped.len()).step_by(13) {
        flipped[i] ^= 0x55;
    }
    let _ = text(&flipped);
    assert!(matches!(text(b"not a pdf"), Err(Uninspectable::Damaged(_))));
    let hostile = b"%PDF-1.7\n"
        .iter()
        .chain(b"1 0 obj [[[[[[(((((".repeat(20_000).iter())
        .copied()
        .collect::<Vec<u8>>();
    let _ = text(&hostile);
    let huge = b"%PDF-1.4\n1 0 obj << /Length 99999999999 /Filter /FlateDecode >> stream\nxx";
    assert_eq!(text(huge).unwrap(), "");
}

#[test]
fn forms_and_broken_page_tree() {
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Page /Resources << /XObject << /X1 3 0 R >> >> /Contents 2 0 R >> endobj\n\
        2 0 obj << /Length 20 >> stream\nBT (head) Tj ET /X1 Do\nendstream endobj\n\
        3 0 obj << /Subtype /Form /Length 28 >> stream\nBT (136-410-132) Tj ET\nendstream endobj\n";
    assert_eq!(text(pdf).unwrap(), "head\n136-410-132");
    let orphan =
        b"%PDF-1.4\n2 0 obj << /Length 26 >> stream\nBT (049-091-850) Tj ET\nendstream endobj\n";
    assert_eq!(text(orphan).unwrap(), "049-091-850");
}

#[test]
fn glyph_widths_glue_runs_placed_one_glyph_at_a_time() {
    let widths = "500 ".repeat(95);
    let content = "BT /F1 10 Tf 1 0 0 1 100 700 Tm (1) Tj 1 0 0 1 105 700 Tm (3) Tj \
        1 0 0 1 110 700 Tm (6-410-) Tj 1 0 0 1 141 700 Tm (132) Tj 1 0 0 1 200 700 Tm (049) Tj ET";
    let pdf = format!(
        "%PDF-1.4\n1 0 obj << /Type /Page /Resources << /Font << /F1 2 0 R >> >> /Contents 3 0 R >> endobj\n\
         2 0 obj << /Type /Font /Subtype /TrueType /FirstChar 32 /Widths [{widths}] >> endobj\n\
         3 0 obj << /Length {} >> stream\n{content}\nendstream endobj\n",
        content.len()
    );
    assert_eq!(text(pdf.as_bytes()).unwrap(), "136-410-132 049");
}

#[test]
fn random_bytes_do_not_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let tokens: &[&[u8]] = &[
        b"obj ",
        b"endobj ",
        b"stream\n",
        b"endstream ",
        b"<<",
        b">>",
        b"[",
        b"]",
        b"(",
        b")",
        b"<",
        b">",
        b"/Type /Page ",
        b"/Contents ",
        b" 0 R ",
        b"/Filter /FlateDecode ",
        b"/Length ",
        b"BT ",
        b"Tj ",
        b"TJ ",
        b"Tf ",
        b"/ObjStm ",
        b"/N 5 /First 3 ",
        b"trailer ",
        b"\\",
        b"12 ",
    ];
    for _ in 0..200 {
        let mut pdf = b"%PDF-1.7\n".to_vec();
        for _ in 0..300 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            pdf.extend_from_slice(tokens[(seed % tokens.len() as u64) as usize]);
            if seed.is_multiple_of(5) {
                pdf.push((seed >> 32) as u8);
            }
        }
        let _ = text(&pdf);
    }
}

#[test]
fn a_composite_font_without_a_unicode_map_is_uninspectable() {
    let readable = samples::pdf_tounicode("IRD 136-410-132");
    assert!(text(&readable).unwrap().contains("136-410-132"));
    // Same length, so offsets stay valid: the font no longer names its CMap.
    let mut hidden = readable.clone();
    let at = memchr::memmem::find(&hidden, b"/ToUnicode").expect("the sample has a CMap");
    hidden[at..at + 10].copy_from_slice(b"/NoUnicode");
    assert!(matches!(text(&hidden), Err(Uninspectable::Damaged(_))));
}
