//! Authentication against a real DNS server (knotd on loopback), through
//! `sge-milter scan --json`: SPF, DKIM, DMARC, ARC, enforcement, DNS failure, and
//! outbound signatures checked by an independent verifier (dkimpy).

mod auth_fixture;
mod common;

use auth_fixture::*;

fn spf_of(r: &serde_json::Value) -> &str {
    r["auth"]["spf"]["result"].as_str().unwrap_or("?")
}

#[test]
fn spf_results_and_their_enforcement() {
    let f = AuthFixture::start();
    let cfg = f.config("spf.toml", "");
    for (domain, expected, action) in [
        ("pass.test", "pass", "accept"),
        ("fail.test", "fail", "tag"),
        ("softfail.test", "softfail", "accept"),
        ("neutral.test", "neutral", "accept"),
        ("none.test", "none", "accept"),
        ("permerror.test", "permerror", "tag"),
        ("temperror.test", "temperror", "tempfail"),
    ] {
        let from = format!("someone@{domain}");
        let r = f.scan_inbound(&cfg, GOOD_IP, &from, &message(&from, "spf", "hello"));
        assert_eq!(spf_of(&r), expected, "{domain}: {r}");
        assert_eq!(r["action"], action, "{domain}: {r}");
        assert_eq!(r["auth"]["spf"]["domain"], domain, "{r}");
        if action == "tempfail" {
            let reply = r["smtp_reply"].as_str().unwrap_or("");
            assert!(reply.starts_with("451 4.7."), "{reply}");
        } else {
            let ar = &r["headers_added"][0];
            assert_eq!(ar[0], "Authentication-Results", "{r}");
            let v = ar[1].as_str().unwrap();
            assert!(v.starts_with(AUTHSERV_ID), "{v}");
            assert!(v.contains(&format!("spf={expected}")), "{v}");
        }
    }
    // Null sender: the HELO identity is checked.
    let r = f.scan(
        &cfg,
        &[
            "--direction",
            "inbound",
            "--client-ip",
            GOOD_IP,
            "--helo",
            "pass.test",
            "--from",
            "",
        ],
        &message("postmaster@pass.test", "bounce", "bounced"),
    );
    assert_eq!(spf_of(&r), "pass", "{r}");
    assert_eq!(r["auth"]["spf"]["identity"], "helo", "{r}");
    // A host the record does not list fails.
    let r = f.scan_inbound(
        &cfg,
        "192.0.2.77",
        "a@pass.test",
        &message("a@pass.test", "x", "y"),
    );
    assert_eq!(spf_of(&r), "fail", "{r}");
}

#[test]
fn dkim_results_rsa_ed25519_altered_missing_revoked() {
    let f = AuthFixture::start();
    let verify = f.config("verify.toml", "");
    let both = f.signing_config(
        "sign-both.toml",
        "dkim.test",
        &[("rsa", &f.dkim_rsa), ("ed", &f.dkim_ed)],
    );
    let msg = message("a@dkim.test", "signed", "the body");
    let signed = f.sign(&both, &msg);

    // Both signatures pass; DMARC passes through aligned DKIM although SPF fails.
    let r = f.scan_inbound(&verify, GOOD_IP, "bounce@fail.test", &signed);
    let mut res = dkim_results(&r);
    res.sort();
    assert_eq!(
        res,
        [("ed".into(), "pass".into()), ("rsa".into(), "pass".into())],
        "{r}"
    );
    let algs: Vec<&str> = r["auth"]["dkim"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["algorithm"].as_str().unwrap())
        .collect();
    assert!(
        algs.contains(&"rsa-sha256") && algs.contains(&"ed25519-sha256"),
        "{r}"
    );
    assert_eq!(r["auth"]["dmarc"]["result"], "pass", "{r}");
    assert_eq!(r["action"], "accept", "{r}");

    // Body altered after signing: both fail, DMARC p=reject rejects.
    let tampered = String::from_utf8(signed.clone())
        .unwrap()
        .replace("the body", "the b0dy")
        .into_bytes();
    let r = f.scan_inbound(&verify, GOOD_IP, "bounce@fail.test", &tampered);
    assert!(dkim_results(&r).iter().all(|(_, res)| res == "fail"), "{r}");
    assert_eq!(r["action"], "reject", "{r}");
    let reply = r["smtp_reply"].as_str().unwrap();
    assert!(
        reply.starts_with("550 5.7.1") && reply.contains("DMARC") && reply.contains("dkim.test"),
        "{reply}"
    );

    // A signed header altered.
    let tampered = String::from_utf8(signed.clone())
        .unwrap()
        .replace("Subject: signed", "Subject: changed")
        .into_bytes();
    let r = f.scan_inbound(&verify, GOOD_IP, "bounce@fail.test", &tampered);
    assert!(dkim_results(&r).iter().all(|(_, res)| res == "fail"), "{r}");

    // Key not published.
    let missing = f.signing_config(
        "sign-missing.toml",
        "dkim.test",
        &[("missing", &f.dkim_rsa)],
    );
    let r = f.scan_inbound(&verify, GOOD_IP, "a@dkim.test", &f.sign(&missing, &msg));
    assert_eq!(
        dkim_results(&r),
        [("missing".into(), "permerror".into())],
        "{r}"
    );

    // Key revoked (empty p=).
    let revoked = f.signing_config(
        "sign-revoked.toml",
        "dkim.test",
        &[("revoked", &f.dkim_rsa)],
    );
    let r = f.scan_inbound(&verify, GOOD_IP, "a@dkim.test", &f.sign(&revoked, &msg));
    assert_eq!(
        dkim_results(&r),
        [("revoked".into(), "permerror".into())],
        "{r}"
    );
    let reason = r["auth"]["dkim"][0]["reason"].as_str().unwrap_or("");
    assert!(reason.contains("revoked"), "{r}");
    // SPF aligned and passing still satisfies DMARC.
    assert_eq!(r["auth"]["dmarc"]["result"], "pass", "{r}");
}

#[test]
fn dmarc_policies_and_alignment() {
    let f = AuthFixture::start();
    let cfg = f.config("dmarc.toml", "");
    let scan = |from_hdr: &str, envelope: &str| {
        f.scan_inbound(&cfg, GOOD_IP, envelope, &message(from_hdr, "dmarc", "text"))
    };
    // Aligned SPF pass.
    let r = scan("a@reject.test", "a@reject.test");
    assert_eq!(r["auth"]["dmarc"]["result"], "pass", "{r}");
    assert_eq!(r["action"], "accept", "{r}");
    // Unaligned: p=reject rejects, naming DMARC and the domain.
    let r = scan("a@reject.test", "a@pass.test");
    assert_eq!(r["auth"]["dmarc"]["result"], "fail", "{r}");
    assert_eq!(r["auth"]["dmarc"]["policy"], "reject", "{r}");
    assert_eq!(r["action"], "reject", "{r}");
    let reply = r["smtp_reply"].as_str().unwrap();
    assert!(
        reply.starts_with("550 5.7.1") && reply.contains("DMARC") && reply.contains("reject.test"),
        "{reply}"
    );
    // p=quarantine quarantines.
    let r = scan("a@quarantine.test", "a@pass.test");
    assert_eq!(r["action"], "quarantine", "{r}");
    assert!(has_finding(&r, "auth.dmarc_quarantine"), "{r}");
    // p=none: reported, accepted.
    let r = scan("a@monitor.test", "a@pass.test");
    assert_eq!(r["auth"]["dmarc"]["result"], "fail", "{r}");
    assert_eq!(r["auth"]["dmarc"]["policy"], "none", "{r}");
    assert_eq!(r["action"], "accept", "{r}");
    // Sub-domain: sp=reject of the organisational domain applies.
    let r = scan("a@sub.org.test", "a@pass.test");
    assert_eq!(r["auth"]["dmarc"]["policy"], "reject", "{r}");
    assert_eq!(r["action"], "reject", "{r}");
    // The organisational domain itself has p=none.
    let r = scan("a@org.test", "a@pass.test");
    assert_eq!(r["action"], "accept", "{r}");
    // pct=0: sampled out of p=reject, the next milder policy (quarantine) applies.
    let r = scan("a@sampled.test", "a@pass.test");
    assert_eq!(r["auth"]["dmarc"]["sampled_out"], true, "{r}");
    assert_eq!(r["action"], "quarantine", "{r}");
}

#[test]
fn local_domain_from_outside_is_rejected_and_forged_results_removed() {
    let f = AuthFixture::start();
    let cfg = f.config("local.toml", "");
    let mut msg = format!(
        "Authentication-Results: {AUTHSERV_ID}; dkim=pass header.d=agency.test\r\n\
         Authentication-Results: other.example; spf=pass\r\n\
         Authentication-Results: {AUTHSERV_ID}; spf=pass\r\n"
    )
    .into_bytes();
    msg.extend(message("ceo@agency.test", "wire money", "now"));
    let r = f.scan_inbound(&cfg, GOOD_IP, "x@pass.test", &msg);
    assert_eq!(r["action"], "reject", "{r}");
    assert!(has_finding(&r, "auth.local_domain_spoof"), "{r}");
    // Accepted mail with forged results: ours (1st and 3rd) go, last first.
    let mut msg = format!(
        "Authentication-Results: {AUTHSERV_ID}; dkim=pass header.d=reject.test\r\n\
         Authentication-Results: other.example; spf=pass\r\n\
         Authentication-Results: {AUTHSERV_ID}; spf=pass\r\n"
    )
    .into_bytes();
    msg.extend(message("a@reject.test", "hello", "hi"));
    let r = f.scan_inbound(&cfg, GOOD_IP, "a@reject.test", &msg);
    assert_eq!(r["action"], "accept", "{r}");
    assert_eq!(
        r["headers_removed"],
        serde_json::json!([["Authentication-Results", 3], ["Authentication-Results", 1]]),
        "{r}"
    );
}

/// Seals `msg` as the mailing list `lists.test` would after changing it.
fn arc_seal(f: &AuthFixture, original: &[u8], modified: &[u8]) -> Vec<u8> {
    use mail_auth::arc::ArcSealer;
    use mail_auth::common::crypto::Ed25519Key;
    use mail_auth::common::headers::HeaderWriter;
    use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
    use mail_auth::{AuthenticatedMessage, AuthenticationResults, MessageAuthenticator};
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut ns = NameServerConfig::udp_and_tcp("127.0.0.1".parse().unwrap());
        for c in &mut ns.connections {
            c.port = f.knot.port;
        }
        let resolver = MessageAuthenticator::new(
            ResolverConfig::from_name_servers(vec![ns]),
            ResolverOpts::default(),
        )
        .unwrap();
        // What the list saw on arrival: the author's DKIM passing.
        let orig = AuthenticatedMessage::parse(original).unwrap();
        let dkim = resolver.verify_dkim(&orig).await;
        assert!(
            dkim.iter()
                .any(|d| *d.result() == mail_auth::DkimResult::Pass)
        );
        let results =
            AuthenticationResults::new("lists.test").with_dkim_results(&dkim, "a@dkim.test");
        let msg = AuthenticatedMessage::parse(modified).unwrap();
        let arc = resolver.verify_arc(&msg).await;
        let pem = std::fs::read(&f.arc_ed).unwrap();
        let PrivateKeyDer::Pkcs8(der) = PrivateKeyDer::from_pem_slice(&pem).unwrap() else {
            panic!("pkcs8 expected")
        };
        let key = Ed25519Key::from_pkcs8_der(der.secret_pkcs8_der()).unwrap();
        let set = ArcSealer::from_key(key)
            .domain("lists.test")
            .selector("arc")
            .headers(["From", "To", "Subject", "DKIM-Signature"])
            .seal(&msg, &results, &arc)
            .unwrap();
        let mut out = set.to_header().into_bytes();
        out.extend_from_slice(modified);
        out
    })
}

#[test]
fn arc_sealed_forward_from_trusted_list_is_accepted() {
    let f = AuthFixture::start();
    let signer = f.signing_config("sign.toml", "dkim.test", &[("ed", &f.dkim_ed)]);
    let original = f.sign(&signer, &message("a@dkim.test", "news", "list post"));
    // The list tags the subject and adds a footer: the author's signature breaks.
    let modified = String::from_utf8(original.clone())
        .unwrap()
        .replace("Subject: news", "Subject: [list] news")
        .replace(
            "list post\r\n",
            "list post\r\n-- \r\nunsubscribe: lists.test\r\n",
        )
        .into_bytes();
    let sealed = arc_seal(&f, &original, &modified);

    let trusting = f.config("trust.toml", "trusted_arc_sealers = [\"lists.test\"]");
    let r = f.scan_inbound(&trusting, LIST_IP, "bounces@lists.test", &sealed);
    assert_eq!(r["auth"]["arc"]["result"], "pass", "{r}");
    assert_eq!(r["auth"]["arc"]["sealer"], "lists.test", "{r}");
    assert_eq!(r["auth"]["dmarc"]["result"], "fail", "{r}");
    assert_eq!(r["action"], "accept", "{r}");
    assert!(has_finding(&r, "auth.dmarc_arc_override"), "{r}");
    let ar = r["headers_added"][0][1].as_str().unwrap();
    assert!(ar.contains("arc=pass"), "{ar}");

    // Not trusted: DMARC p=reject applies.
    let plain = f.config("plain.toml", "");
    let r = f.scan_inbound(&plain, LIST_IP, "bounces@lists.test", &sealed);
    assert_eq!(r["auth"]["arc"]["result"], "pass", "{r}");
    assert_eq!(r["action"], "reject", "{r}");
}

#[test]
fn dns_server_down_tempfails() {
    let mut f = AuthFixture::start();
    let cfg = f.config("down.toml", "");
    f.knot.stop();
    let r = f.scan_inbound(
        &cfg,
        GOOD_IP,
        "a@reject.test",
        &message("a@reject.test", "x", "y"),
    );
    assert_eq!(spf_of(&r), "temperror", "{r}");
    assert_eq!(r["action"], "tempfail", "{r}");
    assert!(
        r["smtp_reply"].as_str().unwrap().starts_with("451 4.7."),
        "{r}"
    );
    // Admins may choose to accept (tagged) instead.
    let lenient = f.config("lenient.toml", "dns_error_action = \"tag\"");
    let r = f.scan_inbound(
        &lenient,
        GOOD_IP,
        "a@reject.test",
        &message("a@reject.test", "x", "y"),
    );
    assert_eq!(r["action"], "tag", "{r}");
}

#[test]
fn outbound_signatures_verify_with_dkimpy() {
    let f = AuthFixture::start();
    let cfg = f.signing_config(
        "agency.toml",
        "agency.test",
        &[("sge", &f.agency_rsa), ("sgeed", &f.agency_ed)],
    );
    // LF line ends and a folded header, as a file on disk might have them.
    let msg = b"From: Chief <chief@agency.test>\nTo: partner@example.org\nSubject: a long\n subject folded\nDate: Sun, 29 Nov 2026 10:00:00 +1300\nMessage-ID: <1@agency.test>\nX-Protective-Marking: VER=2018.1, NS=govt.nz, SEC=UNCLASSIFIED\n\nbody line\n\n\n".to_vec();
    let r = f.scan(
        &cfg,
        &[
            "--direction",
            "outbound",
            "--from",
            "chief@agency.test",
            "--to",
            "partner@example.org",
        ],
        &msg,
    );
    let signed = &r["auth"]["signed"];
    assert_eq!(signed.as_array().map(Vec::len), Some(2), "{r}");
    let mut out = Vec::new();
    for h in r["headers_added"].as_array().unwrap() {
        if h[0] == "DKIM-Signature" {
            let v = h[1].as_str().unwrap();
            assert!(v.contains("From:From"), "From oversigned: {v}");
            out.extend_from_slice(format!("DKIM-Signature: {v}\r\n").as_bytes());
        }
    }
    // The message as an MTA sends it on: CRLF everywhere.
    let crlf = String::from_utf8(msg).unwrap().replace('\n', "\r\n");
    out.extend_from_slice(crlf.as_bytes());
    assert!(
        f.dkimpy_verifies(&out),
        "dkimpy rejected:\n{}",
        String::from_utf8_lossy(&out)
    );
    // Sanity: the verifier does reject a changed message.
    let bad = String::from_utf8(out)
        .unwrap()
        .replace("body line", "body lime");
    assert!(!f.dkimpy_verifies(bad.as_bytes()));

    // A refused message is never signed.
    let r = f.scan(
        &cfg,
        &["--direction", "outbound", "--from", "chief@agency.test"],
        &message("chief@agency.test", "s", "SGE-MILTER-TEST-REJECT-4F1C9"),
    );
    assert_eq!(r["action"], "reject", "{r}");
    assert!(
        r["headers_added"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h[0] != "DKIM-Signature"),
        "{r}"
    );
    // Too large to keep (and an admin who accepts oversize mail): not signed, tempfail.
    let small = f.dir.path().join("small.toml");
    std::fs::write(
        &small,
        format!(
            "[limits]\nmax_message_size = 100\noversize_action = \"accept\"\n{}",
            std::fs::read_to_string(&cfg).unwrap()
        ),
    )
    .unwrap();
    let r = f.scan(
        &small,
        &["--direction", "outbound", "--from", "chief@agency.test"],
        &message("chief@agency.test", "big", &"x".repeat(500)),
    );
    assert_eq!(r["action"], "tempfail", "{r}");
    assert!(has_finding(&r, "auth.dkim_sign_failed"), "{r}");

    // Outbound mail is signed, not verified; a foreign From is not signed.
    let r = f.scan(
        &cfg,
        &["--direction", "outbound", "--from", "x@other.test"],
        &message("x@other.test", "s", "b"),
    );
    assert!(
        r["auth"]["signed"].is_null() || r["auth"]["signed"] == serde_json::json!([]),
        "{r}"
    );
}
