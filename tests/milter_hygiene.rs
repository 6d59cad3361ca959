//! Header hygiene and the direction-sanity hint, through the milter protocol against
//! a running `sge-milter run`: forged copies of `X-SGE-Findings` are deleted, rule
//! ids stay off outbound mail unless `[headers] findings_outbound`, and mail from a
//! local domain arriving from an untrusted, unauthenticated client is counted in
//! `sgemilter_direction_hints_total` and logged once per client. `scan --json` lists
//! the received copies it removes.

mod common;
mod metrics_support;

use common::{MilterProcess, WAIT, wait_for};
use indymilter_test::{EomActions, MacroStage, Status, TestConnection, any};
use metrics_support::{sample, scrape, start_milter};

const TAG: &str = "SGE-MILTER-TEST-TAG-2A6E0";
const INBOUND_IP: [u8; 4] = [203, 0, 113, 5];
const OUTBOUND_IP: [u8; 4] = [10, 1, 2, 3];
/// Keyword rules alone (authentication and markings would add findings of their
/// own); 10.0.0.0/8 is the trusted relay.
const BASE: &str = "[auth]\nenabled = false\n[policy]\nmarking_enforcement = \"off\"\n\
    local_domains = [\"agency.example\"]\n[direction]\ntrusted_networks = [\"10.0.0.0/8\"]\n";

/// One message from `client` with `sender`; `auth` is the `{auth_authen}` macro.
struct Msg<'a> {
    client: [u8; 4],
    sender: &'a str,
    auth: Option<&'a str>,
    headers: &'a [(&'a str, &'a str)],
    body: &'a str,
}

impl Default for Msg<'_> {
    fn default() -> Self {
        Msg {
            client: INBOUND_IP,
            sender: "alice@sender.example",
            auth: None,
            headers: &[],
            body: "Hello.",
        }
    }
}

/// Sends `msg` to the milter and returns its end-of-message actions.
fn send(milter: &MilterProcess, msg: &Msg) -> EomActions {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let port = milter.port().expect("inet milter");
        let mut conn = TestConnection::open(("127.0.0.1", port)).await.unwrap();
        let status = conn
            .connect("client.example", (msg.client, 40000))
            .await
            .unwrap();
        assert_eq!(status, Status::Continue);
        conn.helo("client.example").await.unwrap();
        if let Some(user) = msg.auth {
            conn.macros(MacroStage::Mail, [("{auth_authen}", user)])
                .await
                .unwrap();
        }
        let sender = format!("<{}>", msg.sender);
        assert_eq!(
            conn.mail([sender.as_str()]).await.unwrap(),
            Status::Continue
        );
        conn.rcpt(["<bob@rcpt.example>"]).await.unwrap();
        conn.data().await.unwrap();
        conn.header("From", msg.sender).await.unwrap();
        conn.header("Subject", "hello").await.unwrap();
        for (name, value) in msg.headers {
            conn.header(*name, *value).await.unwrap();
        }
        assert_eq!(conn.eoh().await.unwrap(), Status::Continue);
        conn.body(format!("{}\r\n", msg.body).into_bytes())
            .await
            .unwrap();
        let (actions, status) = conn.eom().await.unwrap();
        assert_eq!(status, Status::Continue);
        conn.close().await.unwrap();
        actions
    })
}

const FORGED: &[(&str, &str)] = &[
    ("X-SGE-Findings", " forged.one"),
    ("x-sge-findings", " forged.two"),
];

#[test]
fn forged_findings_headers_are_deleted_and_only_ours_is_added() {
    let milter = MilterProcess::start(BASE);
    for body in [TAG, "nothing to see"] {
        let actions = send(
            &milter,
            &Msg {
                headers: FORGED,
                body,
                ..Default::default()
            },
        );
        // Both received copies go (highest index first), whatever the verdict.
        let deletes: Vec<_> = actions
            .actions
            .iter()
            .filter_map(|a| match a {
                indymilter_test::EomAction::DeleteHeader { name, index } => {
                    Some((name.to_string_lossy().to_ascii_lowercase(), *index))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            deletes,
            [("x-sge-findings".into(), 2), ("x-sge-findings".into(), 1)],
            "{body}: {actions:?}"
        );
        assert_eq!(
            actions.has_add_header("X-SGE-Findings", " sge.test.tag"),
            body == TAG,
            "{body}: {actions:?}"
        );
        assert!(!actions.has_add_header(any(), " forged.one"));
    }
    // Outbound (trusted relay): the forged copies go too.
    let actions = send(
        &milter,
        &Msg {
            client: OUTBOUND_IP,
            headers: FORGED,
            ..Default::default()
        },
    );
    assert!(
        actions.has_delete_header("X-SGE-Findings", 2),
        "{actions:?}"
    );
    assert!(
        actions.has_delete_header("X-SGE-Findings", 1),
        "{actions:?}"
    );
}

#[test]
fn outbound_mail_carries_rule_ids_only_when_configured() {
    let outbound_tag = Msg {
        client: OUTBOUND_IP,
        body: TAG,
        ..Default::default()
    };
    let milter = MilterProcess::start(BASE);
    let actions = send(&milter, &outbound_tag);
    assert!(
        !actions.has_add_header("X-SGE-Findings", any()),
        "{actions:?}"
    );
    // The decision still names the rule in the log.
    assert!(
        milter.wait_for_log("sge.test.tag", WAIT),
        "{}",
        milter.log()
    );

    let milter = MilterProcess::start(&format!("{BASE}[headers]\nfindings_outbound = true\n"));
    let actions = send(&milter, &outbound_tag);
    assert!(
        actions.has_add_header("X-SGE-Findings", " sge.test.tag"),
        "{actions:?}"
    );
}

fn hint_lines(milter: &MilterProcess) -> usize {
    milter
        .log()
        .lines()
        .filter(|l| l.contains("direction hint: mail from"))
        .count()
}

fn wait_hints(metrics: &str, want: f64) {
    let got = wait_for(WAIT, || {
        let m = scrape(metrics);
        (sample(&m, "sgemilter_direction_hints_total") == Some(want)).then_some(())
    });
    assert!(
        got.is_some(),
        "sgemilter_direction_hints_total never became {want}:\n{}",
        scrape(metrics)
    );
}

#[test]
fn local_sender_from_an_untrusted_client_is_counted_and_hinted_once_per_client() {
    let (milter, metrics) = start_milter(BASE);
    wait_hints(&metrics, 0.0);
    let local = Msg {
        sender: "alice@mail.agency.example",
        ..Default::default()
    };
    send(&milter, &local);
    send(&milter, &local);
    wait_hints(&metrics, 2.0);
    assert_eq!(hint_lines(&milter), 1, "{}", milter.log());
    assert!(
        milter.log().contains("203.0.113.5"),
        "the hint names the client:\n{}",
        milter.log()
    );

    send(
        &milter,
        &Msg {
            client: [203, 0, 113, 6],
            ..local
        },
    );
    wait_hints(&metrics, 3.0);
    assert_eq!(hint_lines(&milter), 2, "{}", milter.log());

    // No hint: the trusted relay, an authenticated client, a foreign sender.
    for msg in [
        Msg {
            client: OUTBOUND_IP,
            ..local
        },
        Msg {
            client: [203, 0, 113, 7],
            auth: Some("alice"),
            ..local
        },
        Msg {
            client: [203, 0, 113, 8],
            ..Default::default()
        },
    ] {
        send(&milter, &msg);
    }
    // Every message above was decided before its actions came back, so the
    // counter and the log are final.
    assert_eq!(
        sample(&scrape(&metrics), "sgemilter_direction_hints_total"),
        Some(3.0)
    );
    assert_eq!(hint_lines(&milter), 2, "{}", milter.log());
}

#[test]
fn scan_json_lists_the_received_copies_it_removes() {
    let eml = format!(
        "From: alice@agency.example\r\nTo: bob@rcpt.example\r\nSubject: hi [UNCLASSIFIED]\r\n\
         X-SGE-Uninspectable: part 9: made up\r\nX-SGE-Findings: forged.rule\r\n\r\n{TAG}\r\n"
    );
    let r = common::scan_json(&["--direction", "outbound"], eml.as_bytes());
    assert_eq!(r["action"], "tag", "{r}");
    assert_eq!(
        r["headers_removed"],
        serde_json::json!([["X-SGE-Findings", 1], ["X-SGE-Uninspectable", 1]]),
        "{r}"
    );
    assert!(
        r["headers_added"]
            .as_array()
            .expect("headers_added")
            .iter()
            .all(|h| h[0] != "X-SGE-Findings"),
        "{r}"
    );
}
