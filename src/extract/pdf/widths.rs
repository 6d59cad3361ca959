//! Glyph widths (ISO 32000-1 §9.2.4, §9.7.4.3): simple fonts' /FirstChar and
//! /Widths, CID fonts' /W and /DW. They tell where a shown string ends, so that a
//! string placed right after it (one glyph or one word at a time, as some
//! generators write) is glued to it, and one placed further away is not.

use super::lexer::Obj;

/// Width entries read from one font, at most (hostile input).
const MAX_WIDTHS: usize = 20_000;

#[derive(Debug)]
pub enum Widths {
    Simple {
        first: u32,
        widths: Vec<f64>,
        missing: f64,
    },
    /// (first code, last code, width), sorted by first code.
    Cid {
        ranges: Vec<(u32, u32, f64)>,
        default: f64,
    },
}

impl Widths {
    /// `/FirstChar n /Widths [...]`; `None` when the font gives no widths
    /// (the standard 14 fonts).
    pub fn simple(first: Option<i64>, widths: Option<&[Obj]>, missing: f64) -> Option<Widths> {
        let first = u32::try_from(first?).ok()?;
        let widths = widths?
            .iter()
            .take(MAX_WIDTHS)
            .map(|w| w.as_f64().unwrap_or(missing))
            .collect();
        Some(Widths::Simple {
            first,
            widths,
            missing,
        })
    }

    /// `/DW d /W [c [w1 w2 …] c_first c_last w …]`.
    pub fn cid(default: Option<f64>, w: Option<&[Obj]>) -> Widths {
        let mut ranges = Vec::new();
        let mut items = w.unwrap_or_default().iter().take(MAX_WIDTHS);
        while let Some(first) = items.next() {
            let Some(first) = first.as_int().and_then(|c| u32::try_from(c).ok()) else {
                continue;
            };
            match items.next() {
                Some(Obj::Array(ws)) => {
                    for (i, w) in ws.iter().take(MAX_WIDTHS).enumerate() {
                        if let (Some(w), Some(code)) = (w.as_f64(), first.checked_add(i as u32)) {
                            ranges.push((code, code, w));
                        }
                    }
                }
                Some(last) => {
                    let last = last.as_int().and_then(|c| u32::try_from(c).ok());
                    if let (Some(last), Some(w)) = (last, items.next().and_then(Obj::as_f64)) {
                        ranges.push((first, last, w));
                    }
                }
                None => break,
            }
        }
        ranges.sort_by_key(|r| r.0);
        Widths::Cid {
            ranges,
            default: default.unwrap_or(1000.0),
        }
    }

    /// The width of glyph `code`, in thousandths of an em.
    pub fn get(&self, code: u32) -> f64 {
        match self {
            Widths::Simple {
                first,
                widths,
                missing,
            } => code
                .checked_sub(*first)
                .and_then(|i| widths.get(i as usize))
                .copied()
                .unwrap_or(*missing),
            Widths::Cid { ranges, default } => {
                let i = ranges.partition_point(|r| r.0 <= code);
                match i.checked_sub(1).map(|i| ranges[i]) {
                    Some((_, last, w)) if code <= last => w,
                    _ => *default,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::pdf::lexer::Lexer;

    fn array(s: &[u8]) -> Vec<Obj> {
        match Lexer::new(s, 0).object() {
            Some(Obj::Array(a)) => a,
            _ => panic!("not an array"),
        }
    }

    #[test]
    fn simple_and_cid_widths() {
        let w = Widths::simple(Some(48), Some(&array(b"[556 556 556]")), 0.0).unwrap();
        assert_eq!(
            (w.get(48), w.get(50), w.get(51), w.get(10)),
            (556.0, 556.0, 0.0, 0.0)
        );
        assert!(Widths::simple(None, None, 0.0).is_none());
        let w = Widths::cid(
            Some(500.0),
            Some(&array(b"[3 [278 333] 19 28 507 /junk 100]")),
        );
        assert_eq!(
            (w.get(3), w.get(4), w.get(20), w.get(29)),
            (278.0, 333.0, 507.0, 500.0)
        );
    }
}
