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
