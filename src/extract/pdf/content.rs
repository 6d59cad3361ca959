//! Content-stream interpreter (ISO 32000-1 §9.4): shows the strings of `Tj TJ ' "`
//! through the current font, and turns text positioning into separators, so runs
//! that sit apart on the page do not glue into one false identifier.

use std::rc::Rc;

use memchr::memmem;

use super::font::{Font, Shown};
use super::lexer::{Lexer, Obj, Tok, is_ws};
use super::position::Pen;
use crate::extract::{Budget, Uninspectable};

/// A `TJ` adjustment at least this wide (thousandths of an em, leftwards
/// negative) is a word gap; smaller ones are kerning inside a word.
const TJ_SPACE: f64 = -150.0;

/// Operands kept per operator: no text operator takes more (hostile input).
const MAX_OPERANDS: usize = 16;

/// Text passed to `out` in pieces of about this size.
const FLUSH_AT: usize = 16 * 1024;

/// Where fonts and form XObjects named in a content stream are looked up.
pub trait Resources {
    fn font(&mut self, name: &[u8], budget: &mut Budget) -> Result<Rc<Font>, Uninspectable>;
    /// Runs the form XObject `name` (`Do`), if it is one and was not run before.
    fn form(&mut self, name: &[u8], text: &mut TextOut) -> Result<(), Uninspectable>;
}

#[derive(Clone, Copy, PartialEq, PartialOrd)]
pub enum Sep {
    None,
    Space,
    Newline,
}

/// The extracted text: separators between runs, charged to the budget and passed on in pieces.
pub struct TextOut<'a> {
    pub budget: &'a mut Budget,
    out: &'a mut dyn FnMut(&str),
    buf: String,
    pending: Sep,
    started: bool,
}

impl<'a> TextOut<'a> {
    pub fn new(budget: &'a mut Budget, out: &'a mut dyn FnMut(&str)) -> TextOut<'a> {
        TextOut {
            budget,
            out,
            buf: String::new(),
            pending: Sep::None,
            started: false,
        }
    }

    fn sep(&mut self, sep: Sep) {
        if sep > self.pending {
            self.pending = sep;
        }
    }

    /// Ends the current line (between pages, streams, BT blocks).
    pub fn newline(&mut self) {
        self.sep(Sep::Newline);
    }

    fn show(&mut self, font: &Font, bytes: &[u8]) -> Result<Shown, Uninspectable> {
        if self.started {
            match self.pending {
                Sep::None => {}
                Sep::Space => self.buf.push(' '),
                Sep::Newline => self.buf.push('\n'),
            }
        }
        self.pending = Sep::None;
        let before = self.buf.len();
        let shown = font.decode(bytes, &mut self.buf);
        self.started |= self.buf.len() > before;
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(shown)
    }

    pub fn flush(&mut self) -> Result<(), Uninspectable> {
        if !self.buf.is_empty() {
            self.budget.spend(self.buf.len())?;
            (self.out)(&self.buf);
            self.buf.clear();
        }
        Ok(())
    }
}

/// Runs the text operators of `content`.
pub fn run(
    content: &[u8],
    res: &mut dyn Resources,
    text: &mut TextOut,
) -> Result<(), Uninspectable> {
    let mut lx = Lexer::content(content);
    let mut ops: Vec<Obj> = Vec::new();
    let mut font = Rc::new(Font::default());
    let mut pen = Pen::default();
    let mut walked = 0;
    while let Some(tok) = lx.next_tok() {
        if lx.pos - walked >= 64 * 1024 {
            text.budget.spend(0)?;
            walked = lx.pos;
        }
        let Tok::Keyword(op) = tok else {
            if ops.len() >= MAX_OPERANDS {
                ops.clear();
            }
            if let Some(o) = lx.object_from_tok(tok) {
                ops.push(o);
            }
            continue;
        };
        let num = |i: usize| ops.get(i).and_then(Obj::as_f64).unwrap_or(0.0);
        match op {
            b"BT" => pen.begin_text(),
            b"Tf" => {
                if let Some(name) = ops.first().and_then(Obj::as_name) {
                    font = res.font(name, text.budget)?;
                }
                pen.font_size = num(1);
            }
            b"Tc" => pen.char_spacing = num(0),
            b"Tw" => pen.word_spacing = num(0),
            b"Tz" => pen.scale = num(0) / 100.0,
            b"TL" => pen.leading = num(0),
            b"Td" => pen.translate(num(0), num(1)),
            b"TD" => {
                pen.leading = -num(1);
                pen.translate(num(0), num(1));
            }
            b"Tm" if ops.len() >= 6 => pen.set_matrix(std::array::from_fn(num)),
            b"T*" => pen.next_line(),
            b"Tj" | b"'" | b"\"" => {
                if op == b"\"" {
                    (pen.word_spacing, pen.char_spacing) = (num(0), num(1));
                }
                if op != b"Tj" {
                    pen.next_line();
                }
                if let Some(Obj::Str(s)) = ops.last() {
                    show(&mut pen, &font, s, text)?;
                }
            }
            b"TJ" => {
                if let Some(Obj::Array(items)) = ops.first() {
                    for item in items {
                        match item {
                            Obj::Str(s) => show(&mut pen, &font, s, text)?,
                            n => {
                                let n = n.as_f64().unwrap_or(0.0);
                                pen.adjust(n);
                                if n <= TJ_SPACE {
                                    text.sep(Sep::Space);
                                }
                            }
                        }
                    }
                }
            }
            b"cm" => pen.forget(),
            b"Do" => {
                if let Some(name) = ops.first().and_then(Obj::as_name) {
                    text.newline();
                    res.form(name, text)?;
                    text.newline();
                    pen.forget();
                }
            }
            b"ID" => skip_inline_image(&mut lx),
            _ => {}
        }
        ops.clear();
    }
    text.newline();
    Ok(())
}

fn show(pen: &mut Pen, font: &Font, s: &[u8], text: &mut TextOut) -> Result<(), Uninspectable> {
    // Fail closed: text we cannot decode could hide anything.
    if let Some(why) = font.unreadable(s) {
        return Err(Uninspectable::Damaged(why.into()));
    }
    text.sep(pen.before_show());
    let shown = text.show(font, s)?;
    pen.after_show(&shown);
    Ok(())
}

/// Skips the binary data of an inline image, up to its `EI`.
fn skip_inline_image(lx: &mut Lexer) {
    let start = lx.pos + 1;
    let data = lx.data;
    for at in memmem::find_iter(data.get(start..).unwrap_or_default(), b"EI") {
        let at = start + at;
        let before = at
            .checked_sub(1)
            .and_then(|i| data.get(i))
            .is_none_or(|&b| is_ws(b));
        let after = data.get(at + 2).is_none_or(|&b| is_ws(b));
        if before && after {
            lx.pos = at + 2;
            return;
        }
    }
    lx.pos = data.len();
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoRes;

    impl Resources for NoRes {
        fn font(&mut self, _: &[u8], _: &mut Budget) -> Result<Rc<Font>, Uninspectable> {
            Ok(Rc::new(Font::default()))
        }
        fn form(&mut self, _: &[u8], _: &mut TextOut) -> Result<(), Uninspectable> {
            Ok(())
        }
    }

    fn text_of(content: &[u8]) -> String {
        let mut s = String::new();
        let mut budget = Budget::unlimited();
        let mut out = |t: &str| s.push_str(t);
        let mut text = TextOut::new(&mut budget, &mut out);
        run(content, &mut NoRes, &mut text).unwrap();
        text.flush().unwrap();
        s
    }

    #[test]
    fn operators_and_separators() {
        let s = text_of(
            b"BT /F1 12 Tf 14 TL 72 700 Td (IRD ) Tj [(136-)-20(410)(-132)] TJ 0 -14 Td (next) Tj \
              100 0 Td (cell) Tj T* (a) ' 1 2 (b) \" T* [(word)-300(gap)] TJ ET \
              BT 1 0 0 1 10 10 Tm (x) Tj 1 0 0 1 50 10 Tm (y) Tj 1 0 0 1 10 20 Tm (z) Tj ET",
        );
        assert_eq!(s, "IRD 136-410-132\nnext cell\na\nb\nword gap\nx y\nz");
    }

    #[test]
    fn inline_images_are_skipped() {
        let s = text_of(b"BT (a) Tj ET BI /W 4 /H 4 ID \x00(Tj) EI\xffEIx EI BT (b) Tj ET");
        assert_eq!(s, "a b");
    }
}
