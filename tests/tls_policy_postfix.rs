//! The TLS policy socketmap with a real Postfix: a sending Postfix asks sge-milter
//! (`smtp_tls_policy_maps = socketmap:inet:...:sge`) and delivers to a loopback
//! "remote" Postfix whose smtpd ports present certificates from a test CA.
//!
//! How the next hop keeps its domain name on loopback: each test domain has a
//! transport `rX:domain` (so Postfix's policy key is the bare domain), the `rX`
//! service sets `smtp_tcp_port` to one remote port and runs chrooted in the queue
//! directory, whose `etc/hosts` maps the domains to 127.0.0.1 (DNS is disabled in
//! the test Postfix, so host lookups are native). MTA-STS records come from a
//! loopback DNS server and policies from a loopback HTTPS server.

mod common;
mod connectors_support;
#[path = "spf_support/mod.rs"]
mod spf_support;

use common::{MilterProcess, Postfix, PostfixOptions, free_port};
use connectors_support::{HttpsServer, TestCa, write_policy};
use std::time::Duration;

/// TLS needs the TLS manager (random seed, session caches); the default test
/// instance has no TLS and does not run it.
const TLSMGR: &str = "tlsmgr unix - - n 1000? 1 tlsmgr";

const WAIT: Duration = Duration::from_secs(60);

/// (domain, transport, certificate kind) of every remote port.
const DOMAINS: [(&str, &str); 5] = [
    ("restricted.example", "rgood"),
    ("wrongname.example", "rwrong"),
    ("selfsigned.example", "rself"),
    ("sts.example", "rsts"),
    ("stsbad.example", "rstsbad"),
];

struct Setup {
    sender: Postfix,
    remote: Postfix,
    milter: MilterProcess,
    _dns: spf_support::DnsServer,
    _https: HttpsServer,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let good = ca.issue("restricted", &["restricted.example"]);
    let wrong = ca.issue("wrong", &["other.example"]);
    let selfsigned = ca.self_signed("self", "selfsigned.example");
    let sts = ca.issue("sts", &["sts.example"]);
    let web = ca.issue("web", &["mta-sts.sts.example", "mta-sts.stsbad.example"]);

    // The remote: one smtpd port per certificate; everything it accepts goes to its sink.
    let certs = [&good, &wrong, &selfsigned, &sts, &wrong];
    let ports: Vec<u16> = DOMAINS.iter().map(|_| free_port()).collect();
    let mut remote_master: Vec<String> = vec![TLSMGR.into()];
    remote_master.extend(ports
        .iter()
        .zip(certs)
        .map(|(port, pair)| {
            format!(
                "127.0.0.1:{port} inet n - n - - smtpd -o smtpd_tls_security_level=may -o smtpd_tls_chain_files={},{}",
                pair.key.display(),
                pair.cert.display()
            )
        }));
    let remote = Postfix::start_with(
        "",
        PostfixOptions {
            extra_master_cf: remote_master,
            ..Default::default()
        },
    );

    let web_root = dir.path().join("web");
    write_policy(
        &web_root,
        "version: STSv1\r\nmode: enforce\r\nmx: sts.example\r\nmx: stsbad.example\r\nmax_age: 86400\r\n",
    );
    let https = HttpsServer::start(&web_root, &web);
    let zone = serde_json::json!({
        "_mta-sts.sts.example": [["TXT", ["v=STSv1; id=20261202"]]],
        "mta-sts.sts.example": [["A", https.ip]],
        "_mta-sts.stsbad.example": [["TXT", ["v=STSv1; id=1"]]],
        "mta-sts.stsbad.example": [["A", https.ip]],
    });
    let dns = spf_support::DnsServer::start(&zone);

    let policy_port = free_port();
    let milter_dir = tempfile::tempdir().unwrap();
    std::fs::copy(ca.ca_file(), milter_dir.path().join("ca.pem")).unwrap();
    let milter = MilterProcess::start_in(
        milter_dir,
        &format!(
            r#"[dns]
nameservers = ["127.0.0.1:{dns}"]
timeout = "1s"
attempts = 1
[auth]
enabled = false
[routes]
restricted_group = ["restricted.example", "wrongname.example", "selfsigned.example"]
[tls_policy]
listen = "127.0.0.1:{policy_port}"
ca_file = "ca.pem"
"#,
            dns = dns.port
        ),
    );
    assert!(
        milter.wait_for_log("TLS policy socketmap", WAIT),
        "{}",
        milter.log()
    );

    let transports: Vec<String> = DOMAINS
        .iter()
        .map(|(d, t)| format!("{d}={t}:{d}"))
        .collect();
    let mut sender_master: Vec<String> = vec![TLSMGR.into()];
    sender_master.extend(
        DOMAINS
            .iter()
            .zip(&ports)
            .map(|((_, t), port)| format!("{t} unix - - y - - smtp -o smtp_tcp_port={port}")),
    );
    let sender = Postfix::start_with(
        "",
        PostfixOptions {
            extra_main_cf: vec![
                format!("smtp_tls_policy_maps = socketmap:inet:127.0.0.1:{policy_port}:sge"),
                format!("smtp_tls_CAfile = {}", ca.ca_file().display()),
                format!("transport_maps = inline:{{ {} }}", transports.join(", ")),
                "smtp_host_lookup = native".into(),
                "smtp_tls_loglevel = 1".into(),
            ],
            extra_master_cf: sender_master,
            ..Default::default()
        },
    );
    let etc = sender.queue_dir().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let names: Vec<&str> = DOMAINS.iter().map(|(d, _)| *d).collect();
    std::fs::write(
        etc.join("hosts"),
        format!("127.0.0.1 {}\n", names.join(" ")),
    )
    .unwrap();
    std::fs::write(etc.join("nsswitch.conf"), "hosts: files\n").unwrap();
    Setup {
        sender,
        remote,
        milter,
        _dns: dns,
        _https: https,
        _dir: dir,
    }
}

fn message(to: &str) -> Vec<u8> {
    format!(
        "From: a@gateway.sge-test.invalid\r\nTo: {to}\r\nSubject: connector test\r\nMessage-ID: <{to}@t>\r\n\r\nhello\r\n"
    )
    .into_bytes()
}

impl Setup {
    fn send(&self, to: &str) {
        let out = self
            .sender
            .smtp("a@gateway.sge-test.invalid", &[to], &message(to));
        assert!(out.accepted, "{out:?}");
    }

    /// Delivered to the remote over verified TLS.
    fn assert_verified_delivery(&self, to: &str, domain: &str) {
        let delivered = common::wait_for(WAIT, || {
            self.remote
                .delivered()
                .iter()
                .any(|m| m.rcpts.iter().any(|r| r == to))
                .then_some(())
        });
        assert!(
            delivered.is_some(),
            "{to} not delivered; sender log:\n{}\nremote log:\n{}\nmilter log:\n{}",
            self.sender.log(),
            self.remote.log(),
            self.milter.log()
        );
        let log = self.sender.log();
        assert!(
            log.contains(&format!(
                "Verified TLS connection established to {domain}[127.0.0.1]"
            )),
            "{log}"
        );
    }

    /// Deferred for a certificate problem, and never handed to the remote.
    fn assert_deferred_never_clear(&self, to: &str, domain: &str) {
        let needle = format!("to=<{to}>");
        let deferred = common::wait_for(WAIT, || {
            let log = self.sender.log();
            log.lines()
                .any(|l| l.contains(&needle) && l.contains("status=deferred"))
                .then_some(log)
        })
        .unwrap_or_else(|| panic!("{to} not deferred; log:\n{}", self.sender.log()));
        assert!(
            deferred
                .lines()
                .any(|l| l.contains(domain) && (l.contains("certificate") || l.contains("TLS"))),
            "deferral is not about TLS:\n{deferred}\nmilter:\n{}",
            self.milter.log()
        );
        assert!(
            !deferred
                .lines()
                .any(|l| l.contains(&needle) && l.contains("status=sent")),
            "{deferred}"
        );
        assert!(
            self.remote
                .delivered()
                .iter()
                .all(|m| m.rcpts.iter().all(|r| r != to)),
            "{to} reached the remote"
        );
        assert!(
            self.sender.queue().iter().any(|m| m["recipients"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|r| r["address"] == to))),
            "{to} not kept in the queue: {:?}",
            self.sender.queue()
        );
    }
}

#[test]
fn restricted_group_and_mta_sts_domains_get_verified_tls_or_stay_queued() {
    let s = setup();
    s.send("user@restricted.example");
    s.assert_verified_delivery("user@restricted.example", "restricted.example");

    s.send("user@wrongname.example");
    s.assert_deferred_never_clear("user@wrongname.example", "wrongname.example");
    s.send("user@selfsigned.example");
    s.assert_deferred_never_clear("user@selfsigned.example", "selfsigned.example");

    s.send("user@stsbad.example");
    s.assert_deferred_never_clear("user@stsbad.example", "stsbad.example");
    s.send("user@sts.example");
    s.assert_verified_delivery("user@sts.example", "sts.example");
}
