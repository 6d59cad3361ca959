//! The message as kept for authentication: the header block re-folded with CRLF,
//! then the body as the MTA's chunks (shared, not copied).

use bytes::Bytes;
use std::borrow::Cow;

/// Header block (ending with the blank line) and body chunks of one message.
#[derive(Clone, Copy, Debug)]
pub struct RawParts<'a> {
    pub head: &'a [u8],
    pub body: &'a [Bytes],
}

impl<'a> RawParts<'a> {
    /// A message held in one slice (tests, benches, offline tools).
    pub fn whole(raw: &'a [u8]) -> RawParts<'a> {
        RawParts {
            head: raw,
            body: &[],
        }
    }

    /// Every byte in order, without copying.
    pub fn chunks(&self) -> impl Iterator<Item = &'a [u8]> + Clone + 'a {
        let body = self.body;
        std::iter::once(self.head).chain(body.iter().map(|b| &b[..]))
    }

    /// One contiguous copy, for the parsers that need one (made once, at end of
    /// message); borrowed when there is no body chunk.
    pub fn contiguous(&self) -> Cow<'a, [u8]> {
        if self.body.is_empty() {
            return Cow::Borrowed(self.head);
        }
        let len = self.head.len() + self.body.iter().map(Bytes::len).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        self.chunks().for_each(|c| out.extend_from_slice(c));
        Cow::Owned(out)
    }
}
