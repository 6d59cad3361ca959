//! The caches against a real DNS server: concurrent SPF checks of one key share one
//! evaluation, record caches are hit on the second message, temperror is not cached.

mod auth_fixture;
mod common;

use auth_fixture::{AuthFixture, GOOD_IP, message};
use sge_milter::auth::{AuthEngine, RawParts};
use sge_milter::config::{LoadedConfig, parse_toml};
use sge_milter::envelope::{Direction, Envelope};
use std::sync::Arc;

fn engine(f: &AuthFixture) -> Arc<AuthEngine> {
    let text = std::fs::read_to_string(f.config("cache.toml", "")).unwrap();
    let loaded = LoadedConfig {
        config: parse_toml("cache.toml", &text).unwrap(),
        origin: "cache.toml".into(),
        text,
        rule_files: Vec::new(),
    };
    Arc::new(AuthEngine::compile(&loaded).unwrap().unwrap())
}

fn env(from: &str) -> Envelope {
    Envelope {
        client_ip: Some(GOOD_IP.parse().unwrap()),
        helo: Some("mx.pass.test".into()),
        mail_from: Some(from.into()),
        direction: Some(Direction::Inbound),
        ..Default::default()
    }
}

#[test]
fn concurrent_spf_misses_share_one_evaluation_and_records_are_cached() {
    let f = AuthFixture::start();
    let auth = engine(&f);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let auth = Arc::clone(&auth);
                tokio::spawn(async move { auth.check_spf(&env("a@pass.test")).await })
            })
            .collect();
        for t in tasks {
            let v = t.await.unwrap().unwrap();
            assert_eq!(v.result.as_str(), "pass");
        }
    });
    let s = auth.stats();
    assert_eq!(
        (s.spf_verdicts.misses, s.spf_verdicts.hits),
        (1, 15),
        "{s:?}"
    );

    // A different sender domain is a new verdict.
    rt.block_on(auth.check_spf(&env("a@reject.test")));
    assert_eq!(auth.stats().spf_verdicts.misses, 2);

    // temperror is not remembered: the second check evaluates again.
    rt.block_on(auth.check_spf(&env("a@temperror.test")));
    rt.block_on(auth.check_spf(&env("a@temperror.test")));
    assert_eq!(auth.stats().spf_verdicts.misses, 4);

    // End of message twice: the second finds the DMARC records in the cache.
    let raw = message("a@reject.test", "c", "b");
    let spf = rt.block_on(auth.check_spf(&env("a@reject.test")));
    let verify = || {
        let mut m = auth.begin(&env("a@reject.test"));
        rt.block_on(m.verify(Some(RawParts::whole(&raw)), spf.as_ref()));
        m.report().dmarc.clone().unwrap()
    };
    assert_eq!(verify().result, "pass");
    let before = auth.stats().dns.txt;
    assert_eq!(verify().result, "pass");
    let after = auth.stats().dns.txt;
    assert!(after.hits > before.hits, "{before:?} -> {after:?}");
    // Only the NXDOMAIN of the tree walk's `_dmarc.test.` is asked again: mail-auth
    // caches found records only; hickory's negative cache answers that one.
    assert!(after.misses <= before.misses + 1, "{before:?} -> {after:?}");
}

/// Issue 11: once a domain has been seen, end of message asks the DNS nothing. The
/// From domain is a subdomain, so DMARC's tree walk meets two missing records
/// (`_dmarc.sub.dkim.test`, `_dmarc.test`) besides the found one; with the DNS
/// server stopped, a warm message still verifies (a query would be a temperror).
#[test]
fn a_warm_message_needs_no_dns_negative_answers_included() {
    let mut f = AuthFixture::start();
    let auth = engine(&f);
    let signing = f.signing_config("sign.toml", "dkim.test", &[("rsa", &f.dkim_rsa)]);
    let raw = f.sign(&signing, &message("a@sub.dkim.test", "warm", "body"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let spf = rt.block_on(auth.check_spf(&env("a@dkim.test")));
    let verify = || {
        let mut m = auth.begin(&env("a@dkim.test"));
        let out = rt.block_on(m.verify(Some(RawParts::whole(&raw)), spf.as_ref()));
        let r = m.report();
        let dkim: Vec<&str> = r.dkim.iter().map(|d| d.result).collect();
        (dkim, r.dmarc.clone().unwrap(), out.findings.len())
    };
    let (dkim, dmarc, findings) = verify();
    assert_eq!((dkim, dmarc.result, findings), (vec!["pass"], "pass", 0));
    assert_eq!(dmarc.domain, "sub.dkim.test");

    f.knot.stop();
    let before = auth.stats().dns.txt;
    let (dkim, dmarc, findings) = verify();
    assert_eq!((dkim, dmarc.result, findings), (vec!["pass"], "pass", 0));
    let after = auth.stats().dns.txt;
    assert_eq!(after.misses, before.misses, "{before:?} -> {after:?}");
    assert!(after.hits >= before.hits + 4, "{before:?} -> {after:?}");
}
