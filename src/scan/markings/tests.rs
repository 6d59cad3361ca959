//! Unit tests of the marking state, driven through ContentSink / ScanState as the
//! pipeline drives them.

use super::read::{brackets, strip_caveat_prefix};
use super::*;
use crate::config::load;
use crate::envelope::Direction;
use crate::message::PartInfo;
use crate::policy::{Action, Classification, Finding, HeaderEdit};
use crate::scan::MessageFacts;

fn scanner_with(edit: impl FnOnce(&mut LoadedConfig)) -> Arc<MarkingScanner> {
    let mut loaded = load(None).unwrap();
    loaded.config.policy.local_domains = vec!["agency.govt.nz".into()];
    loaded.config.policy.system_ceiling = "RESTRICTED".into();
    loaded.config.routes.restricted_group = vec!["partner.govt.nz".into()];
    loaded
        .config
        .routes
        .ceilings
        .insert("other.govt.nz".into(), "SENSITIVE".into());
    loaded
        .config
        .routes
        .countries
        .insert("AUS".into(), vec!["gov.au".into()]);
    edit(&mut loaded);
    Arc::new(MarkingScanner::compile(&loaded).unwrap())
}

fn scanner() -> Arc<MarkingScanner> {
    scanner_with(|_| {})
}

fn env(dir: Direction, rcpts: &[&str]) -> Envelope {
    Envelope {
        direction: Some(dir),
        rcpts: rcpts.iter().map(|r| r.to_string()).collect(),
        tls_version: Some("TLSv1.3".into()),
        ..Default::default()
    }
}

/// A message: top-level headers, then text parts `(attachment?, text)`.
struct Msg<'a> {
    headers: &'a [(&'a str, &'a str)],
    parts: &'a [(bool, &'a str)],
}

struct Outcome {
    eoh: Vec<Finding>,
    all: Vec<Finding>,
    facts: MessageFacts,
}

impl Outcome {
    fn rules(&self) -> Vec<&str> {
        self.all.iter().map(|f| f.rule_id.as_str()).collect()
    }
    fn eoh_rules(&self) -> Vec<&str> {
        self.eoh.iter().map(|f| f.rule_id.as_str()).collect()
    }
    fn level(&self) -> Option<&str> {
        self.facts.classification.as_ref()?.level.as_deref()
    }
    fn class(&self) -> &Classification {
        self.facts.classification.as_ref().unwrap()
    }
    fn finding(&self, rule: &str) -> &Finding {
        self.all.iter().find(|f| f.rule_id == rule).unwrap()
    }
}

fn run(s: &Arc<MarkingScanner>, env: &Envelope, msg: &Msg<'_>) -> Outcome {
    let mut st = s.begin(env).unwrap();
    for (n, v) in msg.headers {
        st.header(None, n, v);
    }
    let mut facts = MessageFacts::default();
    let mut out = Vec::new();
    st.end_of_headers(env, &mut facts, &mut out);
    let eoh = out.clone();
    for (i, (attachment, text)) in msg.parts.iter().enumerate() {
        let part = PartInfo {
            index: i as u32,
            content_type: "text/plain".into(),
            is_text: true,
            filename: attachment.then(|| "a.txt".into()),
            ..Default::default()
        };
        st.part_start(&part);
        // Odd chunk sizes: banners must survive any split.
        let bytes = text.as_bytes();
        let mut start = 0;
        while start < bytes.len() {
            let mut end = (start + 7).min(bytes.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            st.text(&part, &text[start..end]);
            start = end;
        }
        st.part_end(&part);
    }
    st.finish(env, &mut facts, &mut out);
    Outcome {
        eoh,
        all: out,
        facts,
    }
}

fn headers<'a>(h: &'a [(&'a str, &'a str)]) -> Msg<'a> {
    Msg {
        headers: h,
        parts: &[],
    }
}

#[test]
fn header_marking_is_read_with_caveats() {
    let s = scanner();
    let o = run(
        &s,
        &env(Direction::Outbound, &["a@agency.govt.nz"]),
        &headers(&[(
            "X-Protective-Marking",
            "VER=2018.1, NS=govt.nz, SEC=RESTRICTED, CAVEAT=SH:BUDGET, CAVEAT=SH:NZEO, ORIGIN=a@agency.govt.nz",
        )]),
    );
    assert_eq!(o.rules(), Vec::<&str>::new());
    let c = o.class();
    assert_eq!(c.level.as_deref(), Some("RESTRICTED"));
    assert_eq!(c.rank, 4);
    assert_eq!(c.endorsements, ["BUDGET"]);
    assert_eq!(c.releasability, ["NZEO"]);
    assert_eq!(c.source.as_deref(), Some("header"));
}

#[test]
fn subject_forms_are_tolerant_of_case_and_spacing() {
    let s = scanner();
    let e = env(Direction::Outbound, &["a@agency.govt.nz"]);
    for (subject, level) in [
        ("Meeting [IN-CONFIDENCE]", "IN-CONFIDENCE"),
        ("Meeting [in confidence]", "IN-CONFIDENCE"),
        ("[ In-Confidence ] notes", "IN-CONFIDENCE"),
        ("Numbers [BUDGET SENSITIVE]", "SENSITIVE"),
        ("Numbers [Commercial: Sensitive]", "SENSITIVE"),
        ("Plan [SEC=RESTRICTED, CAVEAT=SH:NZEO]", "RESTRICTED"),
        ("Plan [sec = in-confidence]", "IN-CONFIDENCE"),
        ("RE: [IN-CONFIDENCE] RE: [SENSITIVE] thread", "SENSITIVE"),
        ("Lunch [UNCLASSIFIED]", "UNCLASSIFIED"),
        ("Party [PERSONAL]", "PERSONAL"),
    ] {
        let o = run(&s, &e, &headers(&[("Subject", subject)]));
        assert_eq!(o.level(), Some(level), "{subject}");
        assert_eq!(o.class().source.as_deref(), Some("subject"), "{subject}");
        assert_eq!(o.rules(), Vec::<&str>::new(), "{subject}");
    }
}

#[test]
fn prose_in_subjects_is_not_a_marking() {
    let s = scanner();
    let e = env(Direction::Outbound, &["a@agency.govt.nz"]);
    for subject in [
        "Restricted area access",
        "[Restricted area] access",
        "trade secret [draft]",
        "[Budget review] Q3",
        "[PATCH v2] fix sensitive path",
    ] {
        let o = run(&s, &e, &headers(&[("Subject", subject)]));
        assert_eq!(o.level(), None, "{subject}");
        assert_eq!(o.eoh_rules(), ["marking.missing"], "{subject}");
    }
}

#[test]
fn header_wins_over_subject_and_disagreement_is_a_finding() {
    let s = scanner();
    let o = run(
        &s,
        &env(Direction::Inbound, &["a@agency.govt.nz"]),
        &headers(&[
            ("Subject", "x [SENSITIVE]"),
            (
                "X-Protective-Marking",
                "VER=2018.1, NS=govt.nz, SEC=IN-CONFIDENCE",
            ),
        ]),
    );
    assert_eq!(o.level(), Some("IN-CONFIDENCE"));
    assert_eq!(o.eoh_rules(), ["marking.conflict"]);
    assert_eq!(o.all[0].action, Action::Tag);
}

#[test]
fn two_headers_are_malformed_and_the_highest_counts() {
    let s = scanner();
    let o = run(
        &s,
        &env(Direction::Outbound, &["a@agency.govt.nz"]),
        &headers(&[
            (
                "X-Protective-Marking",
                "VER=2018.1, NS=govt.nz, SEC=IN-CONFIDENCE",
            ),
            (
                "X-Protective-Marking",
                "VER=2018.1, NS=govt.nz, SEC=RESTRICTED",
            ),
        ]),
    );
    assert_eq!(o.level(), Some("RESTRICTED"));
    assert_eq!(o.eoh_rules(), ["marking.malformed"]);
    assert_eq!(o.all[0].action, Action::Reject);
}

#[test]
fn unknown_and_broken_markings() {
    let s = scanner();
    let e = env(Direction::Outbound, &["a@agency.govt.nz"]);
    let o = run(
        &s,
        &e,
        &headers(&[(
            "X-Protective-Marking",
            "VER=2018.1, NS=govt.nz, SEC=PROTECTED",
        )]),
    );
    assert_eq!(o.eoh_rules(), ["marking.unknown", "marking.missing"]);
    let o = run(
        &s,
        &e,
        &headers(&[("X-Protective-Marking", "SEC=SENSITIVE, VER=2018.1")]),
    );
    assert_eq!(o.eoh_rules(), ["marking.malformed"]);
    assert_eq!(o.level(), Some("SENSITIVE"));
    let o = run(
        &s,
        &e,
        &headers(&[("Subject", "[SENSITIVE budget numbers")]),
    );
    assert_eq!(o.eoh_rules(), ["marking.malformed"]);
    assert_eq!(o.level(), Some("SENSITIVE"));
    let o = run(&s, &e, &headers(&[("Subject", "[SEC=SENSITIVE numbers")]));
    assert!(o.eoh_rules().contains(&"marking.malformed"));
    let o = run(
        &s,
        &e,
        &headers(&[(
            "X-Protective-Marking",
            "VER=2018.1, NS=gov.au, SEC=SENSITIVE",
        )]),
    );
    assert!(o.finding("marking.malformed").detail.contains("namespace"));
}

#[test]
fn banners_raise_the_classification_and_understatement_is_found() {
    let s = scanner();
    let e = env(Direction::Outbound, &["a@agency.govt.nz"]);
    let o = run(
        &s,
        &e,
        &Msg {
            headers: &[("Subject", "notes [IN-CONFIDENCE]")],
            parts: &[(false, "\r\n\r\nSENSITIVE\r\n\r\nHello,\r\nthe figures.\r\n")],
        },
    );
    assert_eq!(o.eoh_rules(), Vec::<&str>::new());
    assert_eq!(o.rules(), ["marking.understated"]);
    assert_eq!(o.level(), Some("SENSITIVE"));
    assert_eq!(o.class().source.as_deref(), Some("body"));
    // Last lines of an attachment, with a releasability caveat.
    let filler = "line of text\r\n".repeat(400);
    let att = format!("{filler}SECRET//NZEO\r\n");
    let o = run(
        &s,
        &e,
        &Msg {
            headers: &[("Subject", "notes [RESTRICTED]")],
            parts: &[(false, "hi\r\n"), (true, &att)],
        },
    );
    assert_eq!(o.level(), Some("SECRET"));
    assert_eq!(o.class().source.as_deref(), Some("attachment"));
    assert_eq!(o.class().releasability, ["NZEO"]);
    assert!(o.rules().contains(&"marking.understated"));
    assert!(o.rules().contains(&"marking.system_ceiling"));
}

#[test]
fn banners_are_whole_lines_and_case_sensitive() {
    let s = scanner();
    let e = env(Direction::Outbound, &["a@agency.govt.nz"]);
    for body in [
        "Please keep out of the restricted area.\r\n",
        "restricted area\r\nSecret\r\n",
        "It is a trade secret\r\nRESTRICTED AREA\r\n",
        &format!("{}\r\nSECRET\r\n{}", "a\r\n".repeat(10), "b\r\n".repeat(10)),
    ] {
        let o = run(
            &s,
            &e,
            &Msg {
                headers: &[("Subject", "[IN-CONFIDENCE] x")],
                parts: &[(false, body)],
            },
        );
        assert_eq!(o.level(), Some("IN-CONFIDENCE"), "{body:?}");
        assert_eq!(o.rules(), Vec::<&str>::new(), "{body:?}");
    }
    let o = run(
        &s,
        &e,
        &Msg {
            headers: &[("Subject", "[IN-CONFIDENCE] x")],
            parts: &[(false, "BUDGET: SENSITIVE\n")],
        },
    );
    assert_eq!(o.level(), Some("SENSITIVE"));
    assert_eq!(o.class().endorsements, ["BUDGET"]);
}

#[test]
fn outbound_unmarked_is_refused_at_end_of_headers() {
    let s = scanner();
    let o = run(
        &s,
        &env(Direction::Outbound, &["x@example.com"]),
        &headers(&[("Subject", "hello")]),
    );
    assert_eq!(o.eoh_rules(), ["marking.missing"]);
    assert_eq!(o.eoh[0].action, Action::Reject);
    assert!(o.eoh[0].detail.contains("15.1.11.C.01"));
    // Inbound unmarked: accepted, nothing reported.
    let o = run(
        &s,
        &env(Direction::Inbound, &["x@agency.govt.nz"]),
        &headers(&[("Subject", "hello")]),
    );
    assert_eq!(o.rules(), Vec::<&str>::new());
    assert_eq!(o.level(), None);
}

#[test]
fn route_ceiling_names_only_the_recipients_that_may_not_receive() {
    let s = scanner();
    let e = env(
        Direction::Outbound,
        &[
            "a@agency.govt.nz",
            "b@partner.govt.nz",
            "c@example.com",
            "d@x.other.govt.nz",
        ],
    );
    let o = run(&s, &e, &headers(&[("Subject", "plan [RESTRICTED]")]));
    assert_eq!(o.eoh_rules(), ["marking.route_ceiling"]);
    let f = &o.eoh[0];
    assert_eq!(f.action, Action::Reject);
    assert!(
        f.detail.contains("c@example.com (ceiling IN-CONFIDENCE)"),
        "{}",
        f.detail
    );
    assert!(
        f.detail.contains("d@x.other.govt.nz (ceiling SENSITIVE)"),
        "{}",
        f.detail
    );
    assert!(!f.detail.contains("b@partner"), "{}", f.detail);
    assert!(f.detail.contains("15.2.40.C.01"));
    assert_eq!(
        f.data.as_ref().unwrap()["recipients"],
        serde_json::json!(["c@example.com", "d@x.other.govt.nz"])
    );
    let o = run(
        &s,
        &env(Direction::Outbound, &["b@partner.govt.nz"]),
        &headers(&[("Subject", "plan [RESTRICTED]")]),
    );
    assert_eq!(o.rules(), Vec::<&str>::new());
}

#[test]
fn system_ceiling_rejects_both_ways() {
    let s = scanner();
    for dir in [Direction::Inbound, Direction::Outbound] {
        let o = run(
            &s,
            &env(dir, &["a@agency.govt.nz"]),
            &headers(&[("Subject", "[SECRET] x")]),
        );
        assert_eq!(o.eoh_rules(), ["marking.system_ceiling"], "{dir}");
        assert_eq!(o.eoh[0].action, Action::Reject);
    }
}

#[test]
fn releasability_and_seemail_routes() {
    let s = scanner();
    let e = env(
        Direction::Outbound,
        &["a@agency.govt.nz", "b@partner.govt.nz", "c@dfat.gov.au"],
    );
    let o = run(
        &s,
        &e,
        &headers(&[("Subject", "[SEC=IN-CONFIDENCE, CAVEAT=SH:NZEO] x")]),
    );
    assert_eq!(o.eoh_rules(), ["marking.nzeo_external"]);
    let d = &o.eoh[0].detail;
    assert!(
        d.contains("b@partner.govt.nz") && d.contains("c@dfat.gov.au") && !d.contains("a@agency"),
        "{d}"
    );
    let o = run(
        &s,
        &e,
        &headers(&[("Subject", "[IN-CONFIDENCE//REL TO NZL, AUS] x")]),
    );
    assert_eq!(o.eoh_rules(), ["marking.rel_to"]);
    assert_eq!(
        o.eoh[0].data.as_ref().unwrap()["recipients"],
        serde_json::json!(["b@partner.govt.nz"])
    );
    let o = run(
        &s,
        &e,
        &headers(&[("Subject", "[SEEMAIL] [IN-CONFIDENCE] x")]),
    );
    assert_eq!(o.eoh_rules(), ["marking.seemail_route"]);
    assert_eq!(
        o.eoh[0].data.as_ref().unwrap()["recipients"],
        serde_json::json!(["c@dfat.gov.au"])
    );
    assert!(o.class().seemail);
}

#[test]
fn inbound_trace_header_replaces_forged_copies() {
    let s = scanner();
    let o = run(
        &s,
        &env(Direction::Inbound, &["a@agency.govt.nz"]),
        &headers(&[
            ("X-SGE-Classification", "UNCLASSIFIED; source=header"),
            (
                "X-Protective-Marking",
                "VER=2018.1, NS=govt.nz, SEC=RESTRICTED, CAVEAT=SH:BUDGET",
            ),
        ]),
    );
    assert_eq!(
        o.facts.header_edits,
        [
            HeaderEdit::Delete {
                name: "X-SGE-Classification".into(),
                index: 1
            },
            HeaderEdit::Add {
                name: "X-SGE-Classification".into(),
                value: "RESTRICTED; source=header; endorsements=BUDGET".into()
            },
        ]
    );
    let o = run(
        &s,
        &env(Direction::Outbound, &["a@agency.govt.nz"]),
        &headers(&[("Subject", "[UNCLASSIFIED]")]),
    );
    assert!(o.facts.header_edits.is_empty());
}

#[test]
fn default_marking_for_unmarked_inbound_is_opt_in() {
    let s = scanner();
    let o = run(
        &s,
        &env(Direction::Inbound, &["a@agency.govt.nz"]),
        &headers(&[("Subject", "hi")]),
    );
    assert!(o.facts.header_edits.is_empty());
    let mut loaded = load(None).unwrap();
    loaded
        .rule_files
        .iter_mut()
        .find(|f| f.name == RULE_FILE)
        .unwrap()
        .text = loaded.rule_file(RULE_FILE).text.replace(
        "# default_level = \"UNCLASSIFIED\"",
        "default_level = \"UNCLASSIFIED\"",
    );
    let s = Arc::new(MarkingScanner::compile(&loaded).unwrap());
    let o = run(
        &s,
        &env(Direction::Inbound, &["a@agency.govt.nz"]),
        &headers(&[("Subject", "hi")]),
    );
    assert!(o.facts.header_edits.contains(&HeaderEdit::Add {
        name: "X-Protective-Marking".into(),
        value: "VER=2018.1, NS=govt.nz, SEC=UNCLASSIFIED".into()
    }));
}

#[test]
fn classified_inbound_without_tls_is_tagged() {
    let s = scanner();
    let mut e = env(Direction::Inbound, &["a@agency.govt.nz"]);
    e.tls_version = None;
    let o = run(&s, &e, &headers(&[("Subject", "[SENSITIVE] x")]));
    assert_eq!(o.rules(), ["marking.no_tls"]);
    assert_eq!(o.all[0].action, Action::Tag);
    let o = run(&s, &e, &headers(&[("Subject", "[IN-CONFIDENCE] x")]));
    assert_eq!(o.rules(), Vec::<&str>::new());
}

#[test]
fn actions_are_configurable_per_direction() {
    let mut loaded = load(None).unwrap();
    loaded
        .rule_files
        .iter_mut()
        .find(|f| f.name == RULE_FILE)
        .unwrap()
        .text = loaded.rule_file(RULE_FILE).text.replace(
        "missing        = { inbound = \"accept\", outbound = \"reject\" }",
        "missing        = { inbound = \"tag\", outbound = \"quarantine\" }",
    );
    let s = Arc::new(MarkingScanner::compile(&loaded).unwrap());
    let o = run(
        &s,
        &env(Direction::Inbound, &[]),
        &headers(&[("Subject", "hi")]),
    );
    assert_eq!(o.all[0].action, Action::Tag);
    let o = run(
        &s,
        &env(Direction::Outbound, &[]),
        &headers(&[("Subject", "hi")]),
    );
    assert_eq!(o.all[0].action, Action::Quarantine);
}

#[test]
fn unknown_levels_in_ceilings_and_rules_name_file_and_line() {
    let mut loaded = load(None).unwrap();
    loaded.text = "[policy]\nsystem_ceiling = \"SEKRET\"\n".into();
    loaded.config.policy.system_ceiling = "SEKRET".into();
    let errs = MarkingScanner::compile(&loaded).unwrap_err();
    assert_eq!(errs.0.len(), 1, "{errs}");
    assert_eq!(errs.0[0].line, Some(2));
    let mut loaded = load(None).unwrap();
    let f = loaded
        .rule_files
        .iter_mut()
        .find(|f| f.name == RULE_FILE)
        .unwrap();
    f.text = f.text.replace(
        "no_tls_min_level = \"SENSITIVE\"",
        "no_tls_min_level = \"SENSITIV\"",
    );
    let line = f
        .text
        .lines()
        .position(|l| l.contains("SENSITIV\""))
        .unwrap()
        + 1;
    let errs = MarkingScanner::compile(&loaded).unwrap_err();
    assert_eq!(errs.0[0].line, Some(line), "{errs}");
    assert!(errs.0[0].file.contains("markings.toml"));
}

#[test]
fn brackets_split_terminated_and_not() {
    assert_eq!(brackets("a [B] c [D"), [("B", true), ("D", false)]);
    assert_eq!(brackets("[x [Y]"), [("x ", false), ("Y", true)]);
    assert_eq!(strip_caveat_prefix("SH:NZEO"), "NZEO");
    assert_eq!(strip_caveat_prefix("REL TO NZL"), "REL TO NZL");
}

#[test]
fn monitor_mode_tags_instead_of_refusing_and_off_reports_nothing() {
    use crate::config::policy::MarkingEnforcement;
    let e = env(Direction::Outbound, &["c@example.com"]);
    let m = headers(&[("Subject", "[SECRET] x")]);
    let s = scanner_with(|l| l.config.policy.marking_enforcement = MarkingEnforcement::Monitor);
    let o = run(&s, &e, &m);
    assert!(!o.all.is_empty());
    assert!(o.all.iter().all(|f| f.action == Action::Tag), "{:?}", o.all);
    let s = scanner_with(|l| l.config.policy.marking_enforcement = MarkingEnforcement::Off);
    let o = run(&s, &e, &m);
    assert!(o.all.is_empty());
    assert_eq!(o.level(), Some("SECRET"));
}
