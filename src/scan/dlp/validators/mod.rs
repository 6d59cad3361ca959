//! Pure validators for the identifiers DLP knows. Each takes the characters of a
//! candidate with separators already removed (digits and upper-case letters only)
//! and answers whether the check digit (or, without one, the shape) is right.
//!
//! Separator handling lives in the candidate finder; [`compact`] is offered for
//! callers holding text as people type it (`123-456-789`, `4111 1111 1111 1111`).

mod bank;
pub(crate) mod card;
mod ird;
mod nhi;
mod travel;

pub use bank::nz_bank_account;
pub use card::{luhn, payment_card};
pub use ird::nz_ird;
pub use nhi::nz_nhi;
pub use travel::{nz_driver_licence, nz_passport};

/// Removes the separators people type (spaces, hyphens) and upper-cases ASCII
/// letters; `None` when anything else is present.
pub fn compact(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ' ' | '-' => {}
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_uppercase()),
            _ => return None,
        }
    }
    Some(out)
}

/// The value of an ASCII digit, `None` for anything else.
pub(crate) fn digit(b: u8) -> Option<u32> {
    b.is_ascii_digit().then(|| u32::from(b - b'0'))
}

/// All bytes are ASCII digits (and there is at least one).
pub(crate) fn all_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_strips_typed_separators() {
        assert_eq!(compact("123-456 789").as_deref(), Some("123456789"));
        assert_eq!(compact("zsc21tn").as_deref(), Some("ZSC21TN"));
        assert_eq!(compact("12.34"), None);
    }
}
