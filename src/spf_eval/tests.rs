//! Behaviour tests against an in-memory zone, plus a fuzz-style loop over generated and
//! mutated records, names and macro strings.

use super::*;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn run(dns: &MemoryDns, ip: &str, helo: &str, from: &str) -> SpfVerdict {
    let request = SpfRequest {
        client_ip: ip.parse().expect("ip"),
        helo,
        mail_from: from,
        receiver: "mx.test",
    };
    block_on(check(dns, &request))
}

fn result(dns: &MemoryDns, ip: &str, from: &str) -> SpfResult {
    run(dns, ip, "helo.example.org", from).result
}

#[test]
fn basic_results() {
    let dns = MemoryDns::new()
        .with_txt(
            "example.com",
            "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all",
        )
        .with_txt("strict.example.com", "v=spf1 -all");
    assert_eq!(result(&dns, "192.0.2.9", "a@example.com"), SpfResult::Pass);
    assert_eq!(
        result(&dns, "2001:db8::9", "a@example.com"),
        SpfResult::Pass
    );
    assert_eq!(
        result(&dns, "198.51.100.1", "a@example.com"),
        SpfResult::SoftFail
    );
    assert_eq!(
        result(&dns, "198.51.100.1", "a@strict.example.com"),
        SpfResult::Fail
    );
    assert_eq!(
        result(&dns, "198.51.100.1", "a@nothing.example.com"),
        SpfResult::None
    );
}

#[test]
fn ipv4_mapped_clients_are_ipv4() {
    let dns = MemoryDns::new().with_txt("example.com", "v=spf1 ip6:::/0 ip4:192.0.2.1 -all");
    assert_eq!(
        result(&dns, "::ffff:192.0.2.1", "a@example.com"),
        SpfResult::Pass
    );
    let dns = MemoryDns::new().with_txt("example.com", "v=spf1 ip6:::/0 -all");
    assert_eq!(result(&dns, "192.0.2.1", "a@example.com"), SpfResult::Fail);
    assert_eq!(
        result(&dns, "::ffff:192.0.2.1", "a@example.com"),
        SpfResult::Fail
    );
}

#[test]
fn null_sender_uses_helo() {
    let dns = MemoryDns::new()
        .with_txt("mx.example.org", "v=spf1 a -all")
        .with_ip("mx.example.org", "192.0.2.5".parse().unwrap());
    let verdict = run(&dns, "192.0.2.5", "mx.example.org", "");
    assert_eq!(verdict.result, SpfResult::Pass);
    assert_eq!(verdict.identity, SpfIdentity::Helo);
    assert_eq!(verdict.domain, "mx.example.org");
}

#[test]
fn ptr_names_match_without_trailing_dot() {
    let ip: std::net::IpAddr = "192.0.2.7".parse().unwrap();
    let dns = MemoryDns::new()
        .with_txt("example.com", "v=spf1 ptr -all")
        .with_ptr(ip, "mail.example.com.")
        .with_ip("mail.example.com", ip);
    assert_eq!(result(&dns, "192.0.2.7", "a@example.com"), SpfResult::Pass);
}

#[test]
fn syntax_errors_and_duplicates_are_permerror() {
    let dns = MemoryDns::new()
        .with_txt("two.example", "v=spf1 -all")
        .with_txt("two.example", "v=spf1 +all")
        .with_txt("cidr.example", "v=spf1 ip4:192.0.2.0/33 -all");
    assert_eq!(
        result(&dns, "192.0.2.1", "a@two.example"),
        SpfResult::PermError
    );
    assert_eq!(
        result(&dns, "192.0.2.1", "a@cidr.example"),
        SpfResult::PermError
    );
}

#[test]
fn lookup_limits() {
    let mut dns = MemoryDns::new();
    let mut record = String::from("v=spf1");
    for i in 0..11 {
        record.push_str(&format!(" a:h{i}.example"));
        dns = dns.with_ip(&format!("h{i}.example"), "198.51.100.1".parse().unwrap());
    }
    record.push_str(" -all");
    dns = dns.with_txt("many.example", &record);
    assert_eq!(
        result(&dns, "192.0.2.1", "a@many.example"),
        SpfResult::PermError
    );

    let dns = MemoryDns::new().with_txt(
        "void.example",
        "v=spf1 a:n1.example a:n2.example a:n3.example -all",
    );
    assert_eq!(
        result(&dns, "192.0.2.1", "a@void.example"),
        SpfResult::PermError
    );
    let dns = MemoryDns::new().with_txt("void.example", "v=spf1 a:n1.example a:n2.example -all");
    assert_eq!(result(&dns, "192.0.2.1", "a@void.example"), SpfResult::Fail);
}

#[test]
fn include_loop_ends_in_permerror() {
    let dns = MemoryDns::new().with_txt("loop.example", "v=spf1 include:loop.example -all");
    assert_eq!(
        result(&dns, "192.0.2.1", "a@loop.example"),
        SpfResult::PermError
    );
}

#[test]
fn temp_errors() {
    let dns = MemoryDns::new().with_temp_error("down.example");
    assert_eq!(
        result(&dns, "192.0.2.1", "a@down.example"),
        SpfResult::TempError
    );
}

#[test]
fn explanation_for_fail() {
    let dns = MemoryDns::new()
        .with_txt("example.com", "v=spf1 -all exp=why.%{d}")
        .with_txt("why.example.com", "%{i} is not one of %{d}'s servers%_");
    let verdict = run(&dns, "192.0.2.1", "helo.example.org", "a@example.com");
    assert_eq!(verdict.result, SpfResult::Fail);
    assert_eq!(
        verdict.explanation.as_deref(),
        Some("192.0.2.1 is not one of example.com's servers ")
    );
    let output = verdict.to_mail_auth();
    assert_eq!(output.result(), mail_auth::SpfResult::Fail);
    assert_eq!(output.domain(), "example.com");

    // Control characters make the explain-string invalid: no explanation, still fail.
    let dns = MemoryDns::new()
        .with_txt("example.com", "v=spf1 -all exp=why.%{d}")
        .with_txt("why.example.com", "line one\r\n550 injected");
    let verdict = run(&dns, "192.0.2.1", "helo.example.org", "a@example.com");
    assert_eq!(verdict.result, SpfResult::Fail);
    assert_eq!(verdict.explanation, None);

    // Long explanations are cut.
    let long = "%{d}".repeat(2000);
    let dns = MemoryDns::new()
        .with_txt("example.com", "v=spf1 -all exp=why.%{d}")
        .with_txt("why.example.com", &long);
    let verdict = run(&dns, "192.0.2.1", "helo.example.org", "a@example.com");
    assert_eq!(verdict.explanation.map(|e| e.len()), Some(MAX_EXPLANATION));
}

#[test]
fn invalid_initial_domains_are_none() {
    let dns = MemoryDns::new();
    for from in ["a@[192.0.2.1]", "a@A...example.com", "a@localhost"] {
        assert_eq!(result(&dns, "192.0.2.1", from), SpfResult::None, "{from}");
    }
}

/// xorshift64*: deterministic, dependency-free randomness for the fuzz loop.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const PIECES: &[&str] = &[
    "v=spf1",
    " ",
    "  ",
    "a",
    "mx",
    "ptr",
    "all",
    "include:",
    "exists:",
    "redirect=",
    "exp=",
    "ip4:",
    "ip6:",
    "+",
    "-",
    "~",
    "?",
    ":",
    "/",
    "//",
    "0",
    "24",
    "32",
    "33",
    "128",
    "129",
    "999999999999",
    "192.0.2.1",
    "::1",
    "::ffff:192.0.2.1",
    "example.com",
    "t.example",
    ".",
    "..",
    "%{d}",
    "%{i}",
    "%{ir}",
    "%{p}",
    "%{s}",
    "%{l}",
    "%{o}",
    "%{h}",
    "%{v}",
    "%{c}",
    "%{d0}",
    "%{d999999999999999999999r-+.,/_=}",
    "%{",
    "%",
    "%%",
    "%_",
    "%-",
    "}",
    "=",
    "\t",
    "\u{e9}",
    "\u{0}",
    "x",
    "loop.example",
    "%{S}",
    "%{L2r-}",
];

fn generated(rng: &mut Rng) -> String {
    let mut out = String::new();
    if rng.below(4) != 0 {
        out.push_str("v=spf1 ");
    }
    for _ in 0..rng.below(12) {
        out.push_str(rng.pick(PIECES));
    }
    out
}

fn mutated(rng: &mut Rng, base: &str) -> Vec<u8> {
    let mut bytes = base.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = if bytes.is_empty() {
            0
        } else {
            rng.below(bytes.len() + 1)
        };
        match rng.below(3) {
            0 => bytes.insert(at, (rng.next() & 0xff) as u8),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => {
                let piece = rng.pick(PIECES).as_bytes().to_vec();
                bytes.splice(at..at, piece);
            }
        }
    }
    bytes
}

#[test]
fn fuzz_parser_macros_and_evaluation_never_panic() {
    let mut rng = Rng(0x5eed_5eed_1234_5678);
    let seeds = [
        "v=spf1 a mx ptr ip4:192.0.2.0/24 ip6:2001:db8::/32 include:t.example -all",
        "v=spf1 exists:%{ir}.%{v}._spf.%{d2} redirect=%{o} exp=exp.%{d}",
        "v=spf1 a:%{l1r-}.example.com/24//64 ~all",
    ];
    let values = MacroValues {
        sender: "user@example.com",
        local_part: "user",
        sender_domain: "example.com",
        domain: "example.com",
        ip: "2001:db8::1".parse().expect("ip"),
        helo: "mx.example.com",
        receiver: "unknown",
        validated_name: "unknown",
        timestamp: 0,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for case in 0..4000 {
        let record: Vec<u8> = if case % 2 == 0 {
            generated(&mut rng).into_bytes()
        } else {
            let seed = seeds[rng.below(seeds.len())];
            mutated(&mut rng, seed)
        };
        let _ = Record::parse(&record);
        let text = String::from_utf8_lossy(&record);
        for explanation in [false, true] {
            if let Ok(m) = MacroString::parse(&text, explanation) {
                let expanded = m.expand(&values);
                assert!(expanded.len() <= MAX_EXPANSION);
                let _ = domain_for_query(&expanded);
            }
        }
        let _ = is_valid_domain(&text);
        // Full evaluation every few cases: the record is the sender domain's policy,
        // and also reachable through include/redirect.
        if case % 8 == 1 {
            let dns = MemoryDns::new()
                .with_txt_bytes("example.com", &record)
                .with_txt("t.example", &text)
                .with_txt("loop.example", "v=spf1 include:loop.example")
                .with_ip("example.com", "192.0.2.1".parse().expect("ip"))
                .with_mx("example.com", "example.com");
            for ip in ["192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"] {
                let request = SpfRequest {
                    client_ip: ip.parse().expect("ip"),
                    helo: &text,
                    mail_from: "user@example.com",
                    receiver: "",
                };
                let verdict = runtime.block_on(check(&dns, &request));
                if let Some(exp) = verdict.explanation {
                    assert!(exp.len() <= MAX_EXPLANATION);
                }
            }
            // Hostile HELO / sender names themselves.
            let request = SpfRequest {
                client_ip: "192.0.2.1".parse().expect("ip"),
                helo: &text,
                mail_from: "",
                receiver: "",
            };
            let _ = runtime.block_on(check(&dns, &request));
        }
    }
}

/// A resolver that never answers.
struct SilentDns;

impl SpfDns for SilentDns {
    async fn txt(&self, _: &str) -> DnsAnswer<Vec<u8>> {
        std::future::pending().await
    }
    async fn a(&self, _: &str) -> DnsAnswer<std::net::Ipv4Addr> {
        std::future::pending().await
    }
    async fn aaaa(&self, _: &str) -> DnsAnswer<std::net::Ipv6Addr> {
        std::future::pending().await
    }
    async fn mx(&self, _: &str) -> DnsAnswer<String> {
        std::future::pending().await
    }
    async fn ptr(&self, _: std::net::IpAddr) -> DnsAnswer<String> {
        std::future::pending().await
    }
}

#[test]
fn overall_time_limit_gives_temperror() {
    let request = SpfRequest {
        client_ip: "192.0.2.1".parse().expect("ip"),
        helo: "mx.example.org",
        mail_from: "<a@Example.COM>",
        receiver: "",
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let verdict = runtime.block_on(check_within(
        &SilentDns,
        &request,
        std::time::Duration::from_millis(20),
    ));
    assert_eq!(verdict.result, SpfResult::TempError);
    assert_eq!(verdict.domain, "example.com");
    assert_eq!(verdict.identity, SpfIdentity::MailFrom);
}
