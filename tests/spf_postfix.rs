//! SPF behind a real Postfix: a sender domain whose SPF record does not list the client
//! is refused at SMTP, and the domain's `exp=` explanation is in the 550 reply. Needs
//! root, postfix, python3 with dnslib: run through `integration/test.sh`.

mod common;
mod spf_support;

use common::{MilterProcess, Postfix};
use spf_support::DnsServer;

fn message(from: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <bob@recipient.example>\r\nSubject: spf check\r\n\
         Message-ID: <spf@x.test>\r\nDate: Sun, 29 Nov 2026 10:00:00 +1300\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nHello.\r\n"
    )
    .into_bytes()
}

#[test]
fn spf_fail_is_rejected_with_the_domains_explanation() {
    // Postfix connects from 127.0.0.1: listed by pass.test, not by fail.test.
    let zone = serde_json::json!({
        "fail.test": [["TXT", ["v=spf1 ip4:192.0.2.1 -all exp=why.%{d}"]]],
        "why.fail.test": [["TXT", ["%{i} is not a mail server of %{d}"]]],
        "pass.test": [["TXT", ["v=spf1 ip4:127.0.0.1 -all exp=why.%{d}"]]],
    });
    let dns = DnsServer::start(&zone);
    let config = format!(
        "[direction]\ntrusted_networks = []\n\n\
         [dns]\nnameservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\nattempts = 1\n\n\
         [auth]\nspf_fail_action = \"reject\"\n",
        dns.port
    );
    let milter = MilterProcess::start(&config);
    let postfix = Postfix::start(&milter.listen_addr());

    let out = postfix.smtp(
        "alice@fail.test",
        &["bob@recipient.example"],
        &message("alice@fail.test"),
    );
    assert!(!out.accepted, "{}", out.reply);
    assert!(out.reply.contains("550"), "{}", out.reply);
    assert!(
        out.reply
            .contains("127.0.0.1 is not a mail server of fail.test"),
        "{}",
        out.reply
    );

    let out = postfix.smtp(
        "alice@pass.test",
        &["bob@recipient.example"],
        &message("alice@pass.test"),
    );
    assert!(
        !out.reply.contains("SPF"),
        "an SPF pass must not be refused for SPF: {}",
        out.reply
    );
}
