//! HTML text extraction (being written).

/// Streaming HTML-to-text: feed chunks split anywhere, then `finish`.
#[derive(Debug, Default)]
pub struct HtmlText {
    _state: (),
}

impl HtmlText {
    pub fn new() -> HtmlText {
        HtmlText::default()
    }

    /// Feeds the next chunk; text found so far is passed to `out`.
    pub fn feed(&mut self, chunk: &str, out: &mut dyn FnMut(&str)) {
        out(chunk);
    }

    /// Flushes whatever the last chunk left pending.
    pub fn finish(&mut self, out: &mut dyn FnMut(&str)) {
        let _ = out;
    }
}
