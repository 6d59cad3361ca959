//! `sge-milter scan`: one message file through the same pipeline the milter drives,
//! fed in body chunks as an MTA would.

use crate::envelope::Envelope;
use crate::message::header::parse_header_block;
use crate::pipeline::{Engine, MessageScan};
use crate::policy::Decision;
use serde::Serialize;
use std::sync::Arc;

/// Body chunk size Postfix uses towards milters (MILTER_CHUNK_SIZE).
pub const MTA_CHUNK_SIZE: usize = 65535;

/// The outcome of scanning one message offline.
pub struct ScanOutcome {
    pub decision: Decision,
    pub envelope: Envelope,
    pub auth: Option<crate::auth::AuthReport>,
    /// What the scanners learnt (classification ...).
    pub facts: crate::scan::MessageFacts,
}

/// Runs one raw message (as read from a `.eml` file) through the pipeline.
pub async fn scan_message(engine: &Arc<Engine>, mut env: Envelope, data: &[u8]) -> ScanOutcome {
    let spf = engine.mail_from(&mut env).await;
    let block = parse_header_block(data);
    let mut scan = engine.start_message(env, spf);
    for (name, value) in &block.headers {
        scan.header(name, value);
    }
    if let Some(decision) = scan.end_of_headers() {
        return outcome(scan, decision);
    }
    let body = to_crlf(&data[block.body_offset.min(data.len())..]);
    for chunk in body.chunks(MTA_CHUNK_SIZE) {
        scan.body(chunk);
    }
    let decision = scan.finish().await;
    outcome(scan, decision)
}

fn outcome(scan: MessageScan, decision: Decision) -> ScanOutcome {
    ScanOutcome {
        decision,
        envelope: scan.envelope().clone(),
        auth: scan.auth_report().cloned(),
        facts: scan.facts().clone(),
    }
}

/// MTAs hand milters the body with CRLF line ends; files on disk often have LF.
fn to_crlf(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 32);
    let mut prev = 0u8;
    for &b in body {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// One line of `scan --json`.
#[derive(Serialize)]
pub struct ScanReport<'a> {
    pub file: &'a str,
    pub direction: &'static str,
    pub action: &'static str,
    pub smtp_reply: Option<String>,
    pub findings: &'a [crate::policy::Finding],
    pub headers_added: Vec<[String; 2]>,
    /// `[name, index]` of headers the MTA is asked to delete (1-based per name).
    pub headers_removed: Vec<(String, u32)>,
    /// SPF, DKIM, DMARC and ARC results (absent when `[auth] enabled = false`).
    pub auth: Option<&'a crate::auth::AuthReport>,
    /// The protective marking read; `level` is null when the message is unmarked.
    pub classification: crate::policy::Classification,
}

impl<'a> ScanReport<'a> {
    pub fn new(file: &'a str, outcome: &'a ScanOutcome) -> Self {
        let d = &outcome.decision;
        ScanReport {
            file,
            direction: outcome.envelope.direction().as_str(),
            action: d.action.as_str(),
            smtp_reply: d.smtp_reply.as_ref().map(ToString::to_string),
            findings: &d.findings,
            headers_added: d.headers_added(),
            headers_removed: d
                .header_edits
                .iter()
                .filter_map(|e| match e {
                    crate::policy::HeaderEdit::Delete { name, index } => {
                        Some((name.clone(), *index))
                    }
                    _ => None,
                })
                .collect(),
            auth: outcome.auth.as_ref(),
            classification: outcome.facts.classification.clone().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::to_crlf;

    #[test]
    fn converts_bare_lf_only() {
        assert_eq!(to_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
    }
}
