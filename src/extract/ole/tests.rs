use std::time::Duration;

use super::*;
use crate::extract::samples;

fn text(ole: &[u8]) -> Result<String, Uninspectable> {
    let mut s = String::new();
    extract(ole, &mut Budget::unlimited(), &mut |t| s.push_str(t))?;
    Ok(s)
}

fn record(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut r = kind.to_le_bytes().to_vec();
    r.extend_from_slice(&(body.len() as u16).to_le_bytes());
    r.extend_from_slice(body);
    r
}

#[test]
fn word_document_and_msg_subject() {
    let s = text(&samples::ole_doc(
        "Kia ora, Māori text\nIRD number 136-410-132\x07049-091-850\x07",
    ))
    .unwrap();
    assert!(s.contains("IRD number 136-410-132\n049-091-850\n"), "{s:?}");
    assert!(s.contains("Kia ora, Māori text"));
}

#[test]
fn eight_bit_runs_and_short_noise() {
    let mut stream = b"\x01\x02ab\x00IRD 136410132\x00\xff\xfe".to_vec();
    stream.extend("UTF-16 run".encode_utf16().flat_map(u16::to_le_bytes));
    let s = text(&samples::compound_file(&[("/Contents", stream)])).unwrap();
    assert_eq!(s, "UTF-16 run\nIRD 136410132\n");
}

#[test]
fn excel_number_cells() {
    let mut number = vec![0u8; 6];
    number.extend_from_slice(&136410132.0f64.to_le_bytes());
    let rk_int = (49091850u32 << 2) | 2;
    let mut rk = vec![0u8; 6];
    rk.extend_from_slice(&rk_int.to_le_bytes());
    let mut mulrk = vec![0u8; 4];
    for v in [12345678u32, 7] {
        mulrk.extend_from_slice(&[0, 0]);
        mulrk.extend_from_slice(&((v << 2) | 2).to_le_bytes());
    }
    mulrk.extend_from_slice(&[1, 0]);
    let mut half = vec![0u8; 6];
    half.extend_from_slice(&0.5f64.to_le_bytes());
    let book = [
        record(0x0809, &[0; 16]),
        record(0x0203, &number),
        record(0x027e, &rk),
        record(0x00bd, &mulrk),
        record(0x0203, &half),
    ]
    .concat();
    let s = text(&samples::compound_file(&[("/Workbook", book)])).unwrap();
    assert!(s.starts_with("136410132\n49091850\n12345678\n7\n"), "{s:?}");
    assert!(!s.contains("0.5"));
}

#[test]
fn encrypted_documents() {
    assert_eq!(
        text(&samples::ole_encrypted()),
        Err(Uninspectable::EncryptedOffice)
    );
    assert_eq!(
        text(&samples::ole_encrypted_package()),
        Err(Uninspectable::EncryptedOffice)
    );
    let book = [
        record(0x0809, &[0; 16]),
        record(0x0086, &[0, 0]),
        record(0x002f, &[1, 0, 1, 0]),
    ]
    .concat();
    assert_eq!(
        text(&samples::compound_file(&[("/Workbook", book)])),
        Err(Uninspectable::EncryptedOffice)
    );
    let mut user = vec![0u8; 12];
    user.extend_from_slice(&0xf3d1_c4dfu32.to_le_bytes());
    let ppt = samples::compound_file(&[
        ("/Current User", user),
        ("/PowerPoint Document", vec![0; 64]),
    ]);
    assert_eq!(text(&ppt), Err(Uninspectable::EncryptedOffice));
}

#[test]
fn damaged_files_are_errors_not_panics() {
    assert!(matches!(
        text(b"not an OLE file at all"),
        Err(Uninspectable::Damaged(_))
    ));
    let good = samples::ole_doc("IRD number 136-410-132");
    for cut in (0..good.len()).step_by(97) {
        let _ = text(&good[..cut]);
    }
    let mut flipped = good.clone();
    for i in (0..flipped.len()).step_by(61) {
        flipped[i] ^= 0xa5;
    }
    let _ = text(&flipped);
}

#[test]
fn budget_exhaustion_is_an_error() {
    let ole = samples::ole_doc(&"136-410-132 ".repeat(20_000));
    let mut budget = Budget::new(50_000, Duration::from_secs(60));
    assert_eq!(
        extract(&ole, &mut budget, &mut |_| {}),
        Err(Uninspectable::ByteBudget(50_000))
    );
}
