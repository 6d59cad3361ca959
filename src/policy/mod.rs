//! Policy: what the findings of one message add up to. No I/O here.

pub mod classification;
pub mod decision;
pub mod direction;
pub mod direction_hint;
pub mod headers;
pub mod routes;

pub use classification::Classification;
pub use decision::{Action, Decision, Detection, Finding, FindingKind, HeaderEdit, SmtpReply};
