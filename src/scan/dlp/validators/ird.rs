//! IRD (Inland Revenue) numbers: 8 or 9 digits, mod-11 check digit (Inland Revenue
//! RWT/NRWT specification, "IR number validation").

use super::{all_digits, digit};

const PRIMARY: [u32; 8] = [3, 2, 7, 6, 5, 4, 3, 2];
const SECONDARY: [u32; 8] = [7, 4, 3, 2, 5, 2, 7, 6];
const MIN: u64 = 10_000_000;
const MAX: u64 = 150_000_000;

/// Whether `digits` (8 or 9 ASCII digits, no separators) is a valid IRD number.
pub fn nz_ird(digits: &[u8]) -> bool {
    if !(8..=9).contains(&digits.len()) || !all_digits(digits) {
        return false;
    }
    let value = digits
        .iter()
        .fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0'));
    if !(MIN..=MAX).contains(&value) {
        return false;
    }
    // The base number is everything but the check digit, left-padded to 8 digits.
    let (body, check) = digits.split_at(digits.len() - 1);
    let mut base = [0u32; 8];
    let pad = 8 - body.len();
    for (i, &b) in body.iter().enumerate() {
        base[pad + i] = digit(b).unwrap_or(0);
    }
    let expected = match check_digit(&base, &PRIMARY) {
        10 => check_digit(&base, &SECONDARY),
        d => d,
    };
    expected < 10 && digit(check[0]) == Some(expected)
}

/// 0 when the weighted sum divides by 11, otherwise 11 minus the remainder.
fn check_digit(base: &[u32; 8], weights: &[u32; 8]) -> u32 {
    let sum: u32 = base.iter().zip(weights).map(|(d, w)| d * w).sum();
    match sum % 11 {
        0 => 0,
        r => 11 - r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_examples() {
        // Valid examples from the Inland Revenue specification.
        for ok in ["49091850", "35901981", "49098576", "136410132"] {
            assert!(nz_ird(ok.as_bytes()), "{ok}");
        }
        // Wrong check digit, and a number below the issued range.
        for bad in ["136410133", "9125568", "49091851", "49091859"] {
            assert!(!nz_ird(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn secondary_weights_apply_when_primary_gives_ten() {
        // 136410132 needs the secondary weights (primary remainder 1 -> 10).
        let base = [1, 3, 6, 4, 1, 0, 1, 3];
        assert_eq!(check_digit(&base, &PRIMARY), 10);
        assert_eq!(check_digit(&base, &SECONDARY), 2);
    }

    #[test]
    fn range_and_shape() {
        assert!(!nz_ird(b"150000001"));
        assert!(!nz_ird(b"1234567"));
        assert!(!nz_ird(b"1234567890"));
        assert!(!nz_ird(b"4909185X"));
    }

    #[test]
    fn exactly_one_check_digit_fits_or_none() {
        // For every base, at most one of the ten final digits validates.
        for base in [4909185u64, 13641013, 3590198, 10000000, 14999999] {
            let n = (0..10)
                .filter(|d| nz_ird(format!("{base}{d}").as_bytes()))
                .count();
            assert!(n <= 1, "{base}");
        }
    }
}
