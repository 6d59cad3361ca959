//! Text positioning (ISO 32000-1 §9.4.2, §9.3): where the text matrix puts each
//! shown string, and where the previous one ended, decide whether the two are one
//! run (glued), words on a line (space) or lines (newline). Only translation and
//! scale are followed; rotation and the CTM are not needed to tell these apart.

use super::content::Sep;
use super::font::Shown;

const IDENTITY: [f64; 6] = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

/// A string that starts within this many ems of where the previous one ended
/// continues it; a word space is about 0.25 em and more.
const GLUE_BEFORE: f64 = -0.2;
const GLUE_AFTER: f64 = 0.18;

pub struct Pen {
    pub font_size: f64,
    pub char_spacing: f64,
    pub word_spacing: f64,
    /// Horizontal scaling, as a fraction.
    pub scale: f64,
    pub leading: f64,
    tm: [f64; 6],
    tlm: [f64; 6],
    /// Where the last shown string ended, when its font gave glyph widths.
    end: Option<f64>,
    /// The baseline of the last shown string.
    last_y: Option<f64>,
    /// Whether a positioning operator ran since the last shown string.
    moved: bool,
}

impl Default for Pen {
    fn default() -> Pen {
        Pen {
            font_size: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            scale: 1.0,
            leading: 0.0,
            tm: IDENTITY,
            tlm: IDENTITY,
            end: None,
            last_y: None,
            moved: true,
        }
    }
}

impl Pen {
    /// `BT`: the text matrices start again.
    pub fn begin_text(&mut self) {
        self.set_matrix(IDENTITY);
    }

    /// `Tm`.
    pub fn set_matrix(&mut self, m: [f64; 6]) {
        self.tm = m;
        self.tlm = m;
        self.moved = true;
    }

    /// `Td`: the start of the next line, offset from the start of this one.
    pub fn translate(&mut self, tx: f64, ty: f64) {
        let l = &mut self.tlm;
        l[4] += tx * l[0] + ty * l[2];
        l[5] += tx * l[1] + ty * l[3];
        self.tm = self.tlm;
        self.moved = true;
    }

    /// `T*`.
    pub fn next_line(&mut self) {
        self.translate(0.0, -self.leading);
    }

    /// Positions no longer comparable (a form XObject, a new coordinate system).
    pub fn forget(&mut self) {
        self.end = None;
        self.last_y = None;
        self.moved = true;
    }

    /// The separator before a string shown at the current position.
    pub fn before_show(&self) -> Sep {
        if !self.moved {
            return Sep::None;
        }
        let (x, y) = (self.tm[4], self.tm[5]);
        let Some(last_y) = self.last_y else {
            return Sep::Newline;
        };
        let em_y = (self.font_size * self.tm[3]).abs().max(1e-3);
        if (y - last_y).abs() > 0.5 * em_y {
            return Sep::Newline;
        }
        let em_x = (self.font_size * self.tm[0] * self.scale).abs();
        match self.end {
            Some(end) if em_x > 1e-9 => {
                let dx = (x - end) / em_x;
                if dx > GLUE_BEFORE && dx < GLUE_AFTER {
                    Sep::None
                } else {
                    Sep::Space
                }
            }
            _ => Sep::Space,
        }
    }

    /// Moves past a shown string.
    pub fn after_show(&mut self, shown: &Shown) {
        self.last_y = Some(self.tm[5]);
        self.moved = false;
        let Some(width) = shown.width else {
            self.end = None;
            return;
        };
        let spacing =
            shown.codes as f64 * self.char_spacing + shown.spaces as f64 * self.word_spacing;
        self.advance((width * self.font_size + spacing) * self.scale);
        self.end = Some(self.tm[4]);
    }

    /// A `TJ` number: thousandths of an em, leftwards.
    pub fn adjust(&mut self, n: f64) {
        self.advance(-n / 1000.0 * self.font_size * self.scale);
        if self.end.is_some() {
            self.end = Some(self.tm[4]);
        }
    }

    fn advance(&mut self, tx: f64) {
        if tx.is_finite() {
            self.tm[4] += tx * self.tm[0];
            self.tm[5] += tx * self.tm[1];
        }
    }
}
