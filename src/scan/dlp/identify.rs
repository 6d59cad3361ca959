//! Which identifier a candidate token is, and how sure we are without context.

use super::candidates::Candidate;
use super::validators;

pub use crate::config::dlp::Confidence;

/// The validated identifiers built into the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    NzIrd,
    NzNhi,
    NzBankAccount,
    NzPassport,
    NzDriverLicence,
    PaymentCard,
}

impl Builtin {
    pub const ALL: [Builtin; 6] = [
        Builtin::NzIrd,
        Builtin::NzNhi,
        Builtin::NzBankAccount,
        Builtin::NzPassport,
        Builtin::NzDriverLicence,
        Builtin::PaymentCard,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::NzIrd => "nz_ird",
            Builtin::NzNhi => "nz_nhi",
            Builtin::NzBankAccount => "nz_bank_account",
            Builtin::NzPassport => "nz_passport",
            Builtin::NzDriverLicence => "nz_driver_licence",
            Builtin::PaymentCard => "payment_card",
        }
    }

    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Without a check digit a match is only a pattern: these reach high confidence
    /// from low with a keyword, never medium.
    pub fn has_check_digit(self) -> bool {
        !matches!(self, Builtin::NzPassport | Builtin::NzDriverLicence)
    }
}

/// Reports every identifier the candidate could be, with its context-free
/// confidence. Returns whether anything matched a shape.
pub fn identify(c: &Candidate<'_>, mut hit: impl FnMut(Builtin, Confidence)) -> bool {
    if c.letters.is_empty() {
        identify_numeric(c, &mut hit)
    } else {
        identify_lettered(c, &mut hit)
    }
}

fn identify_lettered(c: &Candidate<'_>, hit: &mut impl FnMut(Builtin, Confidence)) -> bool {
    let [group] = c.groups else { return false };
    let (l, d, s) = (c.letters.len(), group.len, c.suffix.len());
    if l == 3 && ((d == 4 && s == 0) || (d == 2 && s == 2)) {
        let mut buf = [0u8; 7];
        let parts = [c.letters, group.digits(), c.suffix];
        for (slot, b) in buf.iter_mut().zip(parts.iter().flat_map(|p| p.iter())) {
            *slot = b.to_ascii_uppercase();
        }
        let conf = if validators::nz_nhi(&buf) {
            Confidence::Medium
        } else {
            Confidence::Low
        };
        hit(Builtin::NzNhi, conf);
        return true;
    }
    if s == 0 && d == 6 && (1..=2).contains(&l) && c.letters.iter().all(u8::is_ascii_uppercase) {
        hit(Builtin::NzPassport, Confidence::Low);
        if l == 2 {
            hit(Builtin::NzDriverLicence, Confidence::Low);
        }
        return true;
    }
    false
}

/// Whether a numeric identifier's first group can have `len` digits: the first
/// group of every shape `identify_numeric` accepts (IRD 8, 9, 2-3-3, 3-3-3; bank
/// 2-4-7-s; cards 13-19 or 4-...). Lets the tokenizer skip runs cheaply.
pub fn may_start_numeric(len: usize) -> bool {
    matches!(len, 2..=4 | 8 | 9 | 13..=19)
}

fn identify_numeric(c: &Candidate<'_>, hit: &mut impl FnMut(Builtin, Confidence)) -> bool {
    let mut lens = [0usize; super::candidates::MAX_SHAPE_GROUPS];
    let n = c.groups.len();
    if n > lens.len()
        || c.groups
            .iter()
            .any(|g| g.len > super::candidates::MAX_GROUP)
    {
        return false;
    }
    for (l, g) in lens.iter_mut().zip(c.groups) {
        *l = g.len;
    }
    let lens = &lens[..n];
    let is_ird_shape = matches!(lens, [8] | [9] | [2, 3, 3] | [3, 3, 3]);
    let is_bank_shape = matches!(lens, [2, 4, 7, 2..=4]);
    let is_card_shape = matches!(
        lens,
        [13..=19] | [4, 4, 4, 4] | [4, 4, 4, 4, 3] | [4, 6, 5] | [4, 6, 4] | [4, 4, 4, 1..=3]
    );
    // Most runs (table columns, `1 1 1`) fit no shape: decided before any copying.
    if !(is_ird_shape || is_bank_shape || is_card_shape) {
        return false;
    }
    debug_assert!(
        may_start_numeric(lens[0]),
        "may_start_numeric misses {lens:?}"
    );
    let mut digits = [0u8; 24];
    let mut total = 0;
    for g in c.groups {
        let d = g.digits();
        if total + d.len() > digits.len() {
            return false;
        }
        digits[total..total + d.len()].copy_from_slice(d);
        total += d.len();
    }
    let all = &digits[..total];
    if is_ird_shape && !(n == 1 && looks_like_date(all)) {
        let conf = if validators::nz_ird(all) {
            Confidence::Medium
        } else {
            Confidence::Low
        };
        hit(Builtin::NzIrd, conf);
        return true;
    }
    if is_bank_shape {
        let g = c.groups;
        let conf = if validators::nz_bank_account(
            g[0].digits(),
            g[1].digits(),
            g[2].digits(),
            g[3].digits(),
        ) {
            Confidence::Medium
        } else {
            Confidence::Low
        };
        hit(Builtin::NzBankAccount, conf);
        return true;
    }
    if is_card_shape && validators::card::issuer_prefix(all) {
        let conf = if validators::luhn(all) {
            Confidence::Medium
        } else {
            Confidence::Low
        };
        hit(Builtin::PaymentCard, conf);
        return true;
    }
    false
}

/// `YYYYMMDD` or `DDMMYYYY` with a plausible year, month and day: a date, not an IRD.
fn looks_like_date(d: &[u8]) -> bool {
    if d.len() != 8 {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> u32 {
        d[r].iter().fold(0, |a, &b| a * 10 + u32::from(b - b'0'))
    };
    let ymd = |y: u32, m: u32, day: u32| {
        (1900..=2099).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&day)
    };
    ymd(num(0..4), num(4..6), num(6..8)) || ymd(num(4..8), num(2..4), num(0..2))
}

/// The value of a candidate, whatever way it was typed (`049-091-850` and
/// `49091850` are one IRD number): its digits (and letters, in base 36), as a
/// number. Distinct for every identifier of one detector (at most 19 digits, or 7
/// letters and digits).
pub fn value_key(c: &Candidate<'_>) -> u64 {
    let radix = if c.letters.is_empty() && c.suffix.is_empty() {
        10
    } else {
        36
    };
    let digits = c.groups.iter().flat_map(|g| g.digits().iter());
    c.letters
        .iter()
        .chain(digits)
        .chain(c.suffix.iter())
        .fold(0u64, |key, &b| {
            let v = if b.is_ascii_digit() {
                b - b'0'
            } else {
                b.to_ascii_uppercase().wrapping_sub(b'A').wrapping_add(10)
            };
            key.wrapping_mul(radix).wrapping_add(u64::from(v))
        })
}

/// The candidate as typed, with every letter and digit but the last few replaced by
/// `*` (separators kept): `***-***-850`. Never shows enough to reconstruct the value.
pub fn masked(c: &Candidate<'_>) -> String {
    let total =
        c.letters.len() + c.groups.iter().map(|g| g.digits().len()).sum::<usize>() + c.suffix.len();
    let keep = if total >= 8 { 3 } else { 2 };
    let mut out = String::with_capacity(total + c.groups.len());
    let mut seen = 0;
    let mut push = |out: &mut String, b: u8| {
        seen += 1;
        out.push(if seen + keep > total { b as char } else { '*' });
    };
    c.letters.iter().for_each(|&b| push(&mut out, b));
    for (i, g) in c.groups.iter().enumerate() {
        if i > 0 {
            out.push(c.sep as char);
        }
        g.digits().iter().for_each(|&b| push(&mut out, b));
    }
    c.suffix.iter().for_each(|&b| push(&mut out, b));
    out
}

#[cfg(test)]
mod tests {
    use super::super::candidates::{CandidateSink, Tokenizer};
    use super::*;

    struct Collect(Vec<(Builtin, Confidence, String)>);
    impl CandidateSink for Collect {
        fn candidate(&mut self, c: &Candidate<'_>) -> bool {
            let mut found = Vec::new();
            let any = identify(c, |b, conf| found.push((b, conf)));
            for (b, conf) in found {
                self.0.push((b, conf, masked(c)));
            }
            any
        }
    }

    fn run(text: &str) -> Vec<(Builtin, Confidence, String)> {
        let mut t = Tokenizer::default();
        let mut c = Collect(Vec::new());
        t.feed(text.as_bytes(), &mut c);
        t.finish(&mut c);
        c.0
    }

    #[test]
    fn identifies_each_kind() {
        use Builtin::*;
        use Confidence::*;
        assert_eq!(run("49-091-850")[0], (NzIrd, Medium, "**-***-850".into()));
        assert_eq!(run("136 410 132")[0].1, Medium);
        assert_eq!(run("136410133")[0], (NzIrd, Low, "******133".into()));
        assert_eq!(run("49091850")[0], (NzIrd, Medium, "*****850".into()));
        assert_eq!(run("zsc21tn")[0], (NzNhi, Medium, "*****tn".into()));
        assert_eq!(run("ZZZ0017")[0].1, Low);
        assert_eq!(run("01-0902-0068389-00")[0].0, NzBankAccount);
        assert_eq!(run("01-0902-0068389-00")[0].1, Medium);
        assert_eq!(
            run("4111 1111 1111 1111")[0],
            (PaymentCard, Medium, "**** **** **** *111".into())
        );
        assert_eq!(run("4111111111111112")[0].1, Low);
        let pp = run("LA123456");
        assert_eq!(pp.len(), 2);
        assert!(pp.iter().all(|h| h.1 == Low));
    }

    #[test]
    fn traps_are_not_identifiers() {
        for trap in [
            "20240312",
            "12032024",
            "021 123 4567",
            "+64 21 123 4567",
            "(09) 123-4567",
            "2024-03-12",
            "12/03/2024",
            "INV-2024-000123",
            "9400111899223344556677",
            "1234 5678 9012 3456",
        ] {
            let hits = run(trap);
            assert!(
                hits.iter().all(|h| h.1 == Confidence::Low),
                "{trap}: {hits:?}"
            );
        }
    }
}
