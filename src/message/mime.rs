//! The streaming MIME walker.

use super::ContentSink;

/// Bounds on structure, so hostile input costs bounded work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MimeLimits {
    pub max_depth: u32,
    pub max_parts: u32,
    pub max_header_line: usize,
}

impl Default for MimeLimits {
    fn default() -> Self {
        MimeLimits {
            max_depth: 20,
            max_parts: 1000,
            max_header_line: 64 * 1024,
        }
    }
}

/// Walks one message: top-level headers, then body chunks as they arrive.
pub struct MimeWalker {
    limits: MimeLimits,
}

impl MimeWalker {
    pub fn new(limits: MimeLimits) -> Self {
        MimeWalker { limits }
    }

    /// One top-level header, raw value as the MTA gives it.
    pub fn header(&mut self, name: &str, raw_value: &[u8], sink: &mut dyn ContentSink) {
        let _ = (name, raw_value, sink, self.limits);
        todo!("message layer helper")
    }

    pub fn end_of_headers(&mut self, sink: &mut dyn ContentSink) {
        let _ = sink;
        todo!("message layer helper")
    }

    pub fn body(&mut self, chunk: &[u8], sink: &mut dyn ContentSink) {
        let _ = (chunk, sink);
        todo!("message layer helper")
    }

    pub fn finish(&mut self, sink: &mut dyn ContentSink) {
        let _ = sink;
        todo!("message layer helper")
    }
}
