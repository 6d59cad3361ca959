//! Any bytes as an SPF record (parsed, and evaluated against a zone where it is the
//! sender's policy) and as a macro string: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sge_milter::spf_eval::{MacroString, MacroValues, MemoryDns, Record, SpfRequest, check};

fuzz_target!(|data: &[u8]| {
    let _ = Record::parse(data);
    let text = String::from_utf8_lossy(data);
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
    for explanation in [false, true] {
        if let Ok(m) = MacroString::parse(&text, explanation) {
            let _ = m.expand(&values);
        }
    }
    let dns = MemoryDns::new()
        .with_txt_bytes("example.com", data)
        .with_ip("example.com", "192.0.2.1".parse().expect("ip"));
    let request = SpfRequest {
        client_ip: "192.0.2.1".parse().expect("ip"),
        helo: &text,
        mail_from: "user@example.com",
        receiver: "",
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let _ = runtime.block_on(check(&dns, &request));
});
