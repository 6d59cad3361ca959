//! Header hygiene for sge-milter's own headers (`X-SGE-Findings`, the uninspectable
//! trace): every copy that arrived with the message is deleted and only the ones
//! this decision adds stay, so nobody can forge them. That holds in both directions:
//! a local user can forge a header as easily as an outside sender, and a forged
//! copy on outbound mail would leak made-up rule ids as if they were ours.
//!
//! `[headers] findings_outbound` (default false) decides whether outbound mail
//! carries `X-SGE-Findings` at all. Without it the header is left out entirely, not
//! sent empty: a header without rule ids would still tell the Internet that a
//! content rule fired, and the decision log keeps the ids for the admin.

use super::decision::{Decision, FINDINGS_HEADER, HeaderEdit};
use crate::config::headers::HeadersConfig;
use crate::envelope::Direction;

/// One message's view of our own headers: how many copies arrived, then the edits
/// that remove them.
#[derive(Clone, Debug)]
pub struct HeaderHygiene {
    findings_outbound: bool,
    /// Each of our header names with the number of top-level copies received.
    seen: Vec<(&'static str, u32)>,
}

impl HeaderHygiene {
    /// `own`: the headers sge-milter adds besides `X-SGE-Findings` (which is
    /// always included).
    pub fn new(cfg: &HeadersConfig, own: &[&'static str]) -> Self {
        let mut seen = vec![(FINDINGS_HEADER, 0)];
        for &name in own {
            if !seen.iter().any(|(h, _)| h.eq_ignore_ascii_case(name)) {
                seen.push((name, 0));
            }
        }
        HeaderHygiene {
            findings_outbound: cfg.findings_outbound,
            seen,
        }
    }

    /// One top-level header of the message as received.
    pub fn header(&mut self, name: &str) {
        if let Some((_, n)) = self
            .seen
            .iter_mut()
            .find(|(h, _)| h.eq_ignore_ascii_case(name))
        {
            *n = n.saturating_add(1);
        }
    }

    /// Puts the deletion of every received copy in front of the decision's edits
    /// (highest index first, so the indexes still to delete stay valid whether or
    /// not the MTA renumbers), and drops `X-SGE-Findings` from outbound mail unless
    /// `findings_outbound` is set.
    pub fn apply(&self, decision: &mut Decision, direction: Direction) {
        if direction == Direction::Outbound && !self.findings_outbound {
            decision
                .header_edits
                .retain(|e| !matches!(e, HeaderEdit::Add { name, .. } if name == FINDINGS_HEADER));
        }
        let deletes = self.seen.iter().flat_map(|&(name, n)| {
            (1..=n).rev().map(move |index| HeaderEdit::Delete {
                name: name.to_string(),
                index,
            })
        });
        decision.header_edits.splice(0..0, deletes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Action, Finding, FindingKind};

    const TRACE: &str = "X-SGE-Uninspectable";

    fn tagged() -> Decision {
        Decision::from_findings(vec![Finding::new(
            "kw.tag",
            FindingKind::Keyword,
            Action::Tag,
            "x",
        )])
    }

    fn hygiene(findings_outbound: bool, received: &[&str]) -> HeaderHygiene {
        let mut h = HeaderHygiene::new(&HeadersConfig { findings_outbound }, &[TRACE]);
        received.iter().for_each(|n| h.header(n));
        h
    }

    fn delete(name: &str, index: u32) -> HeaderEdit {
        HeaderEdit::Delete {
            name: name.into(),
            index,
        }
    }

    #[test]
    fn received_copies_are_deleted_before_ours_is_added() {
        let h = hygiene(
            false,
            &["x-sge-findings", "Subject", "X-SGE-Findings", TRACE],
        );
        let mut d = tagged();
        h.apply(&mut d, Direction::Inbound);
        assert_eq!(
            d.header_edits,
            [
                delete(FINDINGS_HEADER, 2),
                delete(FINDINGS_HEADER, 1),
                delete(TRACE, 1),
                HeaderEdit::Add {
                    name: FINDINGS_HEADER.into(),
                    value: "kw.tag".into()
                },
            ]
        );
    }

    #[test]
    fn outbound_findings_header_only_when_configured() {
        let mut d = tagged();
        hygiene(false, &["X-SGE-Findings"]).apply(&mut d, Direction::Outbound);
        assert_eq!(d.header_edits, [delete(FINDINGS_HEADER, 1)]);
        let mut d = tagged();
        hygiene(true, &[]).apply(&mut d, Direction::Outbound);
        assert_eq!(
            d.headers_added(),
            [[FINDINGS_HEADER.to_string(), "kw.tag".into()]]
        );
    }

    #[test]
    fn clean_message_without_copies_is_unchanged() {
        let mut d = Decision::from_findings(vec![]);
        hygiene(false, &["Subject"]).apply(&mut d, Direction::Inbound);
        assert!(d.header_edits.is_empty());
    }
}
