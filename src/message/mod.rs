//! The streaming message layer: header decoding, the MIME walker, transfer decoders
//! and charset conversion. It knows nothing about rules: it turns the bytes the MTA
//! sends into decoded text (and attachment bytes) pushed to a [`ContentSink`].

mod boundary;
pub mod charset;
pub mod decode;
pub mod header;
mod leaf;
pub mod mime;

pub use mime::{MimeLimits, MimeWalker};

/// One MIME part (or the whole body of a single-part message).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartInfo {
    /// 0 for the top-level entity, then in order of appearance.
    pub index: u32,
    /// Multipart nesting depth: 0 for the top-level entity.
    pub depth: u32,
    /// Lower-case media type, e.g. `text/plain`; `text/plain` when absent (RFC 2045).
    pub content_type: String,
    /// Declared charset, lower-case, when the part has one.
    pub charset: Option<String>,
    /// File name from `Content-Disposition: filename` or `Content-Type: name`, decoded.
    pub filename: Option<String>,
    /// `attachment` / `inline`, lower-case, when declared.
    pub disposition: Option<String>,
    /// Whether this part's content is delivered as UTF-8 text (via [`ContentSink::text`])
    /// rather than as bytes (via [`ContentSink::binary`]).
    pub is_text: bool,
    /// Which content of the entity this is: its body, or text around or past the
    /// parts of a multipart.
    pub section: Section,
    /// For text extracted from inside this part (an archive member, a PDF's text, a
    /// base64 run found in raw text): where it came from, e.g. `docs.zip/a.docx`.
    /// `None` for the part's own content as the walker delivers it.
    pub member: Option<String>,
}

/// Where the content of a delivered part sits in its entity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Section {
    /// The content of a leaf part (or of a single-part message).
    #[default]
    Body,
    /// Text before the first delimiter of a multipart (`index` is the multipart's).
    Preamble,
    /// Text after the closing delimiter of a multipart (`index` is the multipart's).
    Epilogue,
    /// The raw rest of an entity past a structure limit (depth, part count, missing
    /// boundary): undecoded, delivered as text so that nothing is hidden by the limit.
    Remainder,
}

impl Section {
    /// Text around or past the parts: raw bytes that may hold encoded content.
    pub fn is_raw(self) -> bool {
        self != Section::Body
    }
}

impl PartInfo {
    pub fn is_attachment(&self) -> bool {
        self.filename.is_some() || self.disposition.as_deref() == Some("attachment")
    }
}

/// Something wrong with the structure or encoding of a message. The walker keeps
/// going after every anomaly (nothing is lost); policy decides what each one means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MimeAnomaly {
    /// Multipart nesting deeper than the configured limit; the entity over the limit
    /// is delivered raw as one [`Section::Remainder`] part.
    DepthExceeded { depth: u32 },
    /// More parts than the configured limit; the rest of the message is delivered raw
    /// as one [`Section::Remainder`] part.
    TooManyParts { limit: u32 },
    /// A multipart entity without a usable boundary parameter.
    MissingBoundary { part: u32 },
    /// The message ended inside a multipart entity (no closing `--boundary--`).
    UnterminatedMultipart { part: u32 },
    /// Characters outside the base64 alphabet, or bad padding, in a base64 part.
    BadBase64 { part: u32 },
    /// A header line longer than the configured limit (the rest is not decoded).
    HeaderTooLong { part: u32 },
    /// An unknown charset: the part is decoded as UTF-8 with replacement characters.
    UnknownCharset { part: u32, charset: String },
}

impl MimeAnomaly {
    /// A stable short name, used in rule ids (`content.<name>`) and metrics labels.
    pub fn name(&self) -> &'static str {
        match self {
            MimeAnomaly::DepthExceeded { .. } => "mime_depth",
            MimeAnomaly::TooManyParts { .. } => "mime_parts",
            MimeAnomaly::MissingBoundary { .. } => "mime_boundary",
            MimeAnomaly::UnterminatedMultipart { .. } => "mime_unterminated",
            MimeAnomaly::BadBase64 { .. } => "bad_base64",
            MimeAnomaly::HeaderTooLong { .. } => "header_too_long",
            MimeAnomaly::UnknownCharset { .. } => "unknown_charset",
        }
    }
}

/// Receives decoded content as the walker produces it. Every method has an empty
/// default so a consumer implements only what it reads.
///
/// Chunking contract: `text` and `binary` may be called many times per part with
/// arbitrary chunk sizes (a text chunk always holds whole UTF-8 characters); the
/// concatenation of the chunks is exactly the decoded content of the part, whatever
/// the MTA's chunking.
///
/// Part brackets: `part_start` / `part_end` enclose the content of every leaf part
/// (including the top-level entity of a single-part message). Multipart containers and
/// the wrapper of an embedded `message/rfc822` get no brackets (their headers are still
/// reported); a preamble or epilogue that holds more than blank lines is delivered as
/// a part of its own ([`Section::Preamble`] / [`Section::Epilogue`], with the
/// multipart's index). Scanners reset their chunk-overlap state at both brackets, so
/// a match never spans two parts.
pub trait ContentSink {
    /// A header of the top-level message (`part` is `None`) or of a MIME part:
    /// unfolded, RFC 2047 encoded words decoded, converted to UTF-8.
    fn header(&mut self, _part: Option<&PartInfo>, _name: &str, _value: &str) {}
    fn part_start(&mut self, _part: &PartInfo) {}
    fn text(&mut self, _part: &PartInfo, _text: &str) {}
    fn binary(&mut self, _part: &PartInfo, _data: &[u8]) {}
    fn part_end(&mut self, _part: &PartInfo) {}
    fn anomaly(&mut self, _anomaly: &MimeAnomaly) {}
}
