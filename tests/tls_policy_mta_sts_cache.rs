//! The MTA-STS cache rules of RFC 8461 through the public interface: the real
//! `sge-milter run` with `[tls_policy] listen`, asked over its socketmap as Postfix
//! asks (netstrings on one connection). The `_mta-sts` TXT record comes from the
//! loopback dnslib server, whose zone the tests change mid-run (SIGHUP); the policy
//! from the loopback HTTPS server, which the tests make answer 404 or 500, restart
//! with an untrusted certificate, or stop. What happened is read from the socketmap
//! replies, `sgemilter_mta_sts_fetches_total{result}` and the HTTPS server's request
//! log. `[dns] max_ttl = "0s"` so a zone change is seen on the next look-up.

mod common;
mod connectors_support;
mod metrics_support;
#[path = "spf_support/mod.rs"]
mod spf_support;

use common::{MilterProcess, WAIT, free_port, wait_for};
use connectors_support::{
    CertPair, HttpsServer, Socketmap, TestCa, set_policy_status, write_policy,
};
use metrics_support::{sample, scrape};
use spf_support::DnsServer;
use std::path::PathBuf;

const DOMAIN: &str = "cache.example";
const POLICY_HOST: &str = "mta-sts.cache.example";
const MX1_POLICY: &str = "version: STSv1\nmode: enforce\nmx: mx1.cache.example\nmax_age: 86400\n";
const MX1_ANSWER: &str = "OK secure match=mx1.cache.example servername=hostname";
const MX2_POLICY: &str = "version: STSv1\nmode: enforce\nmx: mx2.cache.example\nmax_age: 86400\n";
const MX2_ANSWER: &str = "OK secure match=mx2.cache.example servername=hostname";

/// One milter, one DNS server and one HTTPS server for `cache.example`; all stopped
/// by their guards, even when the test fails.
struct Harness {
    map: Socketmap,
    metrics: String,
    milter: MilterProcess,
    https: HttpsServer,
    dns: DnsServer,
    ca: TestCa,
    web_cert: CertPair,
    web_root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Serves `policy` with TXT `id=1`, then starts the milter.
    fn start(policy: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path());
        let web_cert = ca.issue("web", &[POLICY_HOST]);
        let web_root = dir.path().join("web");
        write_policy(&web_root, policy);
        let https = HttpsServer::start(&web_root, &web_cert);
        let dns = DnsServer::start(&zone("1", &https.ip));
        let policy_addr = format!("127.0.0.1:{}", free_port());
        let (milter, metrics) = metrics_support::start_milter(&format!(
            r#"[dns]
nameservers = ["127.0.0.1:{dns}"]
timeout = "1s"
attempts = 1
max_ttl = "0s"
negative_ttl = "0s"
[auth]
enabled = false
[tls_policy]
listen = "{policy_addr}"
ca_file = "{ca}"
"#,
            dns = dns.port,
            ca = ca.ca_file().display(),
        ));
        assert!(
            milter.wait_for_log("TLS policy socketmap", WAIT),
            "{}",
            milter.log()
        );
        Harness {
            map: Socketmap::connect(&policy_addr),
            metrics,
            milter,
            https,
            dns,
            ca,
            web_cert,
            web_root,
            _dir: dir,
        }
    }

    fn lookup(&mut self) -> String {
        self.map.lookup("sge", DOMAIN)
    }

    /// `sgemilter_mta_sts_fetches_total{result}`.
    fn fetches(&self, result: &str) -> u64 {
        let prefix = format!("sgemilter_mta_sts_fetches_total{{result=\"{result}\"}}");
        sample(&scrape(&self.metrics), &prefix).unwrap_or(0.0) as u64
    }

    /// The statuses of the policy requests the HTTPS server has answered, once it
    /// has logged `at_least`.
    fn statuses(&self, at_least: usize) -> Vec<u16> {
        wait_for(WAIT, || {
            let s = self.https.statuses_for(POLICY_HOST);
            (s.len() >= at_least).then_some(s)
        })
        .unwrap_or_else(|| self.https.statuses_for(POLICY_HOST))
    }

    /// Publishes TXT `id` (and the HTTPS server's current address).
    fn publish_id(&self, id: &str) {
        self.dns.reload(&zone(id, &self.https.ip));
    }

    /// Looks up until the milter has made one more fetch ending in `result` (it does
    /// once it sees the zone change) and checks every reply on the way is `expected`.
    fn lookup_until_fetch(&mut self, result: &str, expected: &str) {
        let before = self.fetches(result);
        let done = wait_for(WAIT, || {
            let reply = self.lookup();
            assert_eq!(reply, expected, "{}", self.milter.log());
            (self.fetches(result) > before).then_some(())
        });
        assert!(done.is_some(), "no {result} fetch:\n{}", self.milter.log());
    }
}

fn zone(id: &str, https_ip: &str) -> serde_json::Value {
    serde_json::json!({
        format!("_mta-sts.{DOMAIN}"): [["TXT", [format!("v=STSv1; id={id}")]]],
        POLICY_HOST: [["A", https_ip]],
    })
}

impl Harness {
    /// Publishes a zone whose `_mta-sts.cache.example` entries are `sts` (absent
    /// when `None`) and waits until the milter sees it. The sign: the zone also gives
    /// `barrier` (a name no zone had before) a TXT record but no policy host, so
    /// look-ups of `barrier` fetch, and fail with `dns`, only from then on.
    fn publish_and_wait(&mut self, sts: Option<serde_json::Value>, barrier: &str) {
        let mut zone = serde_json::json!({
            POLICY_HOST: [["A", self.https.ip]],
            format!("_mta-sts.{barrier}"): [["TXT", ["v=STSv1; id=1"]]],
        });
        if let Some(entries) = sts {
            zone[format!("_mta-sts.{DOMAIN}")] = entries;
        }
        self.dns.reload(&zone);
        let before = self.fetches("dns");
        let seen = wait_for(WAIT, || {
            assert_eq!(self.map.lookup("sge", barrier), "NOTFOUND ");
            (self.fetches("dns") > before).then_some(())
        });
        assert!(seen.is_some(), "zone not reloaded:\n{}", self.milter.log());
    }
}

/// RFC 8461 §3.3 and §5.1: the cached policy is used while the TXT `id` is
/// unchanged (no fetch even though the server now has another policy); a new `id`
/// fetches the new policy once, which is then served.
#[test]
fn same_txt_id_uses_the_cache_and_a_new_id_refetches() {
    let mut h = Harness::start(MX1_POLICY);
    assert_eq!(h.lookup(), MX1_ANSWER);
    assert_eq!(h.fetches("ok"), 1);
    assert_eq!(h.statuses(1), [200]);

    write_policy(&h.web_root, MX2_POLICY);
    for _ in 0..5 {
        assert_eq!(h.lookup(), MX1_ANSWER, "{}", h.milter.log());
    }
    assert_eq!(h.fetches("ok"), 1, "re-fetched with the same TXT id");

    h.publish_id("2");
    let switched = wait_for(WAIT, || (h.lookup() == MX2_ANSWER).then_some(()));
    assert!(
        switched.is_some(),
        "new id not fetched:\n{}",
        h.milter.log()
    );
    for _ in 0..5 {
        assert_eq!(h.lookup(), MX2_ANSWER);
    }
    assert_eq!(h.fetches("ok"), 2, "one fetch per id");
    assert_eq!(h.statuses(2), [200, 200]);
}

/// RFC 8461 §5.1: when the TXT `id` changes but the new policy cannot be fetched
/// (404, 500, a certificate that does not verify, server down), the still-valid
/// cached policy stays in force; each failure is counted by its stage. Once the
/// server is back, the new policy is fetched.
#[test]
fn fetch_failures_keep_a_still_valid_cached_policy() {
    let mut h = Harness::start(MX1_POLICY);
    assert_eq!(h.lookup(), MX1_ANSWER);

    // 404: no policy file.
    std::fs::remove_file(h.web_root.join(".well-known/mta-sts.txt")).unwrap();
    h.publish_id("2");
    h.lookup_until_fetch("http", MX1_ANSWER);
    // 500.
    write_policy(&h.web_root, MX2_POLICY);
    set_policy_status(&h.web_root, Some(500));
    h.lookup_until_fetch("http", MX1_ANSWER);
    assert_eq!(h.statuses(3), [200, 404, 500]);

    // A certificate no configured CA trusts: the TLS handshake fails, no request.
    set_policy_status(&h.web_root, None);
    let untrusted = h.ca.self_signed("untrusted", POLICY_HOST);
    h.https.restart(&h.web_root, &untrusted);
    h.publish_id("3");
    h.lookup_until_fetch("tls", MX1_ANSWER);

    h.https.stop();
    h.lookup_until_fetch("connect", MX1_ANSWER);
    assert_eq!(
        h.https.statuses_for(POLICY_HOST),
        [200, 404, 500],
        "policy fetched over an unverified connection"
    );

    h.https.restart(&h.web_root, &h.web_cert);
    h.publish_id("4");
    let fetched = wait_for(WAIT, || (h.lookup() == MX2_ANSWER).then_some(()));
    assert!(fetched.is_some(), "not re-fetched:\n{}", h.milter.log());
    assert_eq!(h.fetches("ok"), 2);
    assert_eq!(h.statuses(4), [200, 404, 500, 200]);
}

/// RFC 8461 §5.1: a policy is cached for its `max_age` only. Past it, the same TXT
/// `id` fetches again; and once expired, a failing fetch leaves nothing in force, so
/// the answer is NOTFOUND (Postfix's default applies).
#[test]
fn an_expired_policy_is_refetched_and_without_it_a_failed_fetch_gives_no_answer() {
    let short = "version: STSv1\nmode: enforce\nmx: mx1.cache.example\nmax_age: 1\n";
    let mut h = Harness::start(short);
    assert_eq!(h.lookup(), MX1_ANSWER);
    assert_eq!(h.fetches("ok"), 1);

    // Same id: only the expiry of max_age can cause the second fetch.
    let refetched = wait_for(WAIT, || {
        assert_eq!(h.lookup(), MX1_ANSWER, "{}", h.milter.log());
        (h.fetches("ok") >= 2).then_some(())
    });
    assert!(refetched.is_some(), "not re-fetched after max_age");

    h.https.stop();
    let expired = wait_for(WAIT, || {
        let reply = h.lookup();
        assert!(
            reply == MX1_ANSWER || reply == "NOTFOUND ",
            "{reply:?}:\n{}",
            h.milter.log()
        );
        (reply == "NOTFOUND ").then_some(())
    });
    assert!(expired.is_some(), "expired policy still served");
    assert!(h.fetches("connect") >= 1, "{}", h.milter.log());
}

/// `mode: testing` answers `may` (TLS is not enforced), logs it and counts it in
/// `tls_policy_lookups_total{policy="mta_sts_testing"}`.
#[test]
fn testing_mode_answers_may_with_a_log_line_and_a_metric() {
    let testing = "version: STSv1\nmode: testing\nmx: mx1.cache.example\nmax_age: 86400\n";
    let mut h = Harness::start(testing);
    assert_eq!(h.lookup(), "OK may");
    assert_eq!(h.lookup(), "OK may");
    let lookups = sample(
        &scrape(&h.metrics),
        "sgemilter_tls_policy_lookups_total{policy=\"mta_sts_testing\"}",
    );
    assert_eq!(lookups, Some(2.0));
    assert_eq!(h.fetches("ok"), 1);
    let logged = wait_for(WAIT, || {
        h.milter
            .log()
            .lines()
            .any(|l| l.contains("MTA-STS testing policy: answering may") && l.contains(DOMAIN))
            .then_some(())
    });
    assert!(logged.is_some(), "{}", h.milter.log());
}

/// RFC 8461 §5.1: a TXT record that disappears, or a DNS lookup that fails
/// (SERVFAIL), keeps the still-valid cached policy, with no fetch.
#[test]
fn a_missing_txt_record_or_a_dns_failure_keeps_the_cached_policy() {
    let mut h = Harness::start(MX1_POLICY);
    assert_eq!(h.lookup(), MX1_ANSWER);
    write_policy(&h.web_root, MX2_POLICY);

    h.publish_and_wait(None, "barrier1.example");
    assert_eq!(h.lookup(), MX1_ANSWER, "{}", h.milter.log());
    h.publish_and_wait(Some(serde_json::json!(["TIMEOUT"])), "barrier2.example");
    assert_eq!(h.lookup(), MX1_ANSWER, "{}", h.milter.log());

    assert_eq!(h.fetches("ok"), 1, "fetched without a TXT record");
    assert_eq!(h.statuses(1), [200]);
}
