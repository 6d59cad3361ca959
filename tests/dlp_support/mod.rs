//! Shared by `tests/dlp_*.rs`: the built-in detectors and a rule file that turns
//! their hits into exact counts.
#![allow(dead_code)]

pub const DETECTORS: [&str; 6] = [
    "nz_ird",
    "nz_nhi",
    "nz_bank_account",
    "nz_passport",
    "nz_driver_licence",
    "payment_card",
];

/// The embedded dlp.toml (settings, keywords) with its rules replaced by one tagging
/// rule per detector and confidence: rule `t.<detector>.<confidence>` counts the hits
/// at or above it.
pub fn counting_rules() -> String {
    let embedded = sge_milter::config::EMBEDDED_RULES
        .iter()
        .find(|(n, _)| *n == "dlp.toml")
        .map(|(_, t)| *t)
        .expect("embedded dlp.toml");
    let mut out = embedded
        .split("\n[[rule]]")
        .next()
        .unwrap_or(embedded)
        .to_string();
    for d in DETECTORS {
        for c in ["low", "medium", "high"] {
            out.push_str(&format!(
                "\n[[rule]]\nid = \"t.{d}.{c}\"\ndetectors = [\"{d}\"]\nmin_confidence = \"{c}\"\naction = \"tag\"\n"
            ));
        }
    }
    out
}

/// Adversarial DLP filler text, shared by tests/dlp_adversarial.rs and benches/dlp.rs:
/// runs of digit groups and separators built to look like identifiers.
/// `len` bytes of one-digit groups, each after `lead` and followed by the next
/// separator of `seps`.
pub fn groups(len: usize, lead: &str, seps: &[&str]) -> String {
    let mut s = String::with_capacity(len + 16);
    let mut i = 0;
    while s.len() < len {
        s.push_str(lead);
        s.push(char::from(b'1' + (i % 9) as u8));
        s.push_str(seps[i % seps.len()]);
        i += 1;
    }
    s
}

pub const FILLERS: [&str; 11] = [
    "space",
    "dash",
    "dot",
    "slash",
    "mixed",
    "long_digits",
    "alnum",
    "alnum_spaced",
    "plus_space",
    "hash_dash",
    "eight_digit_dash",
];

/// An adversarial filler of about `len` bytes.
pub fn filler(name: &str, len: usize) -> String {
    match name {
        "space" => groups(len, "", &[" "]),
        "dash" => groups(len, "", &["-"]),
        "dot" => groups(len, "", &["."]),
        "slash" => groups(len, "", &["/"]),
        "mixed" => groups(len, "", &[" ", "-", ".", "/", " ", "-", "/", "-"]),
        "long_digits" => "1234567890".repeat(len / 10),
        "alnum" => groups(len, "A", &["B"]),
        "alnum_spaced" => groups(len, "A", &[" "]),
        "plus_space" => format!("+{}", groups(len, "", &[" "])),
        "hash_dash" => format!("#{}", groups(len, "", &["-"])),
        // Identifier-sized groups, but more of them than any identifier has.
        "eight_digit_dash" => groups(len, "1234567", &["-"]),
        _ => unreachable!("unknown filler {name}"),
    }
}
