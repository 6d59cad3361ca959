//! DLP accuracy: generated valid and invalid identifiers in sentences, tables and
//! CSV. Every valid identifier in a supported format is found; no identifier with
//! a wrong check digit reaches medium or high confidence; near-miss traps (phone
//! numbers, dates, invoice numbers, 16-digit tracking numbers) never reach medium.
//! Most cases go through the library pipeline; a representative subset through
//! `sge-milter scan --json`.

mod common;
mod dlp_support;

use dlp_support::{DETECTORS, counting_rules};

use serde_json::Value;
use sge_milter::envelope::{Direction, Envelope};
use sge_milter::offline::scan_message;
use sge_milter::pipeline::Engine;
use sge_milter::scan::dlp::validators;
use std::collections::BTreeMap;
use std::sync::Arc;

struct Config {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

fn config() -> Config {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("rules dir");
    std::fs::write(dir.path().join("rules/dlp.toml"), counting_rules()).expect("write rules");
    let path = dir.path().join("sge-milter.toml");
    // Markings in monitor mode: unmarked test mail is tagged, not refused before
    // DLP sees the body.
    std::fs::write(
        &path,
        "[rules]\ndir = \"rules\"\n\n[policy]\nmarking_enforcement = \"monitor\"\n",
    )
    .expect("write config");
    Config { _dir: dir, path }
}

fn engine(cfg: &Config) -> Arc<Engine> {
    let loaded = sge_milter::config::load(Some(&cfg.path)).expect("config loads");
    Arc::new(Engine::compile(loaded).unwrap_or_else(|e| panic!("{e}")))
}

type Counts = BTreeMap<String, u64>;

fn counts_from_findings(findings: &[Value]) -> Counts {
    findings
        .iter()
        .filter_map(|f| {
            let rule = f["rule"].as_str()?;
            rule.starts_with("t.")
                .then(|| (rule.to_string(), f["data"]["count"].as_u64().unwrap_or(0)))
        })
        .collect()
}

fn eml(body: &str) -> Vec<u8> {
    format!(
        "From: a@agency.govt.nz\r\nTo: b@example.com\r\nSubject: records\r\n\
         X-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=UNCLASSIFIED, ORIGIN=a@agency.govt.nz\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn scan_lib(engine: &Arc<Engine>, body: &str) -> Counts {
    let env = Envelope {
        direction: Some(Direction::Outbound),
        rcpts: vec!["b@example.com".into()],
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let outcome = rt.block_on(scan_message(engine, env, &eml(body)));
    let json = serde_json::to_value(&outcome.decision.findings).expect("json");
    counts_from_findings(json.as_array().map(Vec::as_slice).unwrap_or(&[]))
}

fn count(c: &Counts, detector: &str, conf: &str) -> u64 {
    c.get(&format!("t.{detector}.{conf}")).copied().unwrap_or(0)
}

/// Small deterministic generator (xorshift64*): reproducible test data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    fn letter(&mut self) -> char {
        const NHI: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
        char::from(NHI[self.below(NHI.len() as u64) as usize])
    }
}

/// Completes `body` with each possible last character; returns (valid, invalid).
fn split_by_check(
    body: &str,
    alphabet: &str,
    valid: impl Fn(&str) -> bool,
) -> Option<(String, String)> {
    let mut ok = None;
    let mut bad = None;
    for c in alphabet.chars() {
        let s = format!("{body}{c}");
        if valid(&s) {
            ok.get_or_insert(s);
        } else {
            bad.get_or_insert(s);
        }
    }
    Some((ok?, bad?))
}

const DIGITS: &str = "0123456789";
const NHI_LETTERS: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ";

/// Valid and wrong-check IRD numbers as 9 compact digits.
fn ird(rng: &mut Rng) -> (String, String) {
    loop {
        let base = 10_000_000 + rng.below(139_000_000) / 10 * 10;
        let body = format!("{:09}", base)[..8].to_string();
        if let Some(p) = split_by_check(&body, DIGITS, |s| validators::nz_ird(s.as_bytes())) {
            return p;
        }
    }
}

fn nhi(rng: &mut Rng, new_format: bool) -> (String, String) {
    loop {
        let mut body: String = (0..3).map(|_| rng.letter()).collect();
        if new_format {
            body.push_str(&rng.digits(2));
            body.push(rng.letter());
        } else {
            body.push_str(&rng.digits(3));
        }
        let alphabet = if new_format { NHI_LETTERS } else { DIGITS };
        if let Some(p) = split_by_check(&body, alphabet, |s| validators::nz_nhi(s.as_bytes())) {
            return p;
        }
    }
}

/// Bank accounts as (valid, invalid) `BB-bbbb-AAAAAAA-SSS`.
fn bank(rng: &mut Rng) -> (String, String) {
    let banks: [(&str, u64, u64); 4] = [
        ("01", 1, 999),
        ("12", 3000, 3299),
        ("08", 6500, 6599),
        ("26", 2600, 2699),
    ];
    loop {
        let (b, lo, hi) = banks[rng.below(4) as usize];
        let branch = format!("{:04}", lo + rng.below(hi - lo + 1));
        let suffix_len = if rng.below(2) == 0 { 2 } else { 3 };
        let suffix = rng.digits(suffix_len);
        let head = format!("{:06}", rng.below(980_000));
        let check = |s: &str| {
            validators::nz_bank_account(
                b.as_bytes(),
                branch.as_bytes(),
                s.as_bytes(),
                suffix.as_bytes(),
            )
        };
        if let Some((ok, bad)) = split_by_check(&head, DIGITS, check) {
            return (
                format!("{b}-{branch}-{ok}-{suffix}"),
                format!("{b}-{branch}-{bad}-{suffix}"),
            );
        }
    }
}

fn card(rng: &mut Rng) -> (String, String) {
    let prefixes = ["4", "51", "55", "2221", "6011"];
    let p = prefixes[rng.below(prefixes.len() as u64) as usize];
    let body = format!("{p}{}", rng.digits(15 - p.len()));
    split_by_check(&body, DIGITS, |s| validators::payment_card(s.as_bytes()))
        .expect("one Luhn digit fits")
}

/// Writes 9 IRD digits the ways people type them.
fn ird_form(s: &str, i: usize) -> String {
    let t = s.trim_start_matches('0');
    match i % 4 {
        0 => format!("{}-{}-{}", &s[..3], &s[3..6], &s[6..]),
        1 => s.to_string(),
        2 => format!(
            "{}-{}-{}",
            &t[..t.len() - 6],
            &t[t.len() - 6..t.len() - 3],
            &t[t.len() - 3..]
        ),
        _ => format!("{} {} {}", &s[..3], &s[3..6], &s[6..]),
    }
}

fn card_form(s: &str, i: usize) -> String {
    let groups: Vec<&str> = (0..4).map(|k| &s[k * 4..k * 4 + 4]).collect();
    match i % 3 {
        0 => groups.join(" "),
        1 => groups.join("-"),
        _ => s.to_string(),
    }
}

/// One message per layout: `n` identifiers each in sentences, a table and CSV.
fn documents(ids: &[String], keyword: &str) -> Vec<String> {
    let sentences: String = ids
        .iter()
        .enumerate()
        .map(|(i, id)| match i % 3 {
            0 => format!("Please update the {keyword} {id} for this client.\r\n"),
            1 => format!("The {keyword} on file is {id}; confirm before Friday.\r\n"),
            _ => format!("{id} is the {keyword} she gave us, see attached notes.\r\n\r\n"),
        })
        .collect();
    let table: String =
        std::iter::once(format!("| Name | {keyword} | City |\r\n|---|---|---|\r\n"))
            .chain(
                ids.iter()
                    .enumerate()
                    .map(|(i, id)| format!("| Person {i} | {id} | Wellington |\r\n")),
            )
            .collect();
    let csv: String = std::iter::once(format!("name,{keyword},amount\r\n"))
        .chain(
            ids.iter()
                .enumerate()
                .map(|(i, id)| format!("Person {i},{id},{}.50\r\n", 100 + i)),
        )
        .collect();
    let tabs: String = ids.iter().map(|id| format!("x\t{id}\t2024\r\n")).collect();
    vec![sentences, table, csv, tabs]
}

struct Case {
    detector: &'static str,
    keyword: &'static str,
    valid: Vec<String>,
    invalid: Vec<String>,
}

fn cases() -> Vec<Case> {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let n = 24;
    let mut out = Vec::new();
    let (v, i): (Vec<_>, Vec<_>) = (0..n).map(|_| ird(&mut rng)).unzip();
    out.push(Case {
        detector: "nz_ird",
        keyword: "IRD number",
        valid: v.iter().enumerate().map(|(k, s)| ird_form(s, k)).collect(),
        invalid: i.iter().enumerate().map(|(k, s)| ird_form(s, k)).collect(),
    });
    let (v, i): (Vec<_>, Vec<_>) = (0..n).map(|k| nhi(&mut rng, k % 2 == 0)).unzip();
    out.push(Case {
        detector: "nz_nhi",
        keyword: "NHI",
        valid: v
            .iter()
            .enumerate()
            .map(|(k, s)| {
                if k % 5 == 0 {
                    s.to_lowercase()
                } else {
                    s.clone()
                }
            })
            .collect(),
        invalid: i,
    });
    let (v, i): (Vec<_>, Vec<_>) = (0..n).map(|_| bank(&mut rng)).unzip();
    out.push(Case {
        detector: "nz_bank_account",
        keyword: "bank account",
        valid: v
            .iter()
            .enumerate()
            .map(|(k, s)| {
                if k % 2 == 0 {
                    s.replace('-', " ")
                } else {
                    s.clone()
                }
            })
            .collect(),
        invalid: i,
    });
    let (v, i): (Vec<_>, Vec<_>) = (0..n).map(|_| card(&mut rng)).unzip();
    out.push(Case {
        detector: "payment_card",
        keyword: "card number",
        valid: v.iter().enumerate().map(|(k, s)| card_form(s, k)).collect(),
        invalid: i.iter().enumerate().map(|(k, s)| card_form(s, k)).collect(),
    });
    out
}

#[test]
fn every_valid_identifier_is_found_in_every_layout() {
    let cfg = config();
    let engine = engine(&cfg);
    for case in cases() {
        for (layout, doc) in documents(&case.valid, case.keyword).iter().enumerate() {
            let c = scan_lib(&engine, doc);
            let n = case.valid.len() as u64;
            assert_eq!(
                count(&c, case.detector, "medium"),
                n,
                "{} layout {layout}: {c:?}\n{doc}",
                case.detector
            );
            // Sentences have a keyword on every line; the other layouts have one at
            // most in their header line, but 24 distinct valid values are a bulk list
            // (`bulk_min_count`), so every one of them is high in every layout.
            assert_eq!(
                count(&c, case.detector, "high"),
                n,
                "{} layout {layout}: {c:?}",
                case.detector
            );
        }
    }
}

#[test]
fn wrong_check_digits_never_reach_medium() {
    let cfg = config();
    let engine = engine(&cfg);
    for case in cases() {
        for (layout, doc) in documents(&case.invalid, case.keyword).iter().enumerate() {
            let c = scan_lib(&engine, doc);
            for d in DETECTORS {
                assert_eq!(
                    count(&c, d, "medium"),
                    0,
                    "{} layout {layout} ({d}): {c:?}\n{doc}",
                    case.detector
                );
            }
            assert_eq!(
                count(&c, case.detector, "low"),
                case.invalid.len() as u64,
                "{} layout {layout}: each is still seen as a pattern: {c:?}",
                case.detector
            );
        }
    }
}

fn traps() -> Vec<String> {
    let mut rng = Rng(0xDEAD_BEEF_0042);
    let mut t = Vec::new();
    for _ in 0..40 {
        let (a, b, c) = (rng.digits(3), rng.digits(4), rng.digits(3));
        t.push(format!(
            "Call me on +64 21 {a} {b} or 021 {a} {b} or (09) {a} {b}, 09-{a}-{b}."
        ));
        t.push(format!("Freephone 0800 {a} {c} or +64-4-{a}-{b}."));
        let (d, m, y) = (1 + rng.below(28), 1 + rng.below(12), 1950 + rng.below(80));
        t.push(format!("Dated {d:02}/{m:02}/{y}, {y}-{m:02}-{d:02}, {y}{m:02}{d:02}, {d:02}{m:02}{y} and {d:02}.{m:02}.{y}."));
        t.push(format!(
            "Invoice INV-{} and INV-2024-{}; PO #{}; ref INV{}.",
            rng.digits(9),
            rng.digits(6),
            rng.digits(8),
            rng.digits(8)
        ));
        // A 16-digit tracking number that fails Luhn, with and without a card keyword.
        let tracking = loop {
            let s = rng.digits(16);
            if !validators::luhn(s.as_bytes()) {
                break s;
            }
        };
        t.push(format!(
            "Courier tracking {tracking}; card number {tracking}."
        ));
        t.push(format!(
            "Amount NZD {}.{} paid, version {}.{}.{}",
            rng.digits(7),
            rng.digits(2),
            rng.below(9),
            rng.below(20),
            rng.below(99)
        ));
    }
    t
}

#[test]
fn near_miss_traps_never_reach_medium() {
    let cfg = config();
    let engine = engine(&cfg);
    let traps = traps();
    let body = traps.join("\r\n");
    let c = scan_lib(&engine, &body);
    for d in DETECTORS {
        assert_eq!(count(&c, d, "medium"), 0, "{d}: {c:?}");
    }
    for t in &traps {
        let c = scan_lib(&engine, t);
        assert!(
            DETECTORS.iter().all(|d| count(&c, d, "medium") == 0),
            "{t}: {c:?}"
        );
    }
}

#[test]
fn passport_and_licence_need_a_keyword() {
    let cfg = config();
    let engine = engine(&cfg);
    let c = scan_lib(&engine, "Codes LA123456 and N654321 in the catalogue.");
    assert_eq!(count(&c, "nz_passport", "low"), 2, "{c:?}");
    assert_eq!(count(&c, "nz_passport", "medium"), 0, "{c:?}");
    assert_eq!(count(&c, "nz_driver_licence", "low"), 1, "{c:?}");
    // Keywords count within 300 characters either side, so the two sentences are
    // kept apart: a two-letter number near both words would be high for both.
    let filler = "Nothing else of note here. ".repeat(15);
    let c = scan_lib(
        &engine,
        &format!("My passport number is LA123456.\r\n{filler}\r\nMy driver licence: DL654321."),
    );
    assert_eq!(count(&c, "nz_passport", "high"), 1, "{c:?}");
    assert_eq!(count(&c, "nz_driver_licence", "high"), 1, "{c:?}");
}

/// The same through the command line, for a representative subset: the counts
/// agree with the library, and no identifier appears in the JSON.
#[test]
fn cli_scan_json_matches_and_masks() {
    let cfg = config();
    let engine = engine(&cfg);
    let config_arg = cfg.path.to_string_lossy().to_string();
    let args = [
        "--config",
        &config_arg,
        "--direction",
        "outbound",
        "--to",
        "b@example.com",
    ];
    for case in cases() {
        let valid: Vec<String> = case.valid.iter().take(6).cloned().collect();
        let doc = documents(&valid, case.keyword).join("\r\n\r\n");
        let report = common::scan_json(&args, &eml(&doc));
        let cli = counts_from_findings(report["findings"].as_array().expect("findings"));
        assert_eq!(cli, scan_lib(&engine, &doc), "{}", case.detector);
        assert_eq!(
            count(&cli, case.detector, "medium"),
            24,
            "{}: {report}",
            case.detector
        );
        let f = report["findings"]
            .as_array()
            .and_then(|f| {
                f.iter()
                    .find(|f| f["rule"] == format!("t.{}.medium", case.detector))
            })
            .expect("finding");
        assert_eq!(f["data"]["detector"], case.detector);
        assert!(f["data"]["confidence"].is_string());
        assert!(!f["data"]["samples"].as_array().expect("samples").is_empty());
        let text = report.to_string();
        for id in &valid {
            let compact: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
            assert!(
                !text.contains(id.as_str()) && !text.contains(&compact),
                "{id} echoed: {text}"
            );
        }
    }
}

/// The default rules through the CLI: an unmarked outbound message with an IRD
/// number is rejected, the reply names the rule and masks the number.
#[test]
fn default_rules_reject_unmarked_identifiers_without_echoing_them() {
    let args = ["--direction", "outbound", "--to", "b@example.com"];
    let r = common::scan_json(&args, &eml("Hi, my IRD number is 136-410-132. Thanks"));
    assert_eq!(r["action"], "reject", "{r}");
    let reply = r["smtp_reply"].as_str().expect("reply");
    assert!(reply.contains("dlp.nz_identifiers.unmarked"), "{reply}");
    let text = r.to_string();
    assert!(
        !text.contains("136-410-132") && !text.contains("136410132"),
        "{text}"
    );
    assert!(text.contains("***-***-132"), "{text}");

    let r = common::scan_json(&args, &eml("Hi, my IRD number is 136-410-133. Thanks"));
    assert_eq!(r["action"], "accept", "{r}");
    // Unmarked, the markings rules refuse it before DLP reads the body.
    let unmarked = String::from_utf8_lossy(&eml("IRD 136-410-133")).replace(
        "X-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=UNCLASSIFIED, ORIGIN=a@agency.govt.nz\r\n",
        "",
    );
    let r = common::scan_json(&args, unmarked.as_bytes());
    assert_eq!(r["findings"][0]["rule"], "marking.missing", "{r}");

    let r = common::scan_json(&args, &eml("Card 4111 1111 1111 1111 exp 12/29"));
    assert_eq!(r["action"], "reject", "{r}");
    assert!(!r.to_string().contains("4111 1111 1111 1111"));
}

const MARK: &str =
    "X-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=UNCLASSIFIED, ORIGIN=a@agency.govt.nz\r\n";

fn base64_lines(data: &[u8], width: usize) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    b64.as_bytes()
        .chunks(width)
        .map(|l| format!("{}\r\n", String::from_utf8_lossy(l)))
        .collect()
}

fn docx(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("[Content_Types].xml", opts).expect("zip");
    w.write_all(b"<Types/>").expect("zip");
    w.start_file("word/document.xml", opts).expect("zip");
    let xml = format!(
        "<w:document><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>"
    );
    w.write_all(xml.as_bytes()).expect("zip");
    w.finish().expect("zip").into_inner()
}

/// Identifiers inside base64 and quoted-printable parts, split across encoded line
/// breaks at every offset, and inside a docx attachment: each found exactly once.
#[test]
fn encoded_parts_and_docx_attachments_are_scanned_through_the_cli() {
    let args = ["--direction", "outbound", "--to", "b@example.com"];
    let sentence = "Client IRD number 136-410-132 and NHI ZSC21TN.";
    for width in [4, 17, 76] {
        // Pad so the identifiers land on different base64 line positions.
        for pad in 0..3 {
            let body = format!("{}{sentence}", " ".repeat(pad));
            let msg = format!(
                "From: a@agency.govt.nz\r\nTo: b@example.com\r\nSubject: b64\r\n{MARK}MIME-Version: 1.0\r\n\
                 Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
                base64_lines(body.as_bytes(), width)
            );
            let r = common::scan_json(&args, msg.as_bytes());
            let f = r["findings"]
                .as_array()
                .and_then(|f| {
                    f.iter()
                        .find(|f| f["rule"] == "dlp.nz_identifiers.unmarked")
                })
                .unwrap_or_else(|| panic!("width {width} pad {pad}: {r}"));
            assert_eq!(f["data"]["count"], 2, "width {width} pad {pad}: {r}");
        }
    }
    // Quoted-printable with a soft line break inside the number.
    let qp = "Client IRD number 136-41=\r\n0-132 for the file.=\r\n\r\n";
    let msg = format!(
        "From: a@agency.govt.nz\r\nTo: b@example.com\r\nSubject: qp\r\n{MARK}MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{qp}"
    );
    let r = common::scan_json(&args, msg.as_bytes());
    assert_eq!(r["action"], "reject", "{r}");

    let doc = docx("Employee bank account 01-0902-0068389-00, see payroll.");
    let msg = format!(
        "From: a@agency.govt.nz\r\nTo: b@example.com\r\nSubject: docx\r\n{MARK}MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n\
         See attached.\r\n--b1\r\nContent-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document; name=\"pay.docx\"\r\n\
         Content-Disposition: attachment; filename=\"pay.docx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--b1--\r\n",
        base64_lines(&doc, 76)
    );
    let r = common::scan_json(&args, msg.as_bytes());
    assert_eq!(r["action"], "reject", "{r}");
    let text = r.to_string();
    assert!(text.contains("nz_bank_account"), "{text}");
    assert!(!text.contains("0068389"), "{text}");
}

/// With the real markings scanner in front: an IN-CONFIDENCE marking lifts the
/// unmarked-identifier rule, and `[policy] local_domains` decides who is external
/// for the bulk rule.
#[test]
fn marking_and_local_domains_from_the_main_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sge-milter.toml");
    std::fs::write(&path, "[policy]\nlocal_domains = [\"agency.govt.nz\"]\n").expect("config");
    let config = path.to_string_lossy().to_string();
    let ids = "IRD number 136-410-132, ".repeat(10);
    let marked = |rcpt: &str| {
        format!(
            "From: a@agency.govt.nz\r\nTo: {rcpt}\r\nSubject: staff list [IN-CONFIDENCE]\r\n\
             X-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=IN-CONFIDENCE, ORIGIN=a@agency.govt.nz\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n{ids}\r\n"
        )
    };
    let rules = |r: &Value| -> Vec<String> {
        r["findings"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|f| f["rule"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let internal = "b@hr.agency.govt.nz";
    let args = [
        "--config",
        &config,
        "--direction",
        "outbound",
        "--to",
        internal,
    ];
    let r = common::scan_json(&args, marked(internal).as_bytes());
    let ids_found = rules(&r);
    assert!(!ids_found.iter().any(|id| id.starts_with("dlp.")), "{r}");

    let external = "b@example.com";
    let args = [
        "--config",
        &config,
        "--direction",
        "outbound",
        "--to",
        external,
    ];
    let r = common::scan_json(&args, marked(external).as_bytes());
    let found = rules(&r);
    assert!(
        found.contains(&"dlp.bulk_identifiers.external".to_string()),
        "{r}"
    );
    assert!(
        !found.contains(&"dlp.nz_identifiers.unmarked".to_string()),
        "{r}"
    );
}

/// Writes each IRD number on a line of its own, nothing else: no keyword anywhere.
fn bare_list(ids: &[String]) -> String {
    ids.iter().map(|s| format!("{s}\r\n")).collect()
}

/// Bulk lists (`[settings] bulk_min_count`, default 5): five or more distinct
/// check-digit-valid values of one detector are high without a keyword; fewer are
/// not; wrong check digits never count; repeating one number is still one value.
#[test]
fn bulk_lists_are_high_without_a_keyword() {
    let cfg = config();
    let engine = engine(&cfg);
    let mut rng = Rng(0xB01C_2026_0001);
    let (valid, invalid): (Vec<_>, Vec<_>) = (0..15).map(|_| ird(&mut rng)).unzip();
    let valid: Vec<String> = valid
        .iter()
        .enumerate()
        .map(|(k, s)| ird_form(s, k))
        .collect();

    let c = scan_lib(&engine, &bare_list(&valid));
    assert_eq!(count(&c, "nz_ird", "high"), 15, "{c:?}");

    for n in [4, 5] {
        let c = scan_lib(&engine, &bare_list(&valid[..n]));
        assert_eq!(count(&c, "nz_ird", "medium"), n as u64, "{n}: {c:?}");
        let high = if n >= 5 { n as u64 } else { 0 };
        assert_eq!(count(&c, "nz_ird", "high"), high, "{n}: {c:?}");
    }

    let c = scan_lib(&engine, &bare_list(&invalid));
    assert_eq!(count(&c, "nz_ird", "low"), 15, "{c:?}");
    assert_eq!(count(&c, "nz_ird", "medium"), 0, "{c:?}");

    // Four valid numbers among eleven wrong ones, and one number written five ways.
    let mixed: Vec<String> = valid[..4].iter().chain(&invalid[..11]).cloned().collect();
    let c = scan_lib(&engine, &bare_list(&mixed));
    assert_eq!(count(&c, "nz_ird", "high"), 0, "{c:?}");
    let one = "049-091-850\r\n049091850\r\n49091850\r\n49-091-850\r\n049 091 850\r\n";
    let c = scan_lib(&engine, one);
    assert_eq!(count(&c, "nz_ird", "medium"), 5, "{c:?}");
    assert_eq!(count(&c, "nz_ird", "high"), 0, "{c:?}");

    // Passport numbers have no check digit: a list of them stays low.
    let passports: String = (0..15)
        .map(|k| format!("LA{:06}\r\n", 100_000 + k))
        .collect();
    let c = scan_lib(&engine, &passports);
    assert_eq!(count(&c, "nz_passport", "low"), 15, "{c:?}");
    assert_eq!(count(&c, "nz_passport", "high"), 0, "{c:?}");
}

/// The default rules through the CLI: a bare list of 15 valid IRD numbers in mail
/// marked UNCLASSIFIED is refused (and names the bulk rule, without echoing a
/// number); four are let through; 15 wrong ones too. Marked IN-CONFIDENCE, the
/// list is held for review because the recipient is external.
#[test]
fn default_rules_refuse_a_bare_bulk_list() {
    let args = ["--direction", "outbound", "--to", "b@example.com"];
    let mut rng = Rng(0xB01C_2026_0002);
    let (valid, invalid): (Vec<_>, Vec<_>) = (0..15).map(|_| ird(&mut rng)).unzip();

    let r = common::scan_json(&args, &eml(&bare_list(&valid)));
    assert_eq!(r["action"], "reject", "{r}");
    let reply = r["smtp_reply"].as_str().expect("reply");
    assert!(reply.contains("dlp.bulk_identifiers.unmarked"), "{reply}");
    let text = r.to_string();
    for id in &valid {
        assert!(!text.contains(id.as_str()), "{id} echoed: {text}");
    }
    let f = r["findings"]
        .as_array()
        .and_then(|f| {
            f.iter()
                .find(|f| f["rule"] == "dlp.bulk_identifiers.unmarked")
        })
        .expect("bulk finding");
    assert_eq!(f["data"]["count"], 15, "{f}");
    assert_eq!(f["data"]["by_detector"][0]["bulk"], true, "{f}");

    let r = common::scan_json(&args, &eml(&bare_list(&valid[..4])));
    assert_eq!(r["action"], "accept", "{r}");
    let r = common::scan_json(&args, &eml(&bare_list(&invalid)));
    assert_eq!(r["action"], "accept", "{r}");

    let in_confidence = String::from_utf8_lossy(&eml(&bare_list(&valid)))
        .replace("SEC=UNCLASSIFIED", "SEC=IN-CONFIDENCE");
    let r = common::scan_json(&args, in_confidence.as_bytes());
    assert_eq!(r["action"], "quarantine", "{r}");
    let rules: Vec<&str> = r["findings"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["rule"].as_str()).collect())
        .unwrap_or_default();
    assert!(rules.contains(&"dlp.bulk_identifiers.external"), "{r}");
    assert!(!rules.iter().any(|id| id.ends_with(".unmarked")), "{r}");
}
