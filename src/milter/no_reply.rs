//! Stages the MTA does not wait on.
//!
//! By default the MTA waits for a reply to every milter command, so every header of
//! every message costs a round trip: a write and a wake-up on each side, about
//! twenty per message. sge-milter never decides anything on its own at HELO, RCPT,
//! DATA or a single header (the content is judged at end of headers and end of
//! message), so it asks the MTA not to wait there (`SMFIP_NR_HELO`, `_RCPT`, `_DATA`,
//! `_HDR`: milter protocol 6, offered by Postfix 2.6+ and Sendmail 8.14+). Options the
//! MTA does not offer are not asked for, and those stages keep their replies.
//!
//! Connect, MAIL, end of headers, body chunks and end of message still reply:
//! connect can refuse a connection, MAIL refuses a message when the in-flight
//! budget is full, end of headers can decide early, and a reply to each body chunk
//! keeps the MTA from sending more of a message that is already over budget.
//!
//! A verdict reached at a no-reply stage anyway (the in-flight budget overflowing
//! on a header, an internal error) is kept and given at the next stage that
//! replies: MAIL after HELO, end of headers after RCPT, DATA and the headers. The
//! message is never let through on it, and its SMTP reply text, set when the
//! verdict was reached, stays with the connection until that stage sends it.

use indymilter::{ProtoOpts, Status};

/// The stages sge-milter asks the MTA not to wait on.
pub const NO_REPLY_STAGES: ProtoOpts = ProtoOpts::NOREPLY_HELO
    .union(ProtoOpts::NOREPLY_RCPT)
    .union(ProtoOpts::NOREPLY_DATA)
    .union(ProtoOpts::NOREPLY_HEADER);

/// The no-reply options to request from an MTA offering `offered`.
pub fn requested(offered: ProtoOpts) -> ProtoOpts {
    offered & NO_REPLY_STAGES
}

/// A stage that may have been negotiated as no-reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Helo,
    Rcpt,
    Data,
    Header,
}

impl Stage {
    fn flag(self) -> ProtoOpts {
        match self {
            Stage::Helo => ProtoOpts::NOREPLY_HELO,
            Stage::Rcpt => ProtoOpts::NOREPLY_RCPT,
            Stage::Data => ProtoOpts::NOREPLY_DATA,
            Stage::Header => ProtoOpts::NOREPLY_HEADER,
        }
    }
}

/// The status that lets a message go on at `stage`: `Noreply` where the MTA does
/// not wait for one, else `Continue`.
pub fn pass(negotiated: ProtoOpts, stage: Stage) -> Status {
    if negotiated.contains(stage.flag()) {
        Status::Noreply
    } else {
        Status::Continue
    }
}

/// Per connection: the no-reply stages negotiated, and a verdict waiting for a
/// stage that replies.
#[derive(Debug, Default)]
pub struct Replies {
    negotiated: ProtoOpts,
    deferred: Option<Status>,
}

impl Replies {
    pub fn new(negotiated: ProtoOpts) -> Replies {
        Replies {
            negotiated,
            deferred: None,
        }
    }

    /// The status to send for `status` reached at `stage`: itself where the MTA
    /// waits for a reply; where it does not, `Noreply`, keeping a verdict (anything
    /// but `Continue`) for [`Replies::take_deferred`]. The first verdict wins.
    pub fn answer(&mut self, stage: Stage, status: Status) -> Status {
        if !self.negotiated.contains(stage.flag()) {
            return status;
        }
        if !matches!(status, Status::Continue | Status::Noreply) && self.deferred.is_none() {
            self.deferred = Some(status);
        }
        Status::Noreply
    }

    /// A verdict kept from a no-reply stage, to be sent now.
    pub fn take_deferred(&mut self) -> Option<Status> {
        self.deferred.take()
    }

    /// Forgets a kept verdict (the MTA aborted the message).
    pub fn clear(&mut self) {
        self.deferred = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_offered_stages_are_requested() {
        let offered = ProtoOpts::NOREPLY_HEADER | ProtoOpts::NOREPLY_BODY;
        assert_eq!(requested(offered), ProtoOpts::NOREPLY_HEADER);
        assert_eq!(requested(ProtoOpts::empty()), ProtoOpts::empty());
    }

    #[test]
    fn a_verdict_at_a_no_reply_stage_waits_for_the_next_reply() {
        let mut r = Replies::new(ProtoOpts::NOREPLY_HEADER);
        assert_eq!(r.answer(Stage::Header, Status::Continue), Status::Noreply);
        assert_eq!(r.take_deferred(), None);
        assert_eq!(r.answer(Stage::Header, Status::Tempfail), Status::Noreply);
        assert_eq!(r.answer(Stage::Header, Status::Reject), Status::Noreply);
        assert_eq!(r.take_deferred(), Some(Status::Tempfail));
        assert_eq!(r.take_deferred(), None);
    }

    #[test]
    fn stages_not_negotiated_answer_at_once() {
        let mut r = Replies::new(ProtoOpts::NOREPLY_HEADER);
        assert_eq!(r.answer(Stage::Rcpt, Status::Reject), Status::Reject);
        assert_eq!(r.take_deferred(), None);
        assert_eq!(pass(ProtoOpts::empty(), Stage::Header), Status::Continue);
        assert_eq!(pass(NO_REPLY_STAGES, Stage::Data), Status::Noreply);
    }

    #[test]
    fn an_abort_forgets_the_verdict() {
        let mut r = Replies::new(NO_REPLY_STAGES);
        r.answer(Stage::Rcpt, Status::Tempfail);
        r.clear();
        assert_eq!(r.take_deferred(), None);
    }
}
