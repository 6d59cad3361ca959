//! DKIM and ARC body hashes computed while the body streams in, so inbound mail
//! need not be kept whole until end of message.
//!
//! mail-auth computes the body hashes when it parses a message, over one contiguous
//! copy. Its `BodyHasher` is the incremental form of the same canonicalization (the
//! same state machine, `l=` counted on the body as received), so hashing chunk by
//! chunk and handing the results to a parse of the header block alone gives mail-auth
//! exactly what a parse of the whole message would.

use mail_auth::AuthenticatedMessage;
use mail_auth::common::crypto::{HashAlgorithm, HashContext, HashImpl, Sha1, Sha256};
use mail_auth::dkim::Canonicalization;
use mail_auth::dkim::canonicalize::BodyHasher;

/// One body hash a signature asks for: canonicalization, hash, `l=` (0: whole body).
type Spec = (Canonicalization, HashAlgorithm, u64);

enum Running {
    Sha1(BodyHasher<<Sha1 as HashImpl>::Context>),
    Sha256(BodyHasher<<Sha256 as HashImpl>::Context>),
}

impl Running {
    fn new((cb, ha, l): Spec) -> Running {
        match ha {
            HashAlgorithm::Sha1 => Running::Sha1(BodyHasher::new(Sha1::hasher(), cb, l)),
            HashAlgorithm::Sha256 => Running::Sha256(BodyHasher::new(Sha256::hasher(), cb, l)),
        }
    }

    fn write(&mut self, chunk: &[u8]) {
        match self {
            Running::Sha1(h) => h.write(chunk),
            Running::Sha256(h) => h.write(chunk),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Running::Sha1(h) => h.finish().0.complete().as_ref().to_vec(),
            Running::Sha256(h) => h.finish().0.complete().as_ref().to_vec(),
        }
    }
}

/// The body hashes of one message's DKIM and ARC signatures, fed chunk by chunk.
pub struct BodyHashes {
    running: Vec<(Spec, Running)>,
}

impl BodyHashes {
    /// The hashes the signatures of `head` (a parsed header block) ask for.
    pub fn for_message(head: &AuthenticatedMessage<'_>) -> BodyHashes {
        BodyHashes {
            running: head
                .body_hashes
                .iter()
                .map(|&(cb, ha, l, _)| ((cb, ha, l), Running::new((cb, ha, l))))
                .collect(),
        }
    }

    /// The next body bytes, as received.
    pub fn write(&mut self, chunk: &[u8]) {
        self.running.iter_mut().for_each(|(_, h)| h.write(chunk));
    }

    /// Puts the finished hashes into `msg`, a parse of the same header block as the
    /// one given to [`BodyHashes::for_message`] (so it asks for the same hashes).
    pub fn finish_into(self, msg: &mut AuthenticatedMessage<'_>) {
        for (spec, running) in self.running {
            let hash = running.finish();
            if let Some(slot) = msg
                .body_hashes
                .iter_mut()
                .find(|(cb, ha, l, _)| (*cb, *ha, *l) == spec)
            {
                slot.3 = hash;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the chunking, the streamed hashes are the ones mail-auth computes
    /// over the whole message (simple and relaxed, sha1 and sha256, with and
    /// without `l=`, trailing blank lines and whitespace).
    #[test]
    fn streamed_hashes_equal_whole_message_hashes() {
        let head = "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=a.test; s=s; h=from; bh=AAAA; b=AAAA\r\n\
            DKIM-Signature: v=1; a=rsa-sha1; c=simple/simple; d=a.test; s=s; h=from; bh=AAAA; b=AAAA\r\n\
            DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=a.test; s=t; l=7; h=from; bh=AAAA; b=AAAA\r\n\
            From: a@a.test\r\n\r\n";
        let body = "Hello  \t world \r\n\r\nline two\t\r\n \r\n\r\n\r\n";
        let whole = format!("{head}{body}");
        let expected = AuthenticatedMessage::parse_with_opts(whole.as_bytes(), None, false)
            .map(|m| m.body_hashes)
            .unwrap_or_default();
        assert_eq!(expected.len(), 3);
        for size in 1..=body.len() {
            let parsed = AuthenticatedMessage::parse_with_opts(head.as_bytes(), None, false);
            let mut msg = parsed.unwrap_or_default();
            assert_eq!(msg.body_offset as usize, head.len());
            let mut hashes = BodyHashes::for_message(&msg);
            body.as_bytes().chunks(size).for_each(|c| hashes.write(c));
            hashes.finish_into(&mut msg);
            assert_eq!(msg.body_hashes, expected, "chunk size {size}");
        }
    }
}
