//! HTML text extraction, streaming: tags, comments, `<script>`/`<style>` contents,
//! CDATA sections and declarations are dropped; named (the HTML 4 set: Latin-1,
//! symbols used in text) and numeric entities are decoded; block elements (p, div,
//! br, tr, td, li, h1–h6, …) end a line so table cells never glue into one number.
//! Invisible characters (soft hyphen, zero-width space and joiners, BOM) are
//! dropped, and no-break spaces become spaces, so `136&shy;410&nbsp;132` reads as
//! the browser shows it.
//!
//! Hand-written: `html-escape` and `htmlize` decode entities in a whole string only,
//! and HTML parsers (html5ever) build a tree; this state machine keeps a few bytes
//! of state between chunks split anywhere (inside a tag, comment or entity).
//! Attribute values are not text and are dropped.

mod entities;

use memchr::memchr2;

/// Text passed to `out` in pieces of at most about this size.
const FLUSH_AT: usize = 16 * 1024;

/// Entity names longer than this are not entities.
const MAX_ENTITY: usize = 32;

/// Tag names are compared on this many characters (the longest we match is 10).
const MAX_TAG: usize = 16;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum State {
    #[default]
    Text,
    /// After `<`.
    TagOpen,
    TagName {
        end: bool,
    },
    /// Inside a tag after its name; `quote` while in a quoted attribute value.
    Attrs {
        end: bool,
        quote: Option<u8>,
        after_eq: bool,
    },
    /// After `<!`: the characters so far decide comment, CDATA or declaration.
    MarkupDecl,
    Comment {
        dashes: u8,
    },
    Cdata {
        brackets: u8,
    },
    /// `<!DOCTYPE …>`, `<?xml …?>`, the end tag of a raw-text element: up to `>`.
    Bogus,
    /// Inside `<script>` or `<style>`: `matched` bytes of its end tag seen.
    RawText {
        matched: usize,
    },
    /// After `&`.
    Entity,
}

/// Streaming HTML-to-text: feed chunks split anywhere, then `finish`.
#[derive(Debug, Default)]
pub struct HtmlText {
    state: State,
    /// Tag name (lower case, first [`MAX_TAG`] bytes) or markup declaration start.
    name: String,
    /// The raw-text element being skipped: `script` or `style`.
    raw: &'static str,
    entity: String,
    buf: String,
    newline_pending: bool,
    started: bool,
}

impl HtmlText {
    pub fn new() -> HtmlText {
        HtmlText::default()
    }

    /// Feeds the next chunk; text found so far is passed to `out`.
    pub fn feed(&mut self, chunk: &str, out: &mut dyn FnMut(&str)) {
        let bytes = chunk.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if self.state == State::Text {
                let next = memchr2(b'<', b'&', &bytes[i..]).map_or(bytes.len(), |n| i + n);
                self.text(&chunk[i..next]);
                if let Some(&b) = bytes.get(next) {
                    self.state = if b == b'<' {
                        State::TagOpen
                    } else {
                        State::Entity
                    };
                    self.entity.clear();
                }
                i = next + 1;
                if self.buf.len() >= FLUSH_AT {
                    self.flush(out);
                }
                continue;
            }
            if self.step(bytes[i]) {
                i += 1;
            }
        }
        self.flush(out);
    }

    /// Flushes whatever the last chunk left pending.
    pub fn finish(&mut self, out: &mut dyn FnMut(&str)) {
        match self.state {
            State::Entity => self.end_entity(false),
            State::TagOpen => self.text("<"),
            _ => {}
        }
        self.state = State::Text;
        self.flush(out);
    }

    fn flush(&mut self, out: &mut dyn FnMut(&str)) {
        if !self.buf.is_empty() {
            out(&self.buf);
            self.buf.clear();
        }
    }

    /// One byte outside text; `false` when the byte must be read again in the new state.
    fn step(&mut self, b: u8) -> bool {
        match self.state {
            State::Text => unreachable!("text is handled in feed"),
            State::TagOpen => return self.tag_open(b),
            State::TagName { end } => match b {
                _ if b.is_ascii_alphanumeric() || b == b'-' || b == b':' => {
                    if self.name.len() < MAX_TAG {
                        self.name.push(char::from(b.to_ascii_lowercase()));
                    }
                }
                b'>' => self.tag_done(end),
                _ => {
                    self.state = State::Attrs {
                        end,
                        quote: None,
                        after_eq: false,
                    }
                }
            },
            State::Attrs {
                end,
                quote,
                after_eq,
            } => self.attrs(b, end, quote, after_eq),
            State::MarkupDecl => return self.markup_decl(b),
            State::Comment { dashes } => {
                self.state = match b {
                    b'-' => State::Comment {
                        dashes: dashes.saturating_add(1),
                    },
                    b'>' if dashes >= 2 => State::Text,
                    _ => State::Comment { dashes: 0 },
                }
            }
            State::Cdata { brackets } => {
                self.state = match b {
                    b']' => State::Cdata {
                        brackets: brackets.saturating_add(1),
                    },
                    b'>' if brackets >= 2 => State::Text,
                    _ => State::Cdata { brackets: 0 },
                }
            }
            State::Bogus => {
                if b == b'>' {
                    self.state = State::Text;
                }
            }
            State::RawText { matched } => self.raw_text(b, matched),
            State::Entity => {
                let first = self.entity.is_empty();
                if (b.is_ascii_alphanumeric() || (first && b == b'#'))
                    && self.entity.len() < MAX_ENTITY
                {
                    self.entity.push(char::from(b));
                } else {
                    self.end_entity(b == b';');
                    self.state = State::Text;
                    return b == b';';
                }
            }
        }
        true
    }

    fn tag_open(&mut self, b: u8) -> bool {
        self.name.clear();
        self.state = match b {
            b'!' => State::MarkupDecl,
            b'/' => State::TagName { end: true },
            b'?' => State::Bogus,
            _ if b.is_ascii_alphabetic() => {
                self.name.push(char::from(b.to_ascii_lowercase()));
                State::TagName { end: false }
            }
            _ => {
                // `a < b`: not a tag.
                self.text("<");
                self.state = State::Text;
                return false;
            }
        };
        true
    }

    fn attrs(&mut self, b: u8, end: bool, quote: Option<u8>, after_eq: bool) {
        self.state = match (quote, b) {
            (Some(q), _) if b == q => State::Attrs {
                end,
                quote: None,
                after_eq: false,
            },
            (Some(_), _) => return,
            (None, b'"' | b'\'') if after_eq => State::Attrs {
                end,
                quote: Some(b),
                after_eq: false,
            },
            (None, b'>') => return self.tag_done(end),
            (None, b'=') => State::Attrs {
                end,
                quote: None,
                after_eq: true,
            },
            (None, _) if b.is_ascii_whitespace() => return,
            (None, _) => State::Attrs {
                end,
                quote: None,
                after_eq: false,
            },
        }
    }

    fn markup_decl(&mut self, b: u8) -> bool {
        self.name.push(char::from(b));
        if self.name == "--" {
            // `<!-->` and `<!--->` already close the comment, as in browsers.
            self.state = State::Comment { dashes: 2 };
        } else if self.name == "[CDATA[" {
            self.state = State::Cdata { brackets: 0 };
        } else if !"--".starts_with(&self.name) && !"[CDATA[".starts_with(&self.name) {
            self.state = State::Bogus;
            return b != b'>';
        }
        true
    }

    fn raw_text(&mut self, b: u8, matched: usize) {
        let target = [b"</".as_slice(), self.raw.as_bytes()].concat();
        let matched = if target.get(matched) == Some(&b.to_ascii_lowercase()) {
            matched + 1
        } else {
            usize::from(b == b'<')
        };
        self.state = if matched == target.len() {
            State::Bogus
        } else {
            State::RawText { matched }
        };
    }

    fn tag_done(&mut self, end: bool) {
        self.state = State::Text;
        let name = self.name.as_str();
        if entities::is_block(name) {
            self.newline_pending = true;
        }
        if !end && (name == "script" || name == "style") {
            self.raw = if name == "script" { "script" } else { "style" };
            self.state = State::RawText { matched: 0 };
        }
    }

    fn end_entity(&mut self, semicolon: bool) {
        match entities::decode(&self.entity) {
            Some(c) => self.text(c.encode_utf8(&mut [0u8; 4])),
            None => {
                let raw = format!("&{}{}", self.entity, if semicolon { ";" } else { "" });
                self.text(&raw);
            }
        }
        self.entity.clear();
    }

    /// Appends document text, dropping invisible characters.
    fn text(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if self.newline_pending && self.started {
            self.buf.push('\n');
        }
        self.newline_pending = false;
        let before = self.buf.len();
        if s.is_ascii() {
            self.buf.push_str(s);
        } else {
            for c in s.chars() {
                match c {
                    '\u{a0}' | '\u{2007}' | '\u{202f}' => self.buf.push(' '),
                    c if entities::is_invisible(c) => {}
                    c => self.buf.push(c),
                }
            }
        }
        self.started |= self.buf.len() > before;
    }
}

#[cfg(test)]
mod tests;
