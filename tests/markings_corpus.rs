//! Table-driven corpus of protective markings, run through the CLI exactly as an
//! admin would: `sge-milter scan --json --direction ... --to ...`.

use base64::Engine as _;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

// Markings alone: authentication (which would refuse unauthenticated mail claiming
// a local domain from outside, NZISM 15.2.37) has its own tests.
const CONFIG: &str = r#"
[auth]
enabled = false
[policy]
local_domains = ["agency.govt.nz"]
system_ceiling = "RESTRICTED"

[routes]
default_ceiling = "IN-CONFIDENCE"
restricted_group = ["partner.govt.nz"]

[routes.ceilings]
"other.govt.nz" = "SENSITIVE"

[routes.countries]
AUS = ["gov.au"]
"#;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn scan(dir: &Path, direction: &str, to: &[&str], eml: &str) -> Value {
    let cfg = dir.join("sge-milter.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let msg = dir.join("m.eml");
    std::fs::write(&msg, eml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sge-milter"));
    cmd.args(["scan", "--json", "--config"])
        .arg(&cfg)
        .args(["--direction", direction]);
    for t in to {
        cmd.args(["--to", t]);
    }
    let out = cmd.arg(&msg).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn rules(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

struct Case {
    name: &'static str,
    direction: &'static str,
    to: &'static [&'static str],
    eml: String,
    action: &'static str,
    level: Option<&'static str>,
    /// Rule ids that must all be found (others may be too).
    rules: &'static [&'static str],
    /// Rule ids that must not be found.
    not_rules: &'static [&'static str],
    /// Text the SMTP reply must hold / must not hold.
    reply_has: &'static [&'static str],
    reply_lacks: &'static [&'static str],
}

impl Default for Case {
    fn default() -> Self {
        Case {
            name: "",
            direction: "outbound",
            to: &["a@agency.govt.nz"],
            eml: String::new(),
            action: "accept",
            level: None,
            rules: &[],
            not_rules: &[],
            reply_has: &[],
            reply_lacks: &[],
        }
    }
}

fn plain(headers: &str, body: &str) -> String {
    format!("From: a@agency.govt.nz\r\nTo: b@example.com\r\n{headers}\r\n\r\n{body}")
}

fn multipart(headers: &str, parts: &[(&str, &str)]) -> String {
    let mut s = format!(
        "From: a@agency.govt.nz\r\n{headers}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BOUND\"\r\n\r\npreamble\r\n"
    );
    for (part_headers, body) in parts {
        s.push_str(&format!("--BOUND\r\n{part_headers}\r\n\r\n{body}\r\n"));
    }
    s.push_str("--BOUND--\r\n");
    s
}

fn cases() -> Vec<Case> {
    let filler = "Lorem ipsum dolor sit amet, consectetur adipiscing.\r\n".repeat(40);
    vec![
        Case {
            name: "subject bracket, restricted group recipient",
            to: &["b@partner.govt.nz"],
            eml: plain("Subject: Plan [RESTRICTED]", "hello\r\n"),
            level: Some("RESTRICTED"),
            ..Default::default()
        },
        Case {
            name: "RFC 2047 base64 subject",
            to: &["b@other.govt.nz"],
            eml: plain(
                &format!(
                    "Subject: =?UTF-8?B?{}?=",
                    b64("Hui [BUDGET SENSITIVE] Māori")
                ),
                "hello\r\n",
            ),
            level: Some("SENSITIVE"),
            ..Default::default()
        },
        Case {
            name: "RFC 2047 Q subject",
            eml: plain("Subject: =?utf-8?Q?Hui_=5BIN-CONFIDENCE=5D?=", "hello\r\n"),
            level: Some("IN-CONFIDENCE"),
            ..Default::default()
        },
        Case {
            name: "case and spacing variants in brackets",
            eml: plain("Subject: notes [ in confidence ]", "hello\r\n"),
            level: Some("IN-CONFIDENCE"),
            ..Default::default()
        },
        Case {
            name: "SEC= subject form with caveat",
            to: &["b@partner.govt.nz"],
            eml: plain("Subject: x [SEC=SENSITIVE, CAVEAT=SH:BUDGET]", "hello\r\n"),
            level: Some("SENSITIVE"),
            ..Default::default()
        },
        Case {
            name: "folded X-Protective-Marking header",
            to: &["b@partner.govt.nz"],
            eml: plain(
                "Subject: plan\r\nX-Protective-Marking: VER=2018.1, NS=govt.nz,\r\n SEC=RESTRICTED,\r\n\tCAVEAT=SH:BUDGET, ORIGIN=a@agency.govt.nz",
                "hello\r\n",
            ),
            level: Some("RESTRICTED"),
            ..Default::default()
        },
        Case {
            name: "escaped comma in REL TO caveat",
            to: &["b@dfat.gov.au"],
            eml: plain(
                "Subject: plan\r\nX-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=IN-CONFIDENCE, CAVEAT=RI:REL TO NZL\\, AUS",
                "hello\r\n",
            ),
            level: Some("IN-CONFIDENCE"),
            ..Default::default()
        },
        Case {
            name: "REL TO a country outside the map",
            to: &["b@dfat.gov.au", "c@fco.gov.uk"],
            eml: plain(
                "Subject: plan [IN-CONFIDENCE//REL TO NZL, AUS]",
                "hello\r\n",
            ),
            action: "reject",
            level: Some("IN-CONFIDENCE"),
            rules: &["marking.rel_to"],
            reply_has: &["c@fco.gov.uk"],
            reply_lacks: &["dfat"],
            ..Default::default()
        },
        Case {
            name: "NZEO to an external recipient",
            to: &["a@agency.govt.nz", "b@partner.govt.nz"],
            eml: plain("Subject: plan [SENSITIVE//NZEO]", "hello\r\n"),
            action: "reject",
            level: Some("SENSITIVE"),
            rules: &["marking.nzeo_external"],
            reply_has: &["b@partner.govt.nz"],
            reply_lacks: &["a@agency"],
            ..Default::default()
        },
        Case {
            name: "SEEMAIL to the Internet",
            to: &["b@partner.govt.nz", "c@example.com"],
            eml: plain("Subject: [SEEMAIL] [IN-CONFIDENCE] plan", "hello\r\n"),
            action: "reject",
            level: Some("IN-CONFIDENCE"),
            rules: &["marking.seemail_route"],
            reply_has: &["c@example.com"],
            reply_lacks: &["partner"],
            ..Default::default()
        },
        Case {
            name: "mixed recipients: some over their route ceiling",
            to: &[
                "a@agency.govt.nz",
                "b@partner.govt.nz",
                "c@example.com",
                "d@other.govt.nz",
            ],
            eml: plain("Subject: plan [RESTRICTED]", "hello\r\n"),
            action: "reject",
            level: Some("RESTRICTED"),
            rules: &["marking.route_ceiling"],
            reply_has: &["c@example.com", "d@other.govt.nz", "15.2.40.C.01"],
            reply_lacks: &["partner", "a@agency"],
            ..Default::default()
        },
        Case {
            name: "outbound unmarked",
            to: &["c@example.com"],
            eml: plain("Subject: hello", "hello\r\n"),
            action: "reject",
            rules: &["marking.missing"],
            reply_has: &["15.1.11.C.01"],
            ..Default::default()
        },
        Case {
            name: "false-positive traps in subject and body",
            eml: plain(
                "Subject: [IN-CONFIDENCE] Restricted area access and trade secret",
                "Please keep out of the restricted area.\r\nIt is a trade secret.\r\nSecret\r\n",
            ),
            level: Some("IN-CONFIDENCE"),
            not_rules: &["marking.understated", "marking.unknown"],
            ..Default::default()
        },
        Case {
            name: "prose bracket is not a marking",
            eml: plain("Subject: [Restricted area] access", "hello\r\n"),
            action: "reject",
            rules: &["marking.missing"],
            not_rules: &["marking.unknown"],
            ..Default::default()
        },
        Case {
            name: "unterminated bracket",
            eml: plain("Subject: [SENSITIVE budget figures", "hello\r\n"),
            action: "reject",
            level: Some("SENSITIVE"),
            rules: &["marking.malformed"],
            ..Default::default()
        },
        Case {
            name: "two conflicting X-Protective-Marking headers",
            eml: plain(
                "Subject: plan\r\nX-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=IN-CONFIDENCE\r\nX-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=SENSITIVE",
                "hello\r\n",
            ),
            action: "reject",
            level: Some("SENSITIVE"),
            rules: &["marking.malformed"],
            ..Default::default()
        },
        Case {
            name: "header and subject disagree: header wins",
            direction: "inbound",
            eml: plain(
                "Subject: plan [SENSITIVE]\r\nX-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=IN-CONFIDENCE",
                "hello\r\n",
            ),
            action: "tag",
            level: Some("IN-CONFIDENCE"),
            rules: &["marking.conflict"],
            ..Default::default()
        },
        Case {
            name: "unknown level in header",
            eml: plain(
                "Subject: plan\r\nX-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=PROTECTED",
                "hello\r\n",
            ),
            action: "reject",
            rules: &["marking.unknown"],
            ..Default::default()
        },
        Case {
            name: "quoted-printable body banner split by a soft line break",
            eml: plain(
                "Subject: figures [IN-CONFIDENCE]\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable",
                "SENSI=\r\nTIVE\r\n\r\nThe figures =E2=80=93 attached.\r\n",
            ),
            action: "reject",
            level: Some("SENSITIVE"),
            rules: &["marking.understated"],
            reply_has: &["15.1.11.C.02"],
            ..Default::default()
        },
        Case {
            name: "base64 body banner at the end",
            to: &["b@other.govt.nz"],
            eml: plain(
                "Subject: figures [SENSITIVE]\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64",
                &b64(&format!("{filler}\r\nBUDGET: SENSITIVE\r\n")),
            ),
            level: Some("SENSITIVE"),
            not_rules: &["marking.understated"],
            ..Default::default()
        },
        Case {
            name: "banner inside a base64 text attachment",
            eml: multipart(
                "Subject: report [IN-CONFIDENCE]",
                &[
                    ("Content-Type: text/plain", "see attached"),
                    (
                        "Content-Type: text/plain; name=\"r.txt\"\r\nContent-Disposition: attachment; filename=\"r.txt\"\r\nContent-Transfer-Encoding: base64",
                        &b64(&format!("{filler}SECRET//NZEO\r\n")),
                    ),
                ],
            ),
            action: "reject",
            level: Some("SECRET"),
            rules: &["marking.understated", "marking.system_ceiling"],
            ..Default::default()
        },
        Case {
            name: "HTML body banner",
            eml: multipart(
                "Subject: report [IN-CONFIDENCE]",
                &[(
                    "Content-Type: text/html; charset=utf-8",
                    "<html><body>\r\n<p align=center><b>RESTRICTED</b></p>\r\n<p>text</p>\r\n</body></html>",
                )],
            ),
            action: "reject",
            level: Some("RESTRICTED"),
            rules: &["marking.understated"],
            ..Default::default()
        },
        Case {
            name: "inbound unmarked is accepted",
            direction: "inbound",
            eml: plain("Subject: hello", "hello\r\n"),
            ..Default::default()
        },
        Case {
            name: "inbound SECRET is rejected",
            direction: "inbound",
            eml: plain("Subject: [SECRET] plan", "hello\r\n"),
            action: "reject",
            level: Some("SECRET"),
            rules: &["marking.system_ceiling"],
            reply_has: &["15.2.41.C.01"],
            ..Default::default()
        },
        Case {
            name: "inbound RESTRICTED without TLS is tagged",
            direction: "inbound",
            eml: plain(
                "Subject: plan\r\nX-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=RESTRICTED",
                "hello\r\n",
            ),
            action: "tag",
            level: Some("RESTRICTED"),
            rules: &["marking.no_tls"],
            ..Default::default()
        },
    ]
}

#[test]
fn corpus() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for c in cases() {
        let v = scan(dir.path(), c.direction, c.to, &c.eml);
        let found = rules(&v);
        let reply = v["smtp_reply"].as_str().unwrap_or("");
        let mut why = Vec::new();
        if v["action"] != c.action {
            why.push(format!("action {} != {}", v["action"], c.action));
        }
        if v["classification"]["level"].as_str() != c.level {
            why.push(format!(
                "level {} != {:?}",
                v["classification"]["level"], c.level
            ));
        }
        for r in c.rules {
            if !found.iter().any(|f| f == r) {
                why.push(format!("missing finding {r}"));
            }
        }
        for r in c.not_rules {
            if found.iter().any(|f| f == r) {
                why.push(format!("unexpected finding {r}"));
            }
        }
        for t in c.reply_has {
            if !reply.contains(t) {
                why.push(format!("reply lacks {t:?}"));
            }
        }
        for t in c.reply_lacks {
            if reply.contains(t) {
                why.push(format!("reply holds {t:?}"));
            }
        }
        if !why.is_empty() {
            failures.push(format!("{}: {} -- {v}", c.name, why.join("; ")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn classification_json_and_trace_header() {
    let dir = tempfile::tempdir().unwrap();
    let v = scan(
        dir.path(),
        "inbound",
        &["a@agency.govt.nz"],
        &plain(
            "Subject: plan\r\nX-SGE-Classification: TOP SECRET; source=header\r\nX-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=IN-CONFIDENCE, CAVEAT=SH:BUDGET, CAVEAT=SH:NZEO",
            "hello\r\n",
        ),
    );
    let c = &v["classification"];
    assert_eq!(c["level"], "IN-CONFIDENCE");
    assert_eq!(c["endorsements"], serde_json::json!(["BUDGET"]));
    assert_eq!(c["releasability"], serde_json::json!(["NZEO"]));
    assert_eq!(c["source"], "header");
    let added = v["headers_added"].as_array().unwrap();
    assert!(
        added.contains(&serde_json::json!([
            "X-SGE-Classification",
            "IN-CONFIDENCE; source=header; endorsements=BUDGET; releasability=NZEO"
        ])),
        "{v}"
    );
    let v = scan(
        dir.path(),
        "inbound",
        &["a@agency.govt.nz"],
        &plain("Subject: hi", "x\r\n"),
    );
    assert_eq!(v["classification"]["level"], Value::Null);
    // Unmarked mail is not traced (other scanners may still add their headers).
    assert!(
        v["headers_added"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h[0] != "X-SGE-Classification"),
        "{v}"
    );
}

fn check_rules(config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sge-milter"))
        .args(["check-rules", "--config"])
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_rules_names_file_and_line_of_unknown_levels() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sge-milter.toml");
    // An unknown level in a route ceiling of the main config.
    std::fs::write(
        &cfg,
        "[routes.ceilings]\n\"other.govt.nz\" = \"SENSITIVE\"\n\"x.govt.nz\" = \"SECRETISH\"\n",
    )
    .unwrap();
    let (ok, err) = check_rules(&cfg);
    assert!(!ok);
    assert!(err.contains(&format!("{}:3:", cfg.display())), "{err}");
    assert!(err.contains("SECRETISH"), "{err}");

    // An unknown level in the markings file itself.
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let embedded = sge_milter::config::EMBEDDED_RULES
        .iter()
        .find(|(n, _)| *n == "markings.toml")
        .unwrap()
        .1;
    let broken = embedded.replace(
        "no_tls_min_level = \"SENSITIVE\"",
        "no_tls_min_level = \"CLASSIFIED\"",
    );
    let line = broken
        .lines()
        .position(|l| l.contains("\"CLASSIFIED\""))
        .unwrap()
        + 1;
    std::fs::write(rules.join("markings.toml"), broken).unwrap();
    std::fs::write(&cfg, "[rules]\ndir = \"rules\"\n").unwrap();
    let (ok, err) = check_rules(&cfg);
    assert!(!ok);
    let path = rules.join("markings.toml");
    assert!(
        err.contains(&format!("{}:{line}:", path.display())),
        "{err}"
    );

    // A ceiling naming a level the replaced vocabulary no longer defines.
    let no_sensitive = embedded.replace("[[level]]\nname = \"SENSITIVE\"\nrank = 3\n", "");
    assert_ne!(no_sensitive, embedded);
    let no_sensitive = no_sensitive.replace(
        "no_tls_min_level = \"SENSITIVE\"",
        "no_tls_min_level = \"RESTRICTED\"",
    );
    std::fs::write(rules.join("markings.toml"), no_sensitive).unwrap();
    std::fs::write(
        &cfg,
        "[rules]\ndir = \"rules\"\n\n[routes]\ndefault_ceiling = \"SENSITIVE\"\n",
    )
    .unwrap();
    let (ok, err) = check_rules(&cfg);
    assert!(!ok);
    assert!(err.contains(&format!("{}:5:", cfg.display())), "{err}");

    std::fs::remove_file(rules.join("markings.toml")).unwrap();
    std::fs::write(
        &cfg,
        "[policy]\nlocal_domains = [\"agency.govt.nz\"]\nsystem_ceiling = \"RESTRICTED\"\n",
    )
    .unwrap();
    let (ok, err) = check_rules(&cfg);
    assert!(ok, "{err}");
}
