//! SIGHUP applies every setting that can change without re-binding, through the
//! running `sge-milter run` process: each test changes one kind of setting, sends
//! SIGHUP and observes the effect without a restart. Settings that need a restart
//! are logged, and caches survive a reload that does not touch them.

mod common;
mod connectors_support;
mod metrics_support;
#[path = "spf_support/mod.rs"]
mod spf_support;

use common::client::{MilterVerdict, send_message, simple};
use common::faults::{milter_packet, milter_with_metrics_in};
use common::{MilterProcess, WAIT, free_port, sge_milter_bin, wait_for};
use connectors_support::{HttpsServer, Socketmap, TestCa, write_policy};
use indymilter_test::{EomAction, Status};
use metrics_support::{sample, scrape};
use spf_support::DnsServer;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Writes `config`, sends SIGHUP and waits until that reload is logged as done.
fn reload(milter: &MilterProcess, config: &str) {
    let done = || milter.log().matches("configuration reloaded").count();
    let before = done();
    milter.write_config(config);
    milter.signal("HUP");
    wait_for(WAIT, || (done() > before).then_some(()))
        .unwrap_or_else(|| panic!("reload not logged:\n{}", milter.log()));
}

fn verdict(milter: &MilterProcess, text: &str) -> MilterVerdict {
    let (headers, body) = simple(text);
    send_message(&milter.listen_addr(), &headers, &body)
}

/// The `Authentication-Results` value the milter inserted.
fn auth_results(v: &MilterVerdict) -> String {
    v.eom_actions
        .iter()
        .find_map(|a| match a {
            EomAction::InsertHeader { name, value, .. }
                if name
                    .to_bytes()
                    .eq_ignore_ascii_case(b"Authentication-Results") =>
            {
                Some(value.to_string_lossy().into_owned())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Authentication-Results: {v:?}"))
}

fn milter_port(milter: &MilterProcess) -> u16 {
    milter.port().expect("inet listener")
}

/// A milter connection that has sent the negotiation packet.
fn negotiate(milter: &MilterProcess) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", milter_port(milter))).expect("connect");
    let mut neg = 6u32.to_be_bytes().to_vec();
    neg.extend_from_slice(&0x1ffu32.to_be_bytes());
    neg.extend_from_slice(&0x1f_ffffu32.to_be_bytes());
    s.write_all(&milter_packet(b'O', &neg)).expect("send");
    s
}

/// Waits up to `wait` for the negotiation reply; false if none came.
fn answered(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).expect("timeout");
    let mut len = [0u8; 4];
    s.read_exact(&mut len).is_ok()
}

#[test]
fn a_changed_rule_file_applies() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    let rule = |pattern: &str| {
        format!(
            "[[rule]]\nid = \"reload.rule\"\npatterns = [\"{pattern}\"]\n\
             action = \"reject\"\nreason = \"reload test\"\n"
        )
    };
    let rules = dir.path().join("rules/keywords.toml");
    std::fs::write(&rules, rule("FIRST-WORD-5511")).expect("rules");
    let config = "[rules]\ndir = \"rules\"\n";
    let milter = MilterProcess::start_in(dir, config);
    assert!(!verdict(&milter, "SECOND-WORD-5512").is_reject());

    std::fs::write(&rules, rule("SECOND-WORD-5512")).expect("rules");
    reload(&milter, config);
    let v = verdict(&milter, "SECOND-WORD-5512");
    assert!(
        v.reply().unwrap_or_default().contains("[sge:reload.rule]"),
        "{v:?}"
    );
    assert!(!verdict(&milter, "FIRST-WORD-5511").is_reject());
}

#[test]
fn a_lower_max_message_size_applies() {
    let milter = MilterProcess::start("[limits]\nmax_message_size = \"1MiB\"\n");
    let big = "x".repeat(20_000);
    let v = verdict(&milter, &big);
    assert!(
        matches!(v.status, Status::Continue | Status::Accept),
        "{v:?}"
    );

    reload(&milter, "[limits]\nmax_message_size = \"10KiB\"\n");
    let v = verdict(&milter, &big);
    assert!(matches!(v.status, Status::Tempfail { .. }), "{v:?}");
    assert!(v.reply().unwrap_or_default().contains("452"), "{v:?}");
}

#[test]
fn a_larger_in_flight_budget_applies() {
    let milter = MilterProcess::start("[limits]\nmax_in_flight_bytes = \"4KiB\"\n");
    let big = "y".repeat(20_000);
    let v = verdict(&milter, &big);
    assert!(
        v.reply().unwrap_or_default().contains("limit.in_flight"),
        "{v:?}"
    );

    reload(&milter, "[limits]\nmax_in_flight_bytes = \"1MiB\"\n");
    let v = verdict(&milter, &big);
    assert!(
        matches!(v.status, Status::Continue | Status::Accept),
        "{v:?}"
    );
}

#[test]
fn a_higher_max_connections_lets_a_waiting_connection_in() {
    let milter = MilterProcess::start("[milter]\nmax_connections = 1\n");
    let mut first = negotiate(&milter);
    assert!(answered(&mut first, WAIT), "{}", milter.log());
    // The only slot is taken: the second connection waits in the backlog.
    let mut second = negotiate(&milter);
    assert!(!answered(&mut second, Duration::from_secs(1)));

    reload(&milter, "[milter]\nmax_connections = 2\n");
    assert!(
        answered(&mut second, WAIT),
        "not served after the reload:\n{}",
        milter.log()
    );
    drop(first);
}

#[test]
fn a_shorter_connection_timeout_applies_to_new_connections() {
    let milter = MilterProcess::start("[milter]\nconnection_timeout = \"1h\"\n");
    reload(&milter, "[milter]\nconnection_timeout = \"1s\"\n");
    let mut idle = negotiate(&milter);
    assert!(answered(&mut idle, WAIT));
    // Nothing more is sent: the milter closes the connection on its own (the rest
    // of the negotiation reply comes first).
    idle.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut buf = [0u8; 256];
    let closed = loop {
        match idle.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) => {
                break !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    };
    assert!(closed, "an idle connection stays open:\n{}", milter.log());
}

#[test]
fn log_level_and_format_apply() {
    let milter = MilterProcess::start("[log]\nlevel = \"info\"\n");
    drop(negotiate(&milter));
    reload(&milter, "[log]\nlevel = \"info\"\nformat = \"json\"\n");
    assert!(
        !milter.log().contains("milter connection accepted"),
        "a debug line at level info:\n{}",
        milter.log()
    );

    reload(
        &milter,
        "[log]\nlevel = \"sge_milter=debug,info\"\nformat = \"json\"\n",
    );
    let mut s = negotiate(&milter);
    assert!(answered(&mut s, WAIT));
    assert!(
        milter.wait_for_log("milter connection accepted", WAIT),
        "{}",
        milter.log()
    );
    let log = milter.log();
    let line = log
        .lines()
        .find(|l| l.contains("milter connection accepted"))
        .expect("debug line");
    let json: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(json["level"], "DEBUG", "{line}");
}

/// `dkim-keygen --type ed25519`: the key file and its DNS TXT value.
fn ed25519_key(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let out_file = dir.join(name);
    let out = Command::new(sge_milter_bin())
        .args(["dkim-keygen", "--type", "ed25519"])
        .args(["--domain", "agency.govt.nz", "--selector", "sge", "--out"])
        .arg(&out_file)
        .output()
        .expect("run dkim-keygen");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("IN TXT"))
        .expect("zone line");
    let txt = line
        .split_once('"')
        .and_then(|(_, r)| r.rsplit_once('"'))
        .expect("quoted TXT")
        .0;
    (out_file, txt.to_string())
}

/// The signed message as dkimpy sees it: the DKIM-Signature the milter inserted,
/// then the headers and body the milter was sent.
fn signed(v: &MilterVerdict, headers: &[(&str, &str)], body: &[u8]) -> Option<Vec<u8>> {
    let sig = v.eom_actions.iter().find_map(|a| match a {
        EomAction::InsertHeader { name, value, .. } if name.to_bytes() == b"DKIM-Signature" => {
            Some(value.to_string_lossy().into_owned())
        }
        _ => None,
    })?;
    let mut msg = format!("DKIM-Signature:{sig}\r\n").into_bytes();
    for (n, v) in headers {
        msg.extend_from_slice(format!("{n}:{v}\r\n").as_bytes());
    }
    msg.extend_from_slice(b"\r\n");
    msg.extend_from_slice(body);
    Some(msg)
}

fn dkimpy_verifies(dns_port: u16, msg: &[u8]) -> bool {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/dkimverify.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg("127.0.0.1")
        .arg(dns_port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with dkimpy");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(msg)
        .expect("write message");
    let out = child.wait_with_output().expect("dkimverify exits");
    eprintln!("dkimverify: {}", String::from_utf8_lossy(&out.stdout));
    out.status.success()
}

#[test]
fn a_replaced_signing_key_file_is_read_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (old_key, _) = ed25519_key(dir.path(), "old.pem");
    let (new_key, new_txt) = ed25519_key(dir.path(), "new.pem");
    // DNS publishes only the new key.
    let dns = DnsServer::start(&serde_json::json!({
        "sge._domainkey.agency.govt.nz": [["TXT", [new_txt]]],
    }));
    let key_file = dir.path().join("signing.pem");
    std::fs::copy(&old_key, &key_file).expect("install old key");
    let config = format!(
        "[policy]\nlocal_domains = [\"agency.govt.nz\"]\n\
         [[auth.dkim_keys]]\ndomain = \"agency.govt.nz\"\nselector = \"sge\"\nkey_file = \"{}\"\n",
        key_file.display()
    );
    let milter = MilterProcess::start_in(dir.path(), &config);
    let headers = [
        ("From", "alice@agency.govt.nz"),
        ("To", "bob@recipient.example"),
        ("Subject", "key rotation [UNCLASSIFIED]"),
    ];
    let body = b"signed with the key on disk\r\n";
    let send = || {
        let v = send_message(&milter.listen_addr(), &headers, body);
        signed(&v, &headers, body).unwrap_or_else(|| panic!("not signed: {v:?}"))
    };
    assert!(!dkimpy_verifies(dns.port, &send()), "old key verifies");

    // Same configuration, new key file content.
    std::fs::copy(&new_key, &key_file).expect("install new key");
    reload(&milter, &config);
    assert!(dkimpy_verifies(dns.port, &send()), "{}", milter.log());
}

fn inbound_config(dns_port: u16, extra: &str) -> String {
    format!(
        "[direction]\ntrusted_networks = []\n\
         [dns]\nnameservers = [\"127.0.0.1:{dns_port}\"]\ntimeout = \"2s\"\nattempts = 1\n{extra}"
    )
}

#[test]
fn new_name_servers_apply_and_rebuild_the_caches() {
    let pass = DnsServer::start(&serde_json::json!({
        "sender.example": [["TXT", ["v=spf1 ip4:127.0.0.1 -all"]]],
    }));
    let fail = DnsServer::start(&serde_json::json!({
        "sender.example": [["TXT", ["v=spf1 ip4:192.0.2.1 -all"]]],
    }));
    let milter = MilterProcess::start(&inbound_config(pass.port, ""));
    let ar = auth_results(&verdict(&milter, "first"));
    assert!(ar.contains("spf=pass"), "{ar}");

    reload(&milter, &inbound_config(fail.port, ""));
    let v = verdict(&milter, "second");
    let ar = match &v.status {
        Status::Reject { .. } => v.reply().unwrap_or_default(),
        _ => auth_results(&v),
    };
    assert!(ar.contains("spf=fail") || ar.contains("SPF"), "{ar}");
    assert!(
        milter.log().contains("DNS answer caches rebuilt"),
        "{}",
        milter.log()
    );
}

#[test]
fn the_spf_verdict_cache_survives_an_unrelated_reload() {
    let dns = DnsServer::start(&serde_json::json!({
        "sender.example": [["TXT", ["v=spf1 ip4:127.0.0.1 -all"]]],
    }));
    let dir = tempfile::tempdir().expect("tempdir");
    let (milter, metrics) = milter_with_metrics_in(dir, &inbound_config(dns.port, ""), &[]);
    let hits = |m: &str| {
        sample(
            m,
            r#"sgemilter_cache_requests_total{cache="spf_verdict",outcome="hit"}"#,
        )
        .unwrap_or(0.0)
    };
    assert!(auth_results(&verdict(&milter, "one")).contains("spf=pass"));
    let before = hits(&scrape(&metrics));

    let head = std::fs::read_to_string(milter.config_path()).expect("config");
    reload(
        &milter,
        &format!("{head}[limits]\nmax_message_size = \"2MiB\"\n"),
    );
    assert!(auth_results(&verdict(&milter, "two")).contains("spf=pass"));
    let m = scrape(&metrics);
    assert_eq!(hits(&m), before + 1.0, "the verdict was not cached:\n{m}");
    assert!(
        !milter.log().contains("cache rebuilt") && !milter.log().contains("caches rebuilt"),
        "{}",
        milter.log()
    );
}

#[test]
fn a_restart_only_key_is_logged_and_the_old_listener_serves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (milter, metrics) = milter_with_metrics_in(dir, "", &[]);
    let other = format!("127.0.0.1:{}", common::free_port());
    reload(&milter, &format!("[metrics]\nlisten = \"{other}\"\n"));
    assert!(
        milter
            .log()
            .contains("[metrics] listen changed: it needs a restart"),
        "{}",
        milter.log()
    );
    assert!(scrape(&metrics).contains("sgemilter_config_reloads_total"));
    assert!(TcpStream::connect(&other).is_err(), "bound without restart");
    assert!(!verdict(&milter, "still served").is_reject());
}

/// One socketmap request (`sge KEY`) on a fresh connection.
fn socketmap(port: u16, key: &str) -> String {
    Socketmap::connect(&format!("127.0.0.1:{port}")).lookup("sge", key)
}

#[test]
fn tls_policy_mta_sts_and_dns_settings_apply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path());
    let web = ca.issue("web", &["mta-sts.sts.example"]);
    let web_root = dir.path().join("web");
    write_policy(
        &web_root,
        "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.example\r\nmax_age: 86400\r\n",
    );
    let https = HttpsServer::start(&web_root, &web);
    let publishing = DnsServer::start(&serde_json::json!({
        "_mta-sts.sts.example": [["TXT", ["v=STSv1; id=1"]]],
        "mta-sts.sts.example": [["A", https.ip]],
    }));
    let silent = DnsServer::start(&serde_json::json!({}));
    let milter_dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(ca.ca_file(), milter_dir.path().join("ca.pem")).expect("ca");
    let port = free_port();
    let config = |dns: u16, sts: &str| {
        format!(
            "[dns]\nnameservers = [\"127.0.0.1:{dns}\"]\ntimeout = \"1s\"\nattempts = 1\n\
             [tls_policy]\nlisten = \"127.0.0.1:{port}\"\n{sts}"
        )
    };
    // Started with MTA-STS off and no test CA: no fetcher exists yet.
    let milter = MilterProcess::start_in(milter_dir, &config(publishing.port, "mta_sts = false\n"));
    assert!(
        milter.wait_for_log("TLS policy socketmap", WAIT),
        "{}",
        milter.log()
    );
    assert_eq!(socketmap(port, "sts.example"), "NOTFOUND ");

    // On, with the CA that signs the policy host: the policy is fetched.
    reload(&milter, &config(publishing.port, "ca_file = \"ca.pem\"\n"));
    assert_eq!(
        socketmap(port, "sts.example"),
        "OK secure match=mx.sts.example servername=hostname",
        "{}",
        milter.log()
    );

    // Name servers that publish no policy, and a new cache size (so the cached
    // policy goes): the socketmap asks the new servers.
    let resized = "ca_file = \"ca.pem\"\ncache_entries = 50\n";
    reload(&milter, &config(silent.port, resized));
    assert_eq!(
        socketmap(port, "sts.example"),
        "NOTFOUND ",
        "{}",
        milter.log()
    );
    let log = milter.log();
    assert!(log.contains("policy cache rebuilt"), "{log}");
    assert!(!log.contains("needs a restart"), "{log}");
}
