//! The streaming MIME walker.
//!
//! Bytes arrive in chunks of any size. The walker keeps the state needed to resume
//! anywhere: the mode (part headers, part body, rest of a boundary line), at most one
//! partial line that may still turn out to be a boundary delimiter, and the line break
//! before it (which belongs to the delimiter, RFC 2046 5.1.1). Everything else is
//! passed through in large slices: boundary candidates are found with one `memmem`
//! search for `\n--`, so a part's content costs one SIMD pass plus its decoding.

use super::boundary::{Frame, LineStart, MAX_PADDING, classify};
use super::charset::{self, CharsetChoice, TextDecoder};
use super::leaf::{Leaf, LeafOutput, TransferEncoding};
use super::{ContentSink, MimeAnomaly, PartInfo, Section};
use memchr::memmem;

mod headers;

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

/// Boundaries longer than this are refused (RFC 2046 allows 70): it bounds the bytes
/// held back at a line start and the work per boundary candidate.
const MAX_BOUNDARY: usize = 256;

/// An entity whose headers are being read.
#[derive(Debug, Default)]
struct Entity {
    info: PartInfo,
    /// The top-level message (headers reported with `part: None`).
    top: bool,
    encoding: TransferEncoding,
    boundary: Option<Vec<u8>>,
    /// `filename` from Content-Disposition, `name` from Content-Type (the fallback).
    disposition_filename: Option<String>,
    type_name: Option<String>,
    header_too_long: bool,
}

impl Entity {
    fn new(index: u32, depth: u32, default_type: &str) -> Self {
        Entity {
            info: PartInfo {
                index,
                depth,
                content_type: default_type.to_string(),
                ..PartInfo::default()
            },
            ..Entity::default()
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Top-level headers arrive through [`MimeWalker::header`].
    TopHeaders,
    /// Headers of a part (or of an embedded message) inside the body.
    Headers,
    /// Content: delivered to the current leaf, or ignored (preamble, epilogue).
    Body,
    /// The rest of a boundary line, then the given mode.
    SkipLine(After),
    Finished,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum After {
    Headers,
    Body,
}

/// Walks one message: top-level headers, then body chunks as they arrive.
///
/// `part_start` / `part_end` bracket each leaf part (the entities whose content is
/// delivered); multipart containers and embedded-message wrappers get no brackets.
/// Preambles and epilogues with more than blank lines are delivered as parts of
/// their own (see [`Section`]).
pub struct MimeWalker {
    limits: MimeLimits,
    /// Text parts are charset-converted and delivered through `text`; when `false`
    /// every leaf is delivered as transfer-decoded bytes through `binary` (the
    /// consumer types the content itself, see `extract::router`).
    decode_text: bool,
    mode: Mode,
    /// The entity whose headers are being read (top-level or part).
    entity: Entity,
    stack: Vec<Frame>,
    out: LeafOutput,
    parts_seen: u32,
    /// The next body byte starts a line.
    at_line_start: bool,
    /// The line break before a possible delimiter, delivered once the next line is
    /// known not to be one.
    pending_eol: [u8; 2],
    pending_eol_len: usize,
    /// The start of a line that may be a delimiter (bounded by MAX_BOUNDARY + MAX_PADDING).
    line_buf: Vec<u8>,
    /// A part header line being collected (bounded by `max_header_line`).
    header_line: Vec<u8>,
    /// The last complete part header, waiting for continuation lines.
    current_header: Option<(String, Vec<u8>)>,
    delimiter_finder: memmem::Finder<'static>,
}

impl MimeWalker {
    pub fn new(limits: MimeLimits) -> Self {
        let mut entity = Entity::new(0, 0, "text/plain");
        entity.top = true;
        MimeWalker {
            limits,
            decode_text: true,
            mode: Mode::TopHeaders,
            entity,
            stack: Vec::new(),
            out: LeafOutput::default(),
            parts_seen: 0,
            at_line_start: true,
            pending_eol: [0; 2],
            pending_eol_len: 0,
            line_buf: Vec::new(),
            header_line: Vec::new(),
            current_header: None,
            delimiter_finder: memmem::Finder::new(b"\n--"),
        }
    }

    /// Delivers every leaf as transfer-decoded bytes through [`ContentSink::binary`],
    /// whatever its declared type; [`PartInfo::is_text`] still says what the label
    /// claims and `charset` what it declares.
    pub fn bytes_only(mut self) -> Self {
        self.decode_text = false;
        self
    }

    /// One top-level header, raw value as the MTA gives it.
    pub fn header(&mut self, name: &str, raw_value: &[u8], sink: &mut dyn ContentSink) {
        if self.mode != Mode::TopHeaders {
            return;
        }
        let value = self.bounded_value(raw_value, sink);
        self.entity_header(name, value, sink);
    }

    pub fn end_of_headers(&mut self, sink: &mut dyn ContentSink) {
        if self.mode == Mode::TopHeaders {
            self.begin_body(sink);
        }
    }

    /// The current entity's headers are complete: open a multipart, an embedded
    /// message, or a leaf.
    fn begin_body(&mut self, sink: &mut dyn ContentSink) {
        let mut e = std::mem::take(&mut self.entity);
        self.at_line_start = true;
        self.mode = Mode::Body;
        let ct = e.info.content_type.as_str();
        let mut force_text = false;
        if ct.starts_with("multipart/") {
            match e.boundary.take() {
                None => {
                    sink.anomaly(&MimeAnomaly::MissingBoundary { part: e.info.index });
                    force_text = true;
                }
                Some(_) if e.info.depth >= self.limits.max_depth => {
                    sink.anomaly(&MimeAnomaly::DepthExceeded {
                        depth: e.info.depth,
                    });
                    force_text = true;
                }
                Some(boundary) => {
                    let frame = Frame {
                        boundary,
                        index: e.info.index,
                        depth: e.info.depth,
                        digest: ct == "multipart/digest",
                    };
                    let preamble = self.filler(&frame, Section::Preamble, sink);
                    self.out.set_filler(Some(preamble));
                    self.stack.push(frame);
                    return;
                }
            }
        } else if matches!(ct, "message/rfc822" | "message/global")
            && e.encoding == TransferEncoding::Identity
        {
            if e.info.depth >= self.limits.max_depth {
                sink.anomaly(&MimeAnomaly::DepthExceeded {
                    depth: e.info.depth,
                });
                force_text = true;
            } else if self.next_part(e.info.depth + 1, sink) {
                self.entity = Entity::new(self.parts_seen, e.info.depth + 1, "text/plain");
                self.enter_headers();
                return;
            } else {
                return;
            }
        }
        self.start_leaf(e, force_text, sink);
    }

    fn start_leaf(&mut self, e: Entity, force_text: bool, sink: &mut dyn ContentSink) {
        let mut info = e.info;
        info.is_text = force_text || info.content_type.starts_with("text/");
        if force_text {
            info.section = Section::Remainder;
        }
        let leaf = self.leaf(info, e.encoding, sink);
        self.out.start(leaf, sink);
    }

    /// A leaf for `info`, with its charset decoder when text is decoded here.
    fn leaf(&self, info: PartInfo, encoding: TransferEncoding, sink: &mut dyn ContentSink) -> Leaf {
        let choice = charset::choose(info.charset.as_deref());
        if let (CharsetChoice::Unknown, Some(cs)) = (&choice, &info.charset)
            && info.is_text
        {
            sink.anomaly(&MimeAnomaly::UnknownCharset {
                part: info.index,
                charset: cs.clone(),
            });
        }
        let text = (info.is_text && self.decode_text).then(|| TextDecoder::new(&choice));
        Leaf {
            info,
            encoding,
            text,
            bad_base64_reported: false,
        }
    }

    /// Text outside the parts of the multipart `f` (its preamble or epilogue).
    fn filler(&self, f: &Frame, section: Section, sink: &mut dyn ContentSink) -> Leaf {
        let info = PartInfo {
            index: f.index,
            depth: f.depth,
            content_type: "text/plain".into(),
            is_text: true,
            section,
            ..PartInfo::default()
        };
        self.leaf(info, TransferEncoding::Identity, sink)
    }

    /// Counts a new part. Past `max_parts`, boundaries are no longer recognised: the
    /// rest of the message becomes one text part (bounded work), and `false` is returned.
    fn next_part(&mut self, depth: u32, sink: &mut dyn ContentSink) -> bool {
        self.parts_seen += 1;
        if self.parts_seen <= self.limits.max_parts {
            return true;
        }
        sink.anomaly(&MimeAnomaly::TooManyParts {
            limit: self.limits.max_parts,
        });
        self.stack.clear();
        self.mode = Mode::Body;
        let e = Entity::new(self.parts_seen, depth, "text/plain");
        self.start_leaf(e, true, sink);
        false
    }

    fn enter_headers(&mut self) {
        self.mode = Mode::Headers;
        self.header_line.clear();
        self.current_header = None;
    }

    pub fn body(&mut self, chunk: &[u8], sink: &mut dyn ContentSink) {
        if self.mode == Mode::TopHeaders {
            self.begin_body(sink);
        }
        let mut input = chunk;
        while !input.is_empty() {
            input = match self.mode {
                Mode::Headers => self.header_bytes(input, sink),
                Mode::Body => self.body_bytes(input, sink),
                Mode::SkipLine(after) => match memchr::memchr(b'\n', input) {
                    Some(i) => {
                        self.line_done(after);
                        &input[i + 1..]
                    }
                    None => &[],
                },
                Mode::TopHeaders | Mode::Finished => &[],
            };
        }
    }

    /// A boundary line is complete: continue in `after` at a line start.
    fn line_done(&mut self, after: After) {
        self.at_line_start = true;
        match after {
            After::Headers => self.enter_headers(),
            After::Body => self.mode = Mode::Body,
        }
    }

    /// A delimiter of `stack[frame]`: ends the current part, and any multipart opened
    /// inside it that was never closed.
    fn on_boundary(&mut self, frame: usize, close: bool, sink: &mut dyn ContentSink) {
        self.out.end(sink);
        self.pending_eol_len = 0;
        self.line_buf.clear();
        while self.stack.len() > frame + 1 {
            if let Some(f) = self.stack.pop() {
                sink.anomaly(&MimeAnomaly::UnterminatedMultipart { part: f.index });
            }
        }
        if close {
            if let Some(f) = self.stack.pop() {
                let epilogue = self.filler(&f, Section::Epilogue, sink);
                self.out.set_filler(Some(epilogue));
            }
            self.mode = Mode::SkipLine(After::Body);
            return;
        }
        self.out.set_filler(None);
        let (depth, default_type) = match self.stack.last() {
            Some(f) if f.digest => (f.depth + 1, "message/rfc822"),
            Some(f) => (f.depth + 1, "text/plain"),
            None => (1, "text/plain"),
        };
        if self.next_part(depth, sink) {
            self.entity = Entity::new(self.parts_seen, depth, default_type);
            self.mode = Mode::SkipLine(After::Headers);
        } else {
            self.mode = Mode::SkipLine(After::Body);
        }
    }

    /// Content bytes (of a leaf, or of a preamble/epilogue).
    fn body_bytes<'a>(&mut self, input: &'a [u8], sink: &mut dyn ContentSink) -> &'a [u8] {
        if self.stack.is_empty() {
            self.emit(input, sink);
            return &[];
        }
        if self.at_line_start {
            if !self.line_buf.is_empty() || input[0] == b'-' {
                return self.line_start_bytes(input, sink);
            }
            self.at_line_start = false;
        }
        if let Some(p) = self.delimiter_finder.find(input) {
            self.emit_line(&input[..=p], sink);
            return &input[p + 1..];
        }
        let n = input.len();
        if input[n - 1] == b'\n' {
            self.emit_line(input, sink);
        } else if input.ends_with(b"\n-") {
            self.emit_line(&input[..n - 1], sink);
            self.line_buf.push(b'-');
        } else if input[n - 1] == b'\r' {
            self.emit(&input[..n - 1], sink);
            self.pending_eol = [b'\r', 0];
            self.pending_eol_len = 1;
        } else {
            self.emit(input, sink);
        }
        &[]
    }

    /// Bytes at a line start that begins like a delimiter: collected in `line_buf`
    /// until it is known whether the line is one.
    fn line_start_bytes<'a>(&mut self, input: &'a [u8], sink: &mut dyn ContentSink) -> &'a [u8] {
        let longest = self.stack.iter().map(|f| f.boundary.len()).max();
        let need = longest.unwrap_or(0) + 4 + MAX_PADDING;
        let room = need
            .saturating_sub(self.line_buf.len())
            .clamp(1, input.len());
        let take = memchr::memchr(b'\n', &input[..room]).map_or(room, |i| i + 1);
        self.line_buf.extend_from_slice(&input[..take]);
        let rest = &input[take..];
        let complete = self.line_buf.len() >= need;
        match classify(&self.line_buf, &self.stack, complete) {
            LineStart::NeedMore => rest,
            LineStart::Boundary { frame, close } => {
                let ended = self.line_buf.ends_with(b"\n");
                self.on_boundary(frame, close, sink);
                if ended && let Mode::SkipLine(after) = self.mode {
                    self.line_done(after);
                }
                rest
            }
            LineStart::NotBoundary => {
                let line = std::mem::take(&mut self.line_buf);
                self.at_line_start = false;
                self.emit_partial_line(&line, sink);
                self.line_buf = line;
                self.line_buf.clear();
                rest
            }
        }
    }

    /// Content that is not a delimiter, possibly ending in a line break (held back).
    fn emit_partial_line(&mut self, data: &[u8], sink: &mut dyn ContentSink) {
        if data.ends_with(b"\n") {
            self.emit_line(data, sink);
        } else if let Some(body) = data.strip_suffix(b"\r") {
            self.emit(body, sink);
            self.pending_eol = [b'\r', 0];
            self.pending_eol_len = 1;
        } else {
            self.emit(data, sink);
        }
    }

    /// Content ending with `\n`: delivered except the line break, which is held back
    /// because it belongs to the next line if that is a delimiter.
    fn emit_line(&mut self, data: &[u8], sink: &mut dyn ContentSink) {
        let body = &data[..data.len() - 1];
        self.at_line_start = true;
        if body.is_empty() && self.pending_eol_len == 1 && self.pending_eol[0] == b'\r' {
            self.pending_eol = *b"\r\n";
            self.pending_eol_len = 2;
            return;
        }
        match body.strip_suffix(b"\r") {
            Some(body) => {
                self.emit(body, sink);
                self.pending_eol = *b"\r\n";
                self.pending_eol_len = 2;
            }
            None => {
                self.emit(body, sink);
                self.pending_eol = [b'\n', 0];
                self.pending_eol_len = 1;
            }
        }
    }

    /// Content: the held-back line break first, then `data`.
    fn emit(&mut self, data: &[u8], sink: &mut dyn ContentSink) {
        if self.pending_eol_len > 0 {
            let eol = self.pending_eol;
            let n = std::mem::take(&mut self.pending_eol_len);
            self.out.feed(&eol[..n], sink);
        }
        if !data.is_empty() {
            self.out.feed(data, sink);
        }
    }

    pub fn finish(&mut self, sink: &mut dyn ContentSink) {
        if self.mode == Mode::TopHeaders {
            self.begin_body(sink);
        }
        if self.mode == Mode::Headers {
            let line = std::mem::take(&mut self.header_line);
            if !line.is_empty() {
                self.part_header_line(&line, sink);
            }
            if self.mode == Mode::Headers {
                self.flush_header(sink);
                self.begin_body(sink);
            }
        }
        if self.mode == Mode::Body && !self.line_buf.is_empty() {
            let line = std::mem::take(&mut self.line_buf);
            match classify(&line, &self.stack, true) {
                LineStart::Boundary { frame, close } => self.on_boundary(frame, close, sink),
                _ => self.emit(&line, sink),
            }
        }
        if self.mode == Mode::Body {
            self.emit(&[], sink);
        }
        self.out.end(sink);
        while let Some(f) = self.stack.pop() {
            sink.anomaly(&MimeAnomaly::UnterminatedMultipart { part: f.index });
        }
        self.mode = Mode::Finished;
    }
}
