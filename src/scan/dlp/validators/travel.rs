//! NZ passport and driver licence numbers. Neither has a check digit: these
//! validators check the shape only, so callers must not treat a match as more than
//! a pattern hit without a corroborating keyword.

/// Passport: one or two upper-case letters then six digits (e.g. `LA123456`).
pub fn nz_passport(s: &[u8]) -> bool {
    let letters = s.iter().take_while(|b| b.is_ascii_uppercase()).count();
    (1..=2).contains(&letters)
        && s.len() == letters + 6
        && s[letters..].iter().all(u8::is_ascii_digit)
}

/// Driver licence: two upper-case letters then six digits (e.g. `DL123456`).
pub fn nz_driver_licence(s: &[u8]) -> bool {
    s.len() == 8
        && s[..2].iter().all(u8::is_ascii_uppercase)
        && s[2..].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(nz_passport(b"LA123456"));
        assert!(nz_passport(b"N123456"));
        assert!(!nz_passport(b"LAX123456"));
        assert!(!nz_passport(b"LA12345"));
        assert!(!nz_passport(b"la123456"));
        assert!(nz_driver_licence(b"DL123456"));
        assert!(!nz_driver_licence(b"D1234567"));
        assert!(!nz_driver_licence(b"DL1234567"));
    }
}
