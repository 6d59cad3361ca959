//! The content router: sits between the MIME walker (in bytes-only mode) and the
//! scanners' fan-out. Every leaf part, preamble, epilogue and archive member is
//! typed by its content ([`sniff`]); text reaches the scanners as text whatever its
//! label, containers are opened and their text delivered as parts of their own
//! (`PartInfo::member` names where it came from), and whatever cannot be read is
//! recorded with its reason for `content.uninspectable`.

use super::encoded::EncodedRuns;
use super::gzip;
use super::html::HtmlText;
use super::sniff::{self, Kind, SNIFF_BYTES};
use super::xml::XmlText;
use super::zip::{ArchiveLimits, ZipMembers};
use super::{Budget, Uninspectable, formats};
use crate::config::content::ContentConfig;
use crate::message::charset::{self, CharsetChoice, TextDecoder};
use crate::message::header::parse_params;
use crate::message::{ContentSink, MimeAnomaly, PartInfo, Section};
use encoding_rs::{Encoding, UTF_8};
use std::sync::Arc;

/// Text is handed to the scanners in pieces of at most this many bytes.
const TEXT_CHUNK: usize = 64 * 1024;
/// Reasons kept per message (the rest are counted).
const MAX_PROBLEMS: usize = 20;

/// One message's routing state.
pub struct Router {
    cfg: Arc<ContentConfig>,
    budget: Budget,
    part: Option<Part>,
    /// The first bytes of the current part while it is [`Route::Sniff`] and they
    /// arrived in pieces (reused from part to part).
    head: Vec<u8>,
    /// `(part index, smime-type)` from an `application/pkcs7-mime` Content-Type.
    smime: Option<(u32, String)>,
    problems: Vec<String>,
    more_problems: usize,
    /// Containers whose part has ended, opened by [`Router::finish`]: opening one
    /// can take seconds (a large archive or PDF), so it waits for the end of the
    /// message, which the milter runs off its async workers (`milter::offload`).
    held: Vec<Held>,
}

/// A container part, whole, waiting for the end of the message.
struct Held {
    kind: Kind,
    info: PartInfo,
    data: Vec<u8>,
}

struct Part {
    info: PartInfo,
    route: Route,
}

enum Route {
    /// Collecting the first bytes (in [`Router::head`]) until there are enough to
    /// type the content.
    Sniff,
    Text(Box<TextRoute>),
    /// A container held whole until the part ends; `over` once past `max_buffer`.
    Buffer {
        kind: Kind,
        data: Vec<u8>,
        over: bool,
    },
    /// Binary of no known kind: only its size matters.
    Binary {
        size: u64,
    },
    Skip,
}

struct TextRoute {
    /// The part as the scanners see it (`is_text` set).
    shown: PartInfo,
    decoder: TextDecoder,
    buf: String,
    /// HTML reduced to its text (tags, comments, scripts dropped, entities decoded).
    html: Option<HtmlText>,
    /// Base64/QP runs in raw text (preamble, epilogue, remainder).
    runs: Option<EncodedRuns>,
}

/// The router and the sink it feeds, as one [`ContentSink`] for the walker.
pub struct Routed<'a> {
    pub router: &'a mut Router,
    pub out: &'a mut dyn ContentSink,
}

impl Router {
    pub fn new(cfg: Arc<ContentConfig>) -> Router {
        let budget = Budget::new(cfg.max_decompressed.0, cfg.max_extract_time.duration());
        Router {
            cfg,
            budget,
            part: None,
            head: Vec::new(),
            smime: None,
            problems: Vec::new(),
            more_problems: 0,
            held: Vec::new(),
        }
    }

    /// Bytes of containers waiting for [`Router::finish`], the one still being
    /// buffered included (its part may only end at the end of the message).
    pub fn held_bytes(&self) -> usize {
        let current = match self.part.as_ref().map(|p| &p.route) {
            Some(Route::Buffer { data, .. }) => data.len(),
            _ => 0,
        };
        current + self.held.iter().map(|h| h.data.len()).sum::<usize>()
    }

    /// End of the message, after the walker's `finish`: opens the containers held
    /// since their parts ended, in order, and delivers their text.
    pub fn finish(&mut self, out: &mut dyn ContentSink) {
        for h in std::mem::take(&mut self.held) {
            let path = h
                .info
                .filename
                .clone()
                .unwrap_or_else(|| h.info.content_type.clone());
            self.open(h.kind, &h.info, &sanitize(&path), &h.data, 0, out);
        }
    }

    /// Why some content could not be read: `part 2 (a.zip): encrypted archive entry`.
    pub fn problems(&self) -> Vec<String> {
        let mut p = self.problems.clone();
        if self.more_problems > 0 {
            p.push(format!("and {} more", self.more_problems));
        }
        p
    }

    fn problem(&mut self, label: String, why: Uninspectable) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(format!("{label}: {why}"));
        } else {
            self.more_problems += 1;
        }
    }

    fn archive_limits(&self) -> ArchiveLimits {
        ArchiveLimits {
            max_entries: self.cfg.max_entries,
            max_ratio: self.cfg.max_ratio,
            max_member: self.cfg.max_buffer.0,
        }
    }

    fn header(&mut self, part: Option<&PartInfo>, name: &str, value: &str) {
        if !name.eq_ignore_ascii_case("content-type") {
            return;
        }
        let index = part.map_or(0, |p| p.index);
        // The media type is what comes before the first `;`: the parameters are
        // parsed (again: the walker did) only for the one type that needs one.
        let media = value.split(';').next().unwrap_or("").trim_ascii();
        let is = |t: &str| media.eq_ignore_ascii_case(t);
        if is("multipart/encrypted") {
            let label = format!("part {index} (multipart/encrypted)");
            self.problem(label, Uninspectable::EncryptedMessage("PGP/MIME"));
        } else if is("application/pkcs7-mime") || is("application/x-pkcs7-mime") {
            let p = parse_params(value.as_bytes());
            let kind = p.get("smime-type").unwrap_or("").to_ascii_lowercase();
            self.smime = Some((index, kind));
        }
    }

    fn part_start(&mut self, info: &PartInfo, out: &mut dyn ContentSink) {
        self.part = None;
        let route = if info.section.is_raw() {
            self.start_text(info, UTF_8, &[], out)
        } else if let Some(why) = self.declared_encrypted(info) {
            self.problem(label(info, None), why);
            Route::Skip
        } else {
            self.head.clear();
            Route::Sniff
        };
        self.part = Some(Part {
            info: info.clone(),
            route,
        });
    }

    /// Encryption the label declares: S/MIME enveloped data, the PGP/MIME control
    /// part (the multipart/encrypted was reported already).
    fn declared_encrypted(&mut self, info: &PartInfo) -> Option<Uninspectable> {
        let ct = info.content_type.as_str();
        if !matches!(ct, "application/pkcs7-mime" | "application/x-pkcs7-mime") {
            return None;
        }
        let smime = self.smime.take().filter(|(i, _)| *i == info.index);
        match smime.as_ref().map(|(_, t)| t.as_str()) {
            Some("signed-data") | Some("certs-only") | Some("compressed-data") => Some(
                Uninspectable::Unsupported("S/MIME signed or compressed data"),
            ),
            _ => Some(Uninspectable::EncryptedMessage("S/MIME")),
        }
    }

    /// Starts delivering a part as text in `encoding`; `head` (its first bytes)
    /// tells whether it is HTML.
    fn start_text(
        &mut self,
        info: &PartInfo,
        encoding: &'static Encoding,
        head: &[u8],
        out: &mut dyn ContentSink,
    ) -> Route {
        let mut shown = info.clone();
        shown.is_text = true;
        let head = String::from_utf8_lossy(&head[..head.len().min(64)]);
        let html = !info.section.is_raw()
            && sniff::is_html(&info.content_type, info.filename.as_deref(), &head);
        if html {
            // Scanners receive the text, not the markup.
            shown.content_type = "text/plain".into();
        }
        out.part_start(&shown);
        let choice = if encoding == UTF_8 {
            CharsetChoice::Utf8
        } else {
            CharsetChoice::Other(encoding)
        };
        // Raw text may hold encoded content: the preamble/epilogue, the rest past a
        // structure limit, and an attached message the walker does not open (one
        // with a base64 or quoted-printable transfer encoding of its own).
        let encoded_message = info.content_type.starts_with("message/")
            || info
                .filename
                .as_deref()
                .is_some_and(|f| f.to_ascii_lowercase().ends_with(".eml"));
        let runs = (info.section.is_raw() || encoded_message)
            .then(|| EncodedRuns::new(self.cfg.max_buffer.0));
        Route::Text(Box::new(TextRoute {
            shown,
            decoder: TextDecoder::new(&choice),
            buf: String::new(),
            html: html.then(HtmlText::new),
            runs,
        }))
    }

    fn bytes(&mut self, data: &[u8], out: &mut dyn ContentSink) {
        let Some(mut part) = self.part.take() else {
            return;
        };
        let mut data = data;
        if let Route::Sniff = part.route {
            if self.head.is_empty() && data.len() >= SNIFF_BYTES {
                // The first bytes are all here: typed in place, no copy.
                part.route = self.decide(&part.info, data, out);
                data = &[];
            } else {
                let take = (SNIFF_BYTES - self.head.len()).min(data.len());
                self.head.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.head.len() >= SNIFF_BYTES {
                    let head = std::mem::take(&mut self.head);
                    part.route = self.decide(&part.info, &head, out);
                    self.head = head;
                }
            }
        }
        self.feed(&mut part, data, out);
        self.part = Some(part);
    }

    /// Types a part from its first bytes (at most [`SNIFF_BYTES`] of `content`, the
    /// start of the part), then routes `content`.
    fn decide(&mut self, info: &PartInfo, content: &[u8], out: &mut dyn ContentSink) -> Route {
        let head = &content[..content.len().min(SNIFF_BYTES)];
        let kind = sniff::sniff(head);
        let mut route = match kind {
            Kind::Text { encoding, bom } => {
                let encoding = declared_or(info, encoding, bom);
                return self.start_text_with(info, encoding, &content[bom..], out);
            }
            Kind::Pdf | Kind::Ole | Kind::Zip | Kind::Gzip | Kind::Rtf => Route::Buffer {
                kind,
                data: Vec::new(),
                over: false,
            },
            Kind::Media(_) => Route::Skip,
            Kind::Archive(name) => {
                self.problem(label(info, None), Uninspectable::Unsupported(name));
                Route::Skip
            }
            Kind::Encrypted(what) => {
                self.problem(label(info, None), Uninspectable::EncryptedMessage(what));
                Route::Skip
            }
            // A part labelled text is read as text whatever it holds.
            Kind::Binary if info.is_text => {
                let encoding = declared_or(info, UTF_8, 0);
                return self.start_text_with(info, encoding, content, out);
            }
            Kind::Binary => Route::Binary { size: 0 },
        };
        let mut part = Part {
            info: info.clone(),
            route,
        };
        self.feed(&mut part, content, out);
        route = part.route;
        route
    }

    fn start_text_with(
        &mut self,
        info: &PartInfo,
        enc: &'static Encoding,
        head: &[u8],
        out: &mut dyn ContentSink,
    ) -> Route {
        let mut r = self.start_text(info, enc, head, out);
        if let Route::Text(t) = &mut r {
            text_out(t, head, out);
        }
        r
    }

    fn feed(&mut self, part: &mut Part, data: &[u8], out: &mut dyn ContentSink) {
        if data.is_empty() {
            return;
        }
        let max = self.cfg.max_buffer.0;
        match &mut part.route {
            Route::Sniff | Route::Skip => {}
            Route::Text(t) => text_out(t, data, out),
            Route::Buffer {
                data: buf, over, ..
            } => {
                if *over || (buf.len() + data.len()) as u64 > max {
                    *over = true;
                    *buf = Vec::new();
                } else {
                    buf.extend_from_slice(data);
                }
            }
            Route::Binary { size } => *size += data.len() as u64,
        }
    }

    fn part_end(&mut self, out: &mut dyn ContentSink) {
        let Some(mut part) = self.part.take() else {
            return;
        };
        if let Route::Sniff = part.route {
            if self.head.is_empty() {
                return;
            }
            let head = std::mem::take(&mut self.head);
            part.route = self.decide(&part.info, &head, out);
            self.head = head;
        }
        let info = part.info;
        match part.route {
            Route::Sniff | Route::Skip => {}
            Route::Text(mut t) => {
                let t = &mut *t;
                let s = t.decoder.finish(&mut t.buf);
                emit(&t.shown, &mut t.html, s, out);
                if let Some(html) = &mut t.html {
                    html.finish(&mut |s| out.text(&t.shown, s));
                }
                out.part_end(&t.shown);
                if let Some(mut runs) = t.runs.take() {
                    runs.finish();
                    if runs.overflow {
                        self.problem(
                            label(&info, None),
                            Uninspectable::BufferLimit(self.cfg.max_buffer.0),
                        );
                    }
                    for (k, (kind, bytes)) in runs.take_runs().into_iter().enumerate() {
                        let path = format!("{} run {}", kind.name(), k + 1);
                        self.member(&info, &path, &bytes, 0, out);
                    }
                }
            }
            Route::Buffer { over: true, .. } => {
                self.problem(
                    label(&info, None),
                    Uninspectable::BufferLimit(self.cfg.max_buffer.0),
                );
            }
            Route::Buffer { kind, data, .. } => self.held.push(Held { kind, info, data }),
            Route::Binary { size } => self.opaque(&info, None, size),
        }
    }

    /// Unknown binary: uninspectable past `opaque_min_size`, unless its declared
    /// type is one of `ignore_types`.
    fn opaque(&mut self, info: &PartInfo, member: Option<&str>, size: u64) {
        let ignored = member.is_none()
            && self
                .cfg
                .ignore_types
                .iter()
                .any(|t| info.content_type.starts_with(t.as_str()));
        if size > self.cfg.opaque_min_size.0 && !ignored {
            self.problem(label(info, member), Uninspectable::Opaque(size));
        }
    }

    /// Opens a container held whole: archives (counted against the depth),
    /// documents. `path` names it for members and reasons.
    fn open(
        &mut self,
        kind: Kind,
        info: &PartInfo,
        path: &str,
        data: &[u8],
        depth: u32,
        out: &mut dyn ContentSink,
    ) {
        let result = match kind {
            Kind::Zip | Kind::Gzip if depth >= self.cfg.max_archive_depth => {
                Err(Uninspectable::TooDeep(self.cfg.max_archive_depth))
            }
            Kind::Zip => self.open_zip(info, path, data, depth + 1, out),
            Kind::Gzip => self.open_gzip(info, path, data, depth + 1, out),
            _ => {
                let mut text = String::new();
                let r = formats::extract(kind, data, &mut self.budget, &mut |s| text.push_str(s));
                deliver_text(info, path, &text, out);
                r
            }
        };
        if let Err(why) = result {
            let member = (info.filename.as_deref() != Some(path)).then_some(path);
            self.problem(label(info, member), why);
        }
    }

    fn open_zip(
        &mut self,
        info: &PartInfo,
        path: &str,
        data: &[u8],
        depth: u32,
        out: &mut dyn ContentSink,
    ) -> Result<(), Uninspectable> {
        let limits = self.archive_limits();
        let mut members = caught(|| ZipMembers::open(data, &limits))?;
        while let Some((name, bytes)) = caught(|| members.next_member(&limits, &mut self.budget))? {
            let member = format!("{path}/{}", sanitize(&name));
            // Office Open XML and OpenDocument keep their text in XML parts.
            if name.to_ascii_lowercase().ends_with(".xml") && sniff::text_encoding(&bytes).is_some()
            {
                let mut xml = XmlText::default();
                let mut text = Vec::with_capacity(bytes.len() / 2);
                xml.feed(&bytes, &mut text);
                deliver_text(info, &member, &String::from_utf8_lossy(&text), out);
                continue;
            }
            self.member(info, &member, &bytes, depth, out);
        }
        Ok(())
    }

    fn open_gzip(
        &mut self,
        info: &PartInfo,
        path: &str,
        data: &[u8],
        depth: u32,
        out: &mut dyn ContentSink,
    ) -> Result<(), Uninspectable> {
        let limits = self.archive_limits();
        let (_, bytes) = caught(|| gzip::decompress(data, &limits, &mut self.budget))?;
        let inner = path.strip_suffix(".gz").map_or_else(
            || format!("{path}/(gunzip)"),
            |p| format!("{path}/{}", p.rsplit('/').next().unwrap_or(p)),
        );
        self.member(info, &inner, &bytes, depth, out);
        Ok(())
    }

    /// Content found inside a part (archive member, decoded run), typed and routed
    /// like a part; `depth` archives are already open above it.
    fn member(
        &mut self,
        info: &PartInfo,
        path: &str,
        bytes: &[u8],
        depth: u32,
        out: &mut dyn ContentSink,
    ) {
        let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
        match sniff::sniff(head) {
            Kind::Text { encoding, bom } => {
                let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
                let head = &text[..text.floor_char_boundary(64)];
                if sniff::is_html("", Some(path), head) {
                    let mut plain = String::with_capacity(text.len() / 2);
                    let mut html = HtmlText::new();
                    html.feed(&text, &mut |s| plain.push_str(s));
                    html.finish(&mut |s| plain.push_str(s));
                    deliver_text(info, path, &plain, out);
                } else {
                    deliver_text(info, path, &text, out);
                }
            }
            kind @ (Kind::Zip | Kind::Gzip | Kind::Pdf | Kind::Ole | Kind::Rtf) => {
                self.open(kind, info, path, bytes, depth, out);
            }
            Kind::Media(_) => {}
            Kind::Archive(name) => {
                self.problem(label(info, Some(path)), Uninspectable::Unsupported(name))
            }
            Kind::Encrypted(what) => self.problem(
                label(info, Some(path)),
                Uninspectable::EncryptedMessage(what),
            ),
            Kind::Binary => self.opaque(info, Some(path), bytes.len() as u64),
        }
    }
}

/// Runs third-party parsing (zip, flate2) with its panics turned into a reason.
fn caught<T>(f: impl FnOnce() -> Result<T, Uninspectable>) -> Result<T, Uninspectable> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(Uninspectable::Damaged("archive (decoder failed)".into())))
}

/// The declared charset of a part labelled text, unless the content has a byte
/// order mark or is UTF-16 (which no 8-bit label can describe).
fn declared_or(info: &PartInfo, sniffed: &'static Encoding, bom: usize) -> &'static Encoding {
    if !info.is_text || bom > 0 || sniffed.output_encoding() != sniffed {
        return sniffed;
    }
    match charset::choose(info.charset.as_deref()) {
        CharsetChoice::Other(e) => e,
        CharsetChoice::Utf8 | CharsetChoice::Unknown if info.charset.is_some() => UTF_8,
        _ => sniffed,
    }
}

fn text_out(t: &mut TextRoute, data: &[u8], out: &mut dyn ContentSink) {
    if let Some(runs) = &mut t.runs {
        runs.feed(data);
    }
    let s = t.decoder.decode(data, &mut t.buf);
    emit(&t.shown, &mut t.html, s, out);
}

/// Decoded text to the scanners, through the HTML reducer when the part is HTML.
fn emit(shown: &PartInfo, html: &mut Option<HtmlText>, s: &str, out: &mut dyn ContentSink) {
    if s.is_empty() {
        return;
    }
    match html {
        Some(h) => h.feed(s, &mut |t| out.text(shown, t)),
        None => out.text(shown, s),
    }
}

/// Extracted text as a part of its own, named by `member`.
fn deliver_text(info: &PartInfo, member: &str, text: &str, out: &mut dyn ContentSink) {
    if text.is_empty() {
        return;
    }
    let m = PartInfo {
        content_type: "text/plain".into(),
        charset: None,
        is_text: true,
        member: Some(member.to_string()),
        ..info.clone()
    };
    out.part_start(&m);
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(TEXT_CHUNK);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.text(&m, &rest[..cut]);
        rest = &rest[cut..];
    }
    out.part_end(&m);
}

/// Names come from the sender: printable and short in findings and headers.
fn sanitize(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(120).collect()
}

/// `part 3 (report.zip)`, `part 3 (report.zip) member report.zip/a.docx`,
/// `part 0 preamble`.
fn label(info: &PartInfo, member: Option<&str>) -> String {
    let what = match &info.filename {
        Some(f) => sanitize(f),
        None => info.content_type.clone(),
    };
    let section = match info.section {
        Section::Body => "",
        Section::Preamble => " preamble",
        Section::Epilogue => " epilogue",
        Section::Remainder => " remainder",
    };
    match member {
        Some(m) => format!("part {}{section} ({what}) member {m}", info.index),
        None => format!("part {}{section} ({what})", info.index),
    }
}

impl ContentSink for Routed<'_> {
    fn header(&mut self, part: Option<&PartInfo>, name: &str, value: &str) {
        self.router.header(part, name, value);
        self.out.header(part, name, value);
    }
    fn part_start(&mut self, part: &PartInfo) {
        self.router.part_start(part, self.out);
    }
    fn text(&mut self, _part: &PartInfo, text: &str) {
        self.router.bytes(text.as_bytes(), self.out);
    }
    fn binary(&mut self, _part: &PartInfo, data: &[u8]) {
        self.router.bytes(data, self.out);
    }
    fn part_end(&mut self, _part: &PartInfo) {
        self.router.part_end(self.out);
    }
    fn anomaly(&mut self, anomaly: &MimeAnomaly) {
        self.out.anomaly(anomaly);
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
