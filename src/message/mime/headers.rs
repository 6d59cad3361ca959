//! Header blocks of the entities the walker opens: collected line by line (each
//! line bounded by `max_header_line`, the overflow delivered raw), decoded, and
//! turned into what the entity is (type, charset, boundary, file name).

use super::super::boundary::{LineStart, classify};
use super::super::header::{decode_value, parse_params, split_header_line};
use super::super::leaf::TransferEncoding;
use super::super::{ContentSink, MimeAnomaly, PartInfo, Section};
use super::{MAX_BOUNDARY, MimeWalker, Mode};

impl MimeWalker {
    /// The value cut at `max_header_line`, with the anomaly reported once per entity.
    pub(super) fn bounded_value<'a>(
        &mut self,
        raw: &'a [u8],
        sink: &mut dyn ContentSink,
    ) -> &'a [u8] {
        let max = self.limits.max_header_line;
        if raw.len() <= max {
            return raw;
        }
        self.header_too_long(sink);
        self.header_overflow(&raw[max..], sink);
        &raw[..max]
    }

    /// Header bytes past `max_header_line` are not decoded, but a limit must not
    /// hide content: they are delivered raw as a [`Section::Remainder`] part.
    pub(super) fn header_overflow(&mut self, bytes: &[u8], sink: &mut dyn ContentSink) {
        if bytes.is_empty() {
            return;
        }
        let info = PartInfo {
            index: self.entity.info.index,
            depth: self.entity.info.depth,
            content_type: "text/plain".into(),
            is_text: true,
            section: Section::Remainder,
            ..PartInfo::default()
        };
        let leaf = self.leaf(info, TransferEncoding::Identity, sink);
        self.out.start(leaf, sink);
        self.out.feed(bytes, sink);
        self.out.end(sink);
    }

    pub(super) fn header_too_long(&mut self, sink: &mut dyn ContentSink) {
        if !self.entity.header_too_long {
            self.entity.header_too_long = true;
            sink.anomaly(&MimeAnomaly::HeaderTooLong {
                part: self.entity.info.index,
            });
        }
    }

    /// Records what the entity's MIME headers say, then reports the header.
    pub(super) fn entity_header(&mut self, name: &str, raw: &[u8], sink: &mut dyn ContentSink) {
        let e = &mut self.entity;
        let mut value = None;
        if name.eq_ignore_ascii_case("content-type") {
            let p = parse_params(raw);
            value = Some(p.to_string());
            if !p.value.is_empty() {
                e.info.content_type = p.value.clone();
            }
            e.info.charset = p.get("charset").map(|c| c.trim().to_ascii_lowercase());
            e.boundary = p
                .get("boundary")
                .filter(|b| !b.is_empty() && b.len() <= MAX_BOUNDARY)
                .map(|b| b.as_bytes().to_vec());
            e.type_name = p.get("name").map(str::to_string);
        } else if name.eq_ignore_ascii_case("content-transfer-encoding") {
            e.encoding = match decode_value(raw).to_ascii_lowercase().as_str() {
                "base64" => TransferEncoding::Base64,
                "quoted-printable" => TransferEncoding::QuotedPrintable,
                _ => TransferEncoding::Identity,
            };
        } else if name.eq_ignore_ascii_case("content-disposition") {
            let p = parse_params(raw);
            value = Some(p.to_string());
            e.info.disposition = Some(p.value.clone()).filter(|d| !d.is_empty());
            e.disposition_filename = p.get("filename").map(str::to_string);
        }
        if value.is_some() {
            // Content-Type or Content-Disposition: the file name may have changed.
            e.info.filename = e
                .disposition_filename
                .clone()
                .or_else(|| e.type_name.clone())
                .filter(|f| !f.is_empty());
        }
        // Parameters are reported decoded (RFC 2231 and 2047), so a file name is read
        // as the recipient sees it.
        let value = value.unwrap_or_else(|| decode_value(raw));
        let part = (!e.top).then_some(&e.info);
        sink.header(part, name, &value);
    }

    /// Part header bytes: collected line by line, each line bounded.
    pub(super) fn header_bytes<'a>(
        &mut self,
        input: &'a [u8],
        sink: &mut dyn ContentSink,
    ) -> &'a [u8] {
        let (line, rest, complete) = match memchr::memchr(b'\n', input) {
            Some(i) => (&input[..=i], &input[i + 1..], true),
            None => (input, &input[input.len()..], false),
        };
        let room = self
            .limits
            .max_header_line
            .saturating_sub(self.header_line.len());
        if line.len() > room {
            self.header_too_long(sink);
            self.header_line.extend_from_slice(&line[..room]);
            self.header_overflow(&line[room..], sink);
        } else {
            self.header_line.extend_from_slice(line);
        }
        if complete {
            let line = std::mem::take(&mut self.header_line);
            self.part_header_line(&line, sink);
            self.header_line = line;
            self.header_line.clear();
        }
        rest
    }

    /// One complete line in a part's header block.
    pub(super) fn part_header_line(&mut self, line: &[u8], sink: &mut dyn ContentSink) {
        if let LineStart::Boundary { frame, close } = classify(line, &self.stack, true) {
            self.flush_header(sink);
            self.on_boundary(frame, close, sink);
            if let Mode::SkipLine(after) = self.mode {
                self.line_done(after);
            }
            return;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            self.flush_header(sink);
            self.begin_body(sink);
            return;
        }
        if text[0] == b' ' || text[0] == b'\t' {
            let max = self.limits.max_header_line;
            let mut overflow: &[u8] = &[];
            if let Some((_, value)) = &mut self.current_header {
                let room = max.saturating_sub(value.len() + 1).min(text.len());
                overflow = &text[room..];
                value.push(b'\n');
                value.extend_from_slice(&text[..room]);
            }
            if !overflow.is_empty() {
                self.header_too_long(sink);
                self.header_overflow(overflow, sink);
            }
            return;
        }
        if let Some((name, value)) = split_header_line(text) {
            let header = (name.to_string(), value.to_vec());
            self.flush_header(sink);
            self.current_header = Some(header);
            return;
        }
        // Not a header: as Postfix does, the body starts with this line.
        self.flush_header(sink);
        self.begin_body(sink);
        self.body(line, sink);
    }

    pub(super) fn flush_header(&mut self, sink: &mut dyn ContentSink) {
        if let Some((name, value)) = self.current_header.take() {
            self.entity_header(&name, &value, sink);
        }
    }
}
