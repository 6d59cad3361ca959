//! Scanner-level tests: content through `ContentSink`, findings out of `finish`.

use super::*;
use crate::config::EMBEDDED_RULES;
use crate::envelope::Direction;
use crate::policy::Action;
use crate::policy::Classification;

fn embedded() -> Arc<DlpScanner> {
    let text = EMBEDDED_RULES
        .iter()
        .find(|(n, _)| *n == "dlp.toml")
        .map(|(_, t)| *t)
        .unwrap();
    scanner(text)
}

fn scanner(text: &str) -> Arc<DlpScanner> {
    let file = RuleFile {
        name: "dlp.toml",
        origin: "test-dlp.toml".into(),
        text: text.into(),
    };
    Arc::new(DlpScanner::compile(&file).unwrap_or_else(|e| panic!("{e}")))
}

fn level_rank(name: &str) -> Option<u32> {
    crate::scan::markings::embedded_vocabulary().rank_of(name)
}

fn outbound() -> Envelope {
    Envelope {
        direction: Some(Direction::Outbound),
        rcpts: vec!["someone@example.com".into()],
        ..Default::default()
    }
}

fn text_part() -> PartInfo {
    PartInfo {
        content_type: "text/plain".into(),
        is_text: true,
        ..Default::default()
    }
}

fn run_chunks(
    s: &Arc<DlpScanner>,
    env: &Envelope,
    rank: Option<u32>,
    chunks: &[&str],
) -> Vec<Finding> {
    let mut st = s.begin(env).unwrap();
    let part = text_part();
    st.part_start(&part);
    for c in chunks {
        st.text(&part, c);
    }
    st.part_end(&part);
    let mut facts = MessageFacts {
        classification: rank.map(|rank| Classification {
            level: Some("X".into()),
            rank,
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut out = Vec::new();
    st.finish(env, &mut facts, &mut out);
    out
}

fn rule<'a>(out: &'a [Finding], id: &str) -> Option<&'a Finding> {
    out.iter().find(|f| f.rule_id == id)
}

const IRD_MAIL: &str = "Hi, my IRD number is 049-091-850 as requested.";

#[test]
fn valid_ird_with_keyword_rejects_unmarked_outbound() {
    let s = embedded();
    let out = run_chunks(&s, &outbound(), None, &[IRD_MAIL]);
    let f = rule(&out, "dlp.nz_identifiers.unmarked").expect("finding");
    assert_eq!(f.action, Action::Reject);
    let data = f.data.as_ref().unwrap();
    assert_eq!(data["detector"], "nz_ird");
    assert_eq!(data["count"], 1);
    assert_eq!(data["confidence"], "high");
    assert_eq!(data["samples"][0], "***-***-850");
    let json = serde_json::to_string(&out).unwrap();
    assert!(
        !json.contains("049-091-850") && !json.contains("091"),
        "{json}"
    );
}

#[test]
fn invalid_check_digit_or_no_keyword_is_not_high() {
    let s = embedded();
    let out = run_chunks(&s, &outbound(), None, &["my IRD number is 049-091-851"]);
    assert!(out.is_empty(), "{out:?}");
    let out = run_chunks(&s, &outbound(), None, &["reference 049-091-850 attached"]);
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn marking_above_unclassified_allows_identifiers() {
    let s = embedded();
    let rank = level_rank("IN-CONFIDENCE");
    assert!(run_chunks(&s, &outbound(), rank, &[IRD_MAIL]).is_empty());
    let rank = level_rank("UNCLASSIFIED");
    assert!(!run_chunks(&s, &outbound(), rank, &[IRD_MAIL]).is_empty());
}

#[test]
fn inbound_mail_is_not_subject_to_outbound_rules() {
    let s = embedded();
    let env = Envelope {
        direction: Some(Direction::Inbound),
        ..Default::default()
    };
    // No rule applies inbound: the scanner costs nothing there.
    assert!(s.begin(&env).is_none());
}

#[test]
fn keyword_after_the_identifier_counts_and_far_keyword_does_not() {
    let s = embedded();
    let near = "049-091-850 is the IRD number";
    assert_eq!(run_chunks(&s, &outbound(), None, &[near]).len(), 1);
    let far = format!("IRD {} 049-091-850 {}", "x".repeat(400), "y".repeat(400));
    assert!(run_chunks(&s, &outbound(), None, &[&far]).is_empty());
}

#[test]
fn every_split_point_finds_each_identifier_once() {
    let s = embedded();
    let text = "Patient NHI ZSC21TN, IRD number 136-410-132, bank account 01-0902-0068389-00, \
                passport LA123456, credit card 4111 1111 1111 1111.";
    let whole = run_chunks(&s, &outbound(), None, &[text]);
    let counts = |out: &[Finding]| -> Vec<(String, serde_json::Value)> {
        out.iter()
            .map(|f| {
                (
                    f.rule_id.clone(),
                    f.data.as_ref().unwrap()["by_detector"].clone(),
                )
            })
            .collect()
    };
    let reject = rule(&whole, "dlp.nz_identifiers.unmarked").unwrap();
    assert_eq!(reject.data.as_ref().unwrap()["count"], 4, "{whole:?}");
    assert!(rule(&whole, "dlp.payment_card.outbound").is_some());
    let expected = counts(&whole);
    for split in 1..text.len() {
        let (a, b) = text.split_at(split);
        let out = run_chunks(&s, &outbound(), None, &[a, b]);
        assert_eq!(counts(&out), expected, "split at {split}");
    }
    let bytes: Vec<String> = text.chars().map(String::from).collect();
    let refs: Vec<&str> = bytes.iter().map(String::as_str).collect();
    assert_eq!(counts(&run_chunks(&s, &outbound(), None, &refs)), expected);
}

#[test]
fn bulk_rule_needs_ten_to_external_recipients() {
    let file = RuleFile {
        name: "dlp.toml",
        origin: "test-dlp.toml".into(),
        text: embedded_text(),
    };
    let ctx = DlpContext {
        rank_of: &level_rank,
        local_domains: &["agency.govt.nz".into()],
    };
    let s = Arc::new(DlpScanner::compile_with(&file, &ctx).unwrap_or_else(|e| panic!("{e}")));
    let mut text = String::from("IRD numbers: ");
    for _ in 0..10 {
        text.push_str("049-091-850, ");
    }
    let ext = outbound();
    let out = run_chunks(&s, &ext, level_rank("IN-CONFIDENCE"), &[&text]);
    let f = rule(&out, "dlp.bulk_identifiers.external").expect("bulk");
    assert_eq!(f.action, Action::Quarantine);
    assert_eq!(f.data.as_ref().unwrap()["count"], 10);
    let internal = Envelope {
        rcpts: vec!["a@mail.agency.govt.nz".into()],
        ..outbound()
    };
    assert!(run_chunks(&s, &internal, level_rank("IN-CONFIDENCE"), &[&text]).is_empty());
    let nine = text.replacen("049-091-850, ", "", 1);
    assert!(run_chunks(&s, &ext, level_rank("IN-CONFIDENCE"), &[&nine]).is_empty());
}

fn embedded_text() -> String {
    EMBEDDED_RULES
        .iter()
        .find(|(n, _)| *n == "dlp.toml")
        .map(|(_, t)| t.to_string())
        .unwrap()
}

#[test]
fn subject_is_scanned() {
    let s = embedded();
    let env = outbound();
    let mut st = s.begin(&env).unwrap();
    st.header(None, "Subject", "IRD 49091850");
    let mut out = Vec::new();
    st.finish(&env, &mut MessageFacts::default(), &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn custom_keyword_and_regex_detectors() {
    let toml = r#"
[[detector]]
id = "codeword"
kind = "keywords"
keywords = ["operation kea"]

[[detector]]
id = "staff"
kind = "regex"
pattern = 'STF-[0-9]{6}'
anchors = ["STF-"]
window = 16

[[rule]]
id = "r.code"
detectors = ["codeword"]
min_count = 2
action = "quarantine"

[[rule]]
id = "r.staff"
detectors = ["staff"]
action = "tag"
"#;
    let s = scanner(toml);
    let text =
        "Operation Kea starts; operation keas no; (operation kea) STF-123456 STF-12 stf-654321.";
    for split in 0..text.len() {
        let (a, b) = text.split_at(split);
        let out = run_chunks(&s, &outbound(), None, &[a, b]);
        let code = rule(&out, "r.code").unwrap_or_else(|| panic!("split {split}: {out:?}"));
        assert_eq!(code.data.as_ref().unwrap()["count"], 2, "split {split}");
        let staff = rule(&out, "r.staff").unwrap();
        assert_eq!(staff.data.as_ref().unwrap()["count"], 2, "split {split}");
    }
}

#[test]
fn config_errors_name_the_line() {
    let file = RuleFile {
        name: "dlp.toml",
        origin: "d.toml".into(),
        text: "[[rule]]\nid = \"a\"\ndetectors = [\"nz_ird\"]\naction = \"tag\"\n\n[[rule]]\nid = \"b\"\ndetectors = [\"nope\"]\nmax_classification = \"PUBLIC\"\naction = \"tag\"\n".into(),
    };
    let errs = DlpScanner::compile(&file).unwrap_err();
    assert_eq!(errs.0.len(), 2, "{errs}");
    assert!(errs.0.iter().all(|e| e.line == Some(7)), "{errs}");
    let bad = RuleFile {
        text: "[[rule]]\nid = \"a\"\ndetectors = [\"nz_ird\"]\naction = \"tag\"\nbogus = 1\n"
            .into(),
        ..file
    };
    assert_eq!(DlpScanner::compile(&bad).unwrap_err().0[0].line, Some(5));
}

#[test]
fn every_header_field_is_scanned() {
    let s = embedded();
    let mut st = s.begin(&outbound()).unwrap();
    st.header(None, "X-Export", "IRD number 49091850");
    let part = text_part();
    st.header(
        Some(&part),
        "Content-Disposition",
        "attachment; filename=\"IRD 049-091-850 list.txt\"",
    );
    let mut out = Vec::new();
    st.finish(&outbound(), &mut MessageFacts::default(), &mut out);
    let f = rule(&out, "dlp.nz_identifiers.unmarked").expect("found in headers");
    assert_eq!(f.data.as_ref().unwrap()["count"], 2, "{f:?}");
}

/// Hits are masked only at confidences some rule reports: with the embedded rules
/// (all `high`, and a bulk list promotes `medium`), never for a low hit.
#[test]
fn only_reported_confidences_are_masked() {
    use super::identify::Builtin;
    use crate::config::dlp::Confidence;
    let ird = Builtin::NzIrd.index();
    let s = embedded();
    assert!(!s.compiled.reports(ird, Confidence::Low));
    assert!(s.compiled.reports(ird, Confidence::Medium));
    assert!(s.compiled.reports(ird, Confidence::High));
    let low = scanner(
        "[[rule]]\nid = \"x\"\ndetectors = [\"nz_ird\"]\nmin_confidence = \"low\"\n\
         action = \"tag\"\nreason = \"r\"\n",
    );
    assert!(low.compiled.reports(ird, Confidence::Low));
    assert!(
        !low.compiled
            .reports(Builtin::PaymentCard.index(), Confidence::High)
    );
}
