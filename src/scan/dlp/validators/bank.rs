//! NZ bank account numbers `BB-bbbb-AAAAAAA-SSS`: bank, branch, account base and
//! suffix, checked with the per-bank algorithms and branch ranges Inland Revenue
//! publishes ("Bank account number validation", RWT/NRWT certificate filing
//! specification, chapter 8), with the 7-digit base in use today.

use super::all_digits;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algorithm {
    /// A for bases below 00990000, B from there on.
    AB,
    D,
    E,
    F,
    G,
    /// No published check: any base is valid.
    X,
}

/// Bank number, its algorithm and the branch ranges it was allocated.
/// Inclusive branch number ranges.
type Branches = &'static [(u32, u32)];

const BANKS: &[(u32, Algorithm, Branches)] = &[
    (1, Algorithm::AB, &[(1, 999), (1100, 1199), (1800, 1899)]),
    (2, Algorithm::AB, &[(1, 999), (1200, 1299)]),
    (
        3,
        Algorithm::AB,
        &[
            (1, 999),
            (1300, 1399),
            (1500, 1599),
            (1700, 1799),
            (1900, 1999),
        ],
    ),
    (4, Algorithm::AB, &[(2020, 2024)]),
    (6, Algorithm::AB, &[(1, 999), (1400, 1499)]),
    (8, Algorithm::D, &[(6500, 6599)]),
    (9, Algorithm::E, &[(0, 0)]),
    (10, Algorithm::AB, &[(5165, 5169)]),
    (11, Algorithm::AB, &[(5000, 6499), (6600, 8999)]),
    (
        12,
        Algorithm::AB,
        &[(3000, 3299), (3400, 3499), (3600, 3699)],
    ),
    (13, Algorithm::AB, &[(4900, 4999)]),
    (14, Algorithm::AB, &[(4700, 4799)]),
    (15, Algorithm::AB, &[(3900, 3999)]),
    (16, Algorithm::AB, &[(4400, 4499)]),
    (17, Algorithm::AB, &[(3300, 3399)]),
    (18, Algorithm::AB, &[(3500, 3599)]),
    (19, Algorithm::AB, &[(4600, 4649)]),
    (20, Algorithm::AB, &[(4100, 4199)]),
    (21, Algorithm::AB, &[(4800, 4899)]),
    (22, Algorithm::AB, &[(4000, 4049)]),
    (23, Algorithm::AB, &[(3700, 3799)]),
    (24, Algorithm::AB, &[(4300, 4349)]),
    (25, Algorithm::F, &[(2500, 2599)]),
    (26, Algorithm::G, &[(2600, 2699)]),
    (27, Algorithm::AB, &[(3800, 3849)]),
    (28, Algorithm::G, &[(2100, 2149)]),
    (29, Algorithm::G, &[(2150, 2299)]),
    (30, Algorithm::AB, &[(2900, 2949)]),
    (31, Algorithm::X, &[(2800, 2849)]),
    (33, Algorithm::F, &[(6700, 6799)]),
    (35, Algorithm::AB, &[(2400, 2499)]),
    (38, Algorithm::AB, &[(9000, 9499)]),
];

/// Weights over the 18 digits bank(2) branch(4) base(8) suffix(4), and the modulus.
fn weights(alg: Algorithm, base: u32) -> ([u32; 18], u32) {
    match alg {
        Algorithm::AB if base < 990_000 => {
            ([0, 0, 6, 3, 7, 9, 0, 0, 10, 5, 8, 4, 2, 1, 0, 0, 0, 0], 11)
        }
        Algorithm::AB => ([0, 0, 0, 0, 0, 0, 0, 0, 10, 5, 8, 4, 2, 1, 0, 0, 0, 0], 11),
        Algorithm::D => ([0, 0, 0, 0, 0, 0, 0, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0], 11),
        Algorithm::E => ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 4, 3, 2, 0, 0, 0, 1], 11),
        Algorithm::F => ([0, 0, 0, 0, 0, 0, 0, 1, 7, 3, 1, 7, 3, 1, 0, 0, 0, 0], 10),
        Algorithm::G => ([0, 0, 0, 0, 0, 0, 0, 1, 3, 7, 1, 3, 7, 1, 0, 3, 7, 1], 10),
        Algorithm::X => ([0; 18], 1),
    }
}

/// Repeated digit sum of a product (E and G add the digits of each product).
fn digit_sum(mut n: u32) -> u32 {
    while n > 9 {
        n = n / 10 + n % 10;
    }
    n
}

fn number(d: &[u8]) -> u32 {
    d.iter().fold(0, |acc, &b| acc * 10 + u32::from(b - b'0'))
}

/// Whether bank, branch, account base and suffix (digits only, 2/4/7/2-4 long)
/// form a valid account number.
pub fn nz_bank_account(bank: &[u8], branch: &[u8], base: &[u8], suffix: &[u8]) -> bool {
    let shape_ok = bank.len() == 2
        && branch.len() == 4
        && base.len() == 7
        && (2..=4).contains(&suffix.len())
        && [bank, branch, base, suffix].iter().all(|p| all_digits(p));
    if !shape_ok {
        return false;
    }
    let (bank_no, branch_no, base_no) = (number(bank), number(branch), number(base));
    let Some((_, alg, ranges)) = BANKS.iter().find(|(b, _, _)| *b == bank_no) else {
        return false;
    };
    if !ranges
        .iter()
        .any(|(lo, hi)| (*lo..=*hi).contains(&branch_no))
    {
        return false;
    }
    // Lay the number out as 18 digits: base padded to 8, suffix padded to 4.
    let mut digits = [0u32; 18];
    let mut put = |at: usize, width: usize, part: &[u8]| {
        let pad = width - part.len();
        for (i, &b) in part.iter().enumerate() {
            digits[at + pad + i] = u32::from(b - b'0');
        }
    };
    put(0, 2, bank);
    put(2, 4, branch);
    put(6, 8, base);
    put(14, 4, suffix);
    let (w, modulus) = weights(*alg, base_no);
    let sum: u32 = digits
        .iter()
        .zip(w)
        .map(|(d, w)| match alg {
            Algorithm::E | Algorithm::G => digit_sum(d * w),
            _ => d * w,
        })
        .sum();
    sum.is_multiple_of(modulus)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str) -> bool {
        let parts: Vec<&str> = s.split('-').collect();
        nz_bank_account(
            parts[0].as_bytes(),
            parts[1].as_bytes(),
            parts[2].as_bytes(),
            parts[3].as_bytes(),
        )
    }

    #[test]
    fn published_examples() {
        // The worked examples of the Inland Revenue specification (A, D, G) and
        // python-stdnum's doctest.
        for ok in [
            "01-0902-0068389-00",
            "08-6523-1954512-001",
            "26-2600-0320871-032",
            "01-0242-0100194-00",
        ] {
            assert!(check(ok), "{ok}");
        }
    }

    #[test]
    fn wrong_check_or_branch_fails() {
        for bad in [
            "01-0902-0068388-00",
            "08-6523-1954513-001",
            "26-2600-0320872-032",
            "01-0242-0100195-00",
            "01-9999-0100194-00",
            "05-0902-0068389-00",
        ] {
            assert!(!check(bad), "{bad}");
        }
    }

    #[test]
    fn algorithm_b_from_990000() {
        assert_eq!(weights(Algorithm::AB, 989_999).0[2], 6);
        assert_eq!(weights(Algorithm::AB, 990_000).0[2], 0);
    }

    #[test]
    fn digit_sums() {
        assert_eq!(digit_sum(18), 9);
        assert_eq!(digit_sum(63), 9);
        assert_eq!(digit_sum(7), 7);
        assert_eq!(digit_sum(0), 0);
    }

    #[test]
    fn bank_31_has_no_check() {
        assert!(check("31-2800-1234567-000"));
        assert!(!check("31-2900-1234567-000"));
    }
}
