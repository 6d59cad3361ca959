//! NHI (National Health Index) numbers, HISO 10046: the original `AAANNNC` format
//! (mod-11 check digit) and the 2022 `AAANNAX` format (mod-23 check letter). Letters
//! exclude I and O.

/// The NHI alphabet: A=1 ... Z=24, skipping I and O.
fn letter_value(b: u8) -> Option<u32> {
    match b {
        b'A'..=b'H' => Some(u32::from(b - b'A') + 1),
        b'J'..=b'N' => Some(u32::from(b - b'J') + 9),
        b'P'..=b'Z' => Some(u32::from(b - b'P') + 14),
        _ => None,
    }
}

const WEIGHTS: [u32; 6] = [7, 6, 5, 4, 3, 2];

/// Whether `s` (7 characters, upper-case letters and digits) is a valid NHI number
/// in either format. Lower-case letters are the caller's to upper-case.
pub fn nz_nhi(s: &[u8]) -> bool {
    if s.len() != 7 {
        return false;
    }
    let mut values = [0u32; 6];
    for i in 0..3 {
        match letter_value(s[i]) {
            Some(v) => values[i] = v,
            None => return false,
        }
    }
    for i in 3..5 {
        if !s[i].is_ascii_digit() {
            return false;
        }
        values[i] = u32::from(s[i] - b'0');
    }
    let sum = |v: &[u32; 6]| -> u32 { v.iter().zip(WEIGHTS).map(|(a, w)| a * w).sum() };
    if s[5].is_ascii_digit() && s[6].is_ascii_digit() {
        // Original format: mod 11; remainder 0 is never issued, 10 becomes 0.
        values[5] = u32::from(s[5] - b'0');
        let rem = sum(&values) % 11;
        if rem == 0 {
            return false;
        }
        let check = (11 - rem) % 10;
        u32::from(s[6] - b'0') == check
    } else {
        // 2022 format: letter, then a check letter worth 23 - (sum mod 23).
        let (Some(v5), Some(check)) = (letter_value(s[5]), letter_value(s[6])) else {
            return false;
        };
        values[5] = v5;
        check == 23 - sum(&values) % 23
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_examples() {
        // Test and example values published with HISO 10046 validators.
        for ok in [
            "ZZZ0016", "ZZZ0024", "ZAC5361", "WLD9413", "ZZZ00AC", "ZSC21TN", "ZBN77VL",
        ] {
            assert!(nz_nhi(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "ZZZ0044", "ZZZ00AA", "ZZZ0017", "ZSC21TP", "IOZ0016", "ZZ00016", "ZZZ001",
        ] {
            assert!(!nz_nhi(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn alphabet_skips_i_and_o() {
        assert_eq!(letter_value(b'H'), Some(8));
        assert_eq!(letter_value(b'J'), Some(9));
        assert_eq!(letter_value(b'N'), Some(13));
        assert_eq!(letter_value(b'P'), Some(14));
        assert_eq!(letter_value(b'Z'), Some(24));
        assert_eq!(letter_value(b'I'), None);
        assert_eq!(letter_value(b'O'), None);
    }

    #[test]
    fn one_check_character_per_body() {
        for body in ["ZZZ001", "ABC123", "XYZ987"] {
            let n = (b'0'..=b'9')
                .filter(|&c| nz_nhi(&[body.as_bytes(), &[c]].concat()))
                .count();
            assert!(n <= 1, "{body}");
        }
        for body in ["ZZZ00A", "ZSC21T", "ABC12D"] {
            let n = (b'A'..=b'Z')
                .filter(|&c| nz_nhi(&[body.as_bytes(), &[c]].concat()))
                .count();
            assert_eq!(n, 1, "{body}");
        }
    }
}
