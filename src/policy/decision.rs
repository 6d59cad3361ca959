//! Findings and the one decision they fold into.

pub use crate::config::Action;
use serde::Serialize;
use std::fmt;

/// Which part of the product produced a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    Keyword,
    Marking,
    Dlp,
    Auth,
    Route,
    /// Malformed or uninspectable content (MIME errors, encrypted attachments).
    Content,
    /// A configured limit was exceeded (size, depth).
    Limit,
    /// An internal error handled by policy (fail-open or fail-closed).
    Internal,
}

/// One thing a scanner noticed, with the action its rule asks for.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Stable rule id from config; logs, replies and metrics use it.
    #[serde(rename = "rule")]
    pub rule_id: String,
    pub kind: FindingKind,
    pub action: Action,
    /// Human-readable reason, safe to show to the sender: never an unmasked identifier.
    pub detail: String,
    /// An SMTP reply code and enhanced code to use instead of the action's default
    /// (e.g. `452`, `4.3.4` for an oversized message).
    #[serde(skip)]
    pub reply_code: Option<(u16, &'static str)>,
    /// Structured facts for `scan --json` (DLP counts, offending recipients ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// DLP: what each detector found, for the metrics (the same counts are in
    /// `data` for `scan --json`).
    #[serde(skip)]
    pub detections: Vec<Detection>,
}

/// One detector's share of a DLP finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    /// The configured detector name (`nz_ird`, a custom detector id).
    pub detector: String,
    /// `low`, `medium` or `high`.
    pub confidence: &'static str,
    pub count: u64,
}

impl Finding {
    pub fn new(
        rule_id: impl Into<String>,
        kind: FindingKind,
        action: Action,
        detail: impl Into<String>,
    ) -> Self {
        Finding {
            rule_id: rule_id.into(),
            kind,
            action,
            detail: detail.into(),
            reply_code: None,
            data: None,
            detections: Vec::new(),
        }
    }

    pub fn with_reply_code(mut self, code: u16, enhanced: &'static str) -> Self {
        self.reply_code = Some((code, enhanced));
        self
    }

    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }

    pub fn with_detections(mut self, detections: Vec<Detection>) -> Self {
        self.detections = detections;
        self
    }
}

/// An SMTP reply for a reject or tempfail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SmtpReply {
    pub code: u16,
    pub enhanced: String,
    pub text: String,
}

impl fmt::Display for SmtpReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.code, self.enhanced, self.text)
    }
}

/// A header change the MTA is asked to make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum HeaderEdit {
    /// Append a header at the end of the header block.
    Add { name: String, value: String },
    /// Insert a header at an index (0 = top).
    Insert {
        index: u32,
        name: String,
        value: String,
    },
    /// Delete the `index`-th (1-based, among headers of that name) occurrence.
    Delete { name: String, index: u32 },
}

/// Header name for the rule ids of a tagged message.
pub const FINDINGS_HEADER: &str = "X-SGE-Findings";

/// The one answer for a message.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Decision {
    pub action: Action,
    pub smtp_reply: Option<SmtpReply>,
    pub header_edits: Vec<HeaderEdit>,
    pub findings: Vec<Finding>,
}

impl Decision {
    /// Folds findings into one decision: the most severe action wins, and the first
    /// finding with that action gives the reply text. Every finding is kept.
    pub fn from_findings(findings: Vec<Finding>) -> Decision {
        let action = findings
            .iter()
            .map(|f| f.action)
            .max()
            .unwrap_or(Action::Accept);
        let deciding = findings.iter().find(|f| f.action == action);
        let smtp_reply = deciding.and_then(|f| reply_for(action, f));
        let mut header_edits = Vec::new();
        if matches!(action, Action::Tag | Action::Quarantine) {
            header_edits.push(HeaderEdit::Add {
                name: FINDINGS_HEADER.into(),
                value: rule_ids(&findings),
            });
        }
        Decision {
            action,
            smtp_reply,
            header_edits,
            findings,
        }
    }

    /// Rule ids of every finding, comma-separated, for logs and the findings header.
    pub fn rule_ids(&self) -> String {
        rule_ids(&self.findings)
    }

    /// Headers to be added, as `[name, value]` pairs (for `scan --json`).
    pub fn headers_added(&self) -> Vec<[String; 2]> {
        self.header_edits
            .iter()
            .filter_map(|e| match e {
                HeaderEdit::Add { name, value } | HeaderEdit::Insert { name, value, .. } => {
                    Some([name.clone(), value.clone()])
                }
                HeaderEdit::Delete { .. } => None,
            })
            .collect()
    }

    /// The reason given to the MTA for a quarantine (shown by `postqueue -j`/`postcat`).
    pub fn quarantine_reason(&self) -> String {
        let first = self
            .findings
            .iter()
            .find(|f| f.action == Action::Quarantine);
        match first {
            Some(f) => sanitize_reply_text(&format!("[sge:{}] {}", f.rule_id, f.detail)),
            None => "held by sge-milter".into(),
        }
    }
}

fn rule_ids(findings: &[Finding]) -> String {
    let mut ids: Vec<&str> = Vec::with_capacity(findings.len());
    for f in findings {
        if !ids.contains(&f.rule_id.as_str()) {
            ids.push(&f.rule_id);
        }
    }
    ids.join(", ")
}

fn reply_for(action: Action, finding: &Finding) -> Option<SmtpReply> {
    let (code, enhanced) = match (action, finding.reply_code) {
        (Action::Reject, Some((c, e))) if (500..600).contains(&c) => (c, e),
        (Action::Tempfail, Some((c, e))) if (400..500).contains(&c) => (c, e),
        (Action::Reject, _) => (550, "5.7.1"),
        (Action::Tempfail, _) => (451, "4.7.1"),
        _ => return None,
    };
    Some(SmtpReply {
        code,
        enhanced: enhanced.into(),
        text: sanitize_reply_text(&format!("[sge:{}] {}", finding.rule_id, finding.detail)),
    })
}

/// Longest reply text we send: SMTP allows 512 octets per reply line in all.
const MAX_REPLY_TEXT: usize = 400;

/// Makes text safe for an SMTP reply line: printable ASCII only (no CR/LF/NUL, which
/// would break the reply or the milter protocol), no `%` (MTAs disagree on whether it
/// is a format character), bounded length.
pub fn sanitize_reply_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_REPLY_TEXT));
    for c in text.chars() {
        if out.len() >= MAX_REPLY_TEXT {
            out.push_str("...");
            break;
        }
        match c {
            ' '..='~' if c != '%' => out.push(c),
            '\t' | '\r' | '\n' => out.push(' '),
            _ => out.push('?'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str, action: Action) -> Finding {
        Finding::new(id, FindingKind::Keyword, action, format!("reason {id}"))
    }

    #[test]
    fn most_severe_action_wins_and_names_its_rule() {
        let d = Decision::from_findings(vec![
            f("a", Action::Tag),
            f("b", Action::Reject),
            f("c", Action::Quarantine),
        ]);
        assert_eq!(d.action, Action::Reject);
        let reply = d.smtp_reply.unwrap();
        assert_eq!(reply.to_string(), "550 5.7.1 [sge:b] reason b");
        assert_eq!(d.findings.len(), 3);
    }

    #[test]
    fn no_findings_is_accept_without_reply() {
        let d = Decision::from_findings(vec![]);
        assert_eq!(d.action, Action::Accept);
        assert!(d.smtp_reply.is_none());
        assert!(d.header_edits.is_empty());
    }

    #[test]
    fn tag_adds_findings_header_with_unique_ids() {
        let d = Decision::from_findings(vec![f("x", Action::Tag), f("x", Action::Tag)]);
        assert_eq!(
            d.headers_added(),
            vec![[FINDINGS_HEADER.to_string(), "x".into()]]
        );
    }

    #[test]
    fn tempfail_uses_finding_reply_code_when_it_fits() {
        let d = Decision::from_findings(vec![
            f("size", Action::Tempfail).with_reply_code(452, "4.3.4"),
        ]);
        assert_eq!(d.smtp_reply.unwrap().code, 452);
        let d = Decision::from_findings(vec![f("x", Action::Reject).with_reply_code(452, "4.3.4")]);
        assert_eq!(d.smtp_reply.unwrap().code, 550);
    }

    #[test]
    fn reply_text_is_sanitized() {
        assert_eq!(sanitize_reply_text("a\r\nb%\0é"), "a  b???");
        assert!(sanitize_reply_text(&"x".repeat(5000)).len() <= MAX_REPLY_TEXT + 3);
    }
}
