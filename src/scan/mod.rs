//! Scanners: everything that reads decoded content and reports findings.
//!
//! A [`Scanner`] is compiled once from the rules and shared by every message; it
//! starts one [`ScanState`] per message. Decoded content reaches every scanner through
//! one trait, [`ContentSink`], fed by the MIME walker.

pub mod dlp;
pub mod keywords;
pub mod markings;

use crate::envelope::Envelope;
use crate::message::ContentSink;
use crate::policy::{Classification, Finding, HeaderEdit};

/// Facts about the message that scanners share at the end: the markings scanner
/// sets the classification, later scanners (DLP) read it.
#[derive(Clone, Debug, Default)]
pub struct MessageFacts {
    pub classification: Option<Classification>,
    /// Header changes a scanner asks for when the message is accepted (trace headers).
    pub header_edits: Vec<HeaderEdit>,
}

/// Compiled rules of one kind, shared across messages and threads.
pub trait Scanner: Send + Sync {
    /// Short name for logs and errors (`keywords`, `markings`, `dlp`).
    fn name(&self) -> &'static str;
    /// Starts the per-message state; `None` when no rule applies to this envelope
    /// (e.g. only outbound rules and an inbound message), so the scanner costs nothing.
    fn begin(&self, envelope: &Envelope) -> Option<Box<dyn ScanState>>;
}

/// Per-message scanner state. Content arrives through [`ContentSink`].
pub trait ScanState: ContentSink + Send {
    /// After the top-level headers: findings that can be decided before the body,
    /// so the MTA can reject early. Scanners run in configured order.
    fn end_of_headers(
        &mut self,
        _env: &Envelope,
        _facts: &mut MessageFacts,
        _out: &mut Vec<Finding>,
    ) {
    }
    /// At end of message: every remaining finding. Scanners run in configured order
    /// (markings first, so later scanners see the classification in `facts`).
    fn finish(&mut self, env: &Envelope, facts: &mut MessageFacts, out: &mut Vec<Finding>);
}
