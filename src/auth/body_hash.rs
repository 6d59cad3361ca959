//! DKIM and ARC body hashes computed while the body streams in, so inbound mail
//! need not be kept whole until end of message.
//!
//! mail-auth computes the body hashes when it parses a message, over one contiguous
//! copy. Its `BodyHasher` is the incremental form of the same canonicalization (the
//! same state machine, `l=` counted on the body as received), so hashing chunk by
//! chunk and handing the results to a parse of the header block alone gives mail-auth
//! exactly what a parse of the whole message would. Relaxed canonicalization is our
//! own faster equivalent ([`RelaxedBody`]), simple is mail-auth's.

use super::relaxed::RelaxedBody;
use mail_auth::AuthenticatedMessage;
use mail_auth::common::crypto::{HashAlgorithm, HashContext, HashImpl, Sha1, Sha256};
use mail_auth::dkim::Canonicalization;
use mail_auth::dkim::canonicalize::BodyHasher;

/// One body hash a signature asks for: canonicalization, hash, `l=` (0: whole body).
type Spec = (Canonicalization, HashAlgorithm, u64);

/// One canonicalization feeding one hash.
enum Canon<H> {
    Simple(BodyHasher<H>),
    Relaxed(RelaxedBody<H>),
}

impl<H: HashContext> Canon<H> {
    fn new(hasher: H, cb: Canonicalization, l: u64) -> Canon<H> {
        match cb {
            Canonicalization::Simple => Canon::Simple(BodyHasher::new(hasher, cb, l)),
            Canonicalization::Relaxed => Canon::Relaxed(RelaxedBody::new(hasher, l)),
        }
    }

    fn write(&mut self, chunk: &[u8]) {
        match self {
            Canon::Simple(h) => h.write(chunk),
            Canon::Relaxed(h) => h.write(chunk),
        }
    }

    fn finish(self) -> Vec<u8> {
        let hasher = match self {
            Canon::Simple(h) => h.finish().0,
            Canon::Relaxed(h) => h.finish(),
        };
        hasher.complete().as_ref().to_vec()
    }
}

enum Running {
    Sha1(Canon<<Sha1 as HashImpl>::Context>),
    Sha256(Canon<<Sha256 as HashImpl>::Context>),
}

impl Running {
    fn new((cb, ha, l): Spec) -> Running {
        match ha {
            HashAlgorithm::Sha1 => Running::Sha1(Canon::new(Sha1::hasher(), cb, l)),
            HashAlgorithm::Sha256 => Running::Sha256(Canon::new(Sha256::hasher(), cb, l)),
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
            Running::Sha1(h) => h.finish(),
            Running::Sha256(h) => h.finish(),
        }
    }
}

self_cell::self_cell!(
    /// A copy of the header block with mail-auth's parse of it, made at end of
    /// headers and used again at end of message.
    pub struct ParsedHead {
        owner: Box<[u8]>,
        #[covariant]
        dependent: AuthenticatedMessage,
    }
);

impl ParsedHead {
    /// mail-auth's parse of `head` (the header block as kept, blank line included),
    /// when it ends where ours does: then a parse of the whole message finds the same
    /// headers and signatures, and the body is what follows.
    pub fn of(head: &[u8]) -> Option<ParsedHead> {
        ParsedHead::try_new(head.into(), |h| match AuthenticatedMessage::parse(h) {
            Some(msg) if msg.body_offset as usize == h.len() => Ok(msg),
            _ => Err(()),
        })
        .ok()
    }
}

/// The body hashes of one message's DKIM and ARC signatures, fed chunk by chunk.
pub struct BodyHashes {
    running: Vec<(Spec, Running)>,
}

impl BodyHashes {
    /// The hashes the signatures of `head` (a parsed header block) ask for.
    pub fn for_message(head: &AuthenticatedMessage<'_>) -> BodyHashes {
        BodyHashes::for_specs(head.body_hashes.iter().map(|&(cb, ha, l, _)| (cb, ha, l)))
    }

    fn for_specs(specs: impl Iterator<Item = Spec>) -> BodyHashes {
        BodyHashes {
            running: specs.map(|spec| (spec, Running::new(spec))).collect(),
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

/// The relaxed/sha256 body hash an outbound signature carries (every configured key
/// signs with `c=relaxed/relaxed` and a SHA-256 based algorithm), fed chunk by chunk
/// as the body streams in, so end of message need not read the body again.
pub struct SigningBodyHash {
    running: Running,
    /// Body bytes as received (what mail-auth puts in `l=` when asked to).
    len: u64,
}

impl Default for SigningBodyHash {
    fn default() -> Self {
        SigningBodyHash {
            running: Running::new((Canonicalization::Relaxed, HashAlgorithm::Sha256, 0)),
            len: 0,
        }
    }
}

impl SigningBodyHash {
    /// The next body bytes, as received.
    pub fn write(&mut self, chunk: &[u8]) {
        self.len += chunk.len() as u64;
        self.running.write(chunk);
    }

    /// The hash and the body length.
    pub fn finish(self) -> (Vec<u8>, u64) {
        (self.running.finish(), self.len)
    }
}

#[cfg(test)]
pub(super) mod tests {
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

    /// A small deterministic generator (xorshift), so failures reproduce.
    pub(crate) struct Gen(pub(crate) u64);

    impl Gen {
        pub(crate) fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }

        /// A body of pieces the canonicalizations treat differently: text, single
        /// and repeated spaces and tabs, CRLF, bare CR and LF, other control bytes,
        /// UTF-8 and high bytes; long text stretches so 8-byte steps are taken.
        pub(crate) fn body(&mut self) -> Vec<u8> {
            const PIECES: [&[u8]; 14] = [
                b"a",
                b"word",
                b"The quick brown fox jumps",
                b" ",
                b"  ",
                b"\t",
                b" \t ",
                b"\r\n",
                b"\r\n\r\n",
                b"\r",
                b"\n",
                b"\x00\x0b",
                "caf\u{e9} \u{2014}".as_bytes(),
                b"\xff\x80\xa0",
            ];
            let mut body = Vec::new();
            for _ in 0..self.below(40) {
                body.extend_from_slice(PIECES[self.below(PIECES.len())]);
            }
            body
        }

        /// `len` split at random points (empty chunks included).
        pub(crate) fn cuts(&mut self, len: usize) -> Vec<usize> {
            let mut cuts: Vec<usize> = (0..self.below(6)).map(|_| self.below(len + 1)).collect();
            cuts.sort_unstable();
            cuts
        }
    }

    fn streamed(spec: Spec, chunks: &[&[u8]]) -> Vec<u8> {
        let mut h = BodyHashes::for_specs(std::iter::once(spec));
        chunks.iter().for_each(|c| h.write(c));
        h.running.pop().map(|(_, r)| r.finish()).unwrap_or_default()
    }

    /// Property: over many generated bodies, for every canonicalization, hash and
    /// `l=`, and every chunking (all fixed sizes, random cuts), the streamed hash is
    /// the one mail-auth computes over the whole body.
    #[test]
    fn streamed_hashes_equal_mail_auths_over_generated_bodies() {
        let mut g = Gen(0x5eed_1234_abcd_ef01);
        for round in 0..400 {
            let body = g.body();
            let len = body.len();
            for cb in [Canonicalization::Relaxed, Canonicalization::Simple] {
                for ha in [HashAlgorithm::Sha256, HashAlgorithm::Sha1] {
                    for l in [0, 1, 5, len as u64 / 2, len as u64, len as u64 + 3] {
                        let expected = ha.hash(cb.canonical_body(&body, l));
                        let expected = expected.as_ref();
                        let spec = (cb, ha, l);
                        for size in 1..=len.max(1) {
                            let chunks: Vec<&[u8]> = body.chunks(size).collect();
                            assert_eq!(
                                streamed(spec, &chunks),
                                expected,
                                "{round} {spec:?} {size}"
                            );
                        }
                        let mut chunks = Vec::new();
                        let mut at = 0;
                        for cut in g.cuts(len) {
                            chunks.push(&body[at..cut]);
                            at = cut;
                        }
                        chunks.push(&body[at..]);
                        assert_eq!(
                            streamed(spec, &chunks),
                            expected,
                            "{round} {spec:?} {chunks:?}"
                        );
                    }
                }
            }
        }
    }
}
