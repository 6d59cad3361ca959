//! Payment card numbers (PANs): 13 to 19 digits, Luhn check, known issuer prefixes.

use super::all_digits;

/// Luhn (mod 10) over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    if !all_digits(digits) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether the digits start with a known issuer prefix and have a length that issuer
/// uses (ISO/IEC 7812 ranges of the major schemes).
pub fn issuer_prefix(digits: &[u8]) -> bool {
    if !all_digits(digits) || digits.len() < 13 {
        return false;
    }
    let n = digits.len();
    let p = |k: usize| -> u32 {
        digits[..k]
            .iter()
            .fold(0, |acc, &b| acc * 10 + u32::from(b - b'0'))
    };
    let (p1, p2, p3, p4, p6) = (p(1), p(2), p(3), p(4), p(6));
    match p1 {
        // Visa
        4 => matches!(n, 13 | 16 | 19),
        // Mastercard (51-55, 2221-2720)
        5 if (51..=55).contains(&p2) => n == 16,
        2 if (2221..=2720).contains(&p4) => n == 16,
        // American Express
        3 if p2 == 34 || p2 == 37 => n == 15,
        // JCB
        3 if (3528..=3589).contains(&p4) => (16..=19).contains(&n),
        // Diners Club
        3 if (300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39 => {
            (14..=19).contains(&n)
        }
        // Discover, UnionPay, RuPay-like 6 ranges
        6 if p4 == 6011
            || (644..=649).contains(&p3)
            || p2 == 65
            || p2 == 62
            || (622126..=622925).contains(&p6) =>
        {
            (16..=19).contains(&n)
        }
        // Maestro
        5 if p2 == 50 || (56..=58).contains(&p2) => (12..=19).contains(&n),
        6 if p2 == 63 || p2 == 67 => (12..=19).contains(&n),
        _ => false,
    }
}

/// A payment card number: issuer prefix and length, and Luhn.
pub fn payment_card(digits: &[u8]) -> bool {
    (13..=19).contains(&digits.len()) && issuer_prefix(digits) && luhn(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_test_numbers() {
        for ok in [
            "4111111111111111",
            "4012888888881881",
            "4222222222222",
            "5555555555554444",
            "5105105105105100",
            "2221000000000009",
            "378282246310005",
            "371449635398431",
            "6011111111111117",
            "3530111333300000",
            "30569309025904",
            "6200000000000005",
        ] {
            assert!(payment_card(ok.as_bytes()), "{ok}");
        }
    }

    #[test]
    fn luhn_failures_and_unknown_prefixes() {
        for bad in [
            "4111111111111112",
            "5555555555554445",
            "1234567812345670",
            "9111111111111111",
            "411111111111",
            "41111111111111111111",
        ] {
            assert!(!payment_card(bad.as_bytes()), "{bad}");
        }
        // Luhn-valid but no issuer: a tracking-number shape.
        assert!(luhn(b"1234567812345670"));
        assert!(!issuer_prefix(b"1234567812345670"));
    }
}
