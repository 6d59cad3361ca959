//! Finds every object of a PDF by scanning for `N G obj` rather than trusting the
//! cross-reference table, so damaged, truncated and incrementally updated files
//! still yield their objects; then unpacks object streams (/Type /ObjStm).
//! Every object is parsed within the bytes up to the next `obj` or `endobj`, and
//! every search position only moves forward, so the scan is linear in the file.

use std::collections::HashMap;

use memchr::memmem;

use super::filters;
use super::lexer::{Dict, Lexer, Obj, Tok, is_ws};
use crate::extract::{Budget, Uninspectable};

/// Objects unpacked from one object stream, at most (hostile /N).
const MAX_PACKED: usize = 100_000;

#[derive(Clone, Copy, Debug)]
enum Loc {
    File {
        at: usize,
        end: usize,
        stream: Option<(usize, usize)>,
    },
    Packed {
        buf: usize,
        at: usize,
    },
}

pub struct Doc<'a> {
    data: &'a [u8],
    packed: Vec<Vec<u8>>,
    objs: HashMap<u32, Loc>,
    /// Object numbers of the page objects (/Type /Page), ascending.
    pub pages: Vec<u32>,
    /// Object numbers of all stream objects, in file order.
    pub streams: Vec<u32>,
}

impl<'a> Doc<'a> {
    pub fn index(data: &'a [u8], budget: &mut Budget) -> Result<Doc<'a>, Uninspectable> {
        if memmem::find(&data[..data.len().min(1024)], b"%PDF-").is_none() {
            return Err(Uninspectable::Damaged("PDF without a %PDF- header".into()));
        }
        let mut doc = Doc {
            data,
            packed: Vec::new(),
            objs: HashMap::new(),
            pages: Vec::new(),
            streams: Vec::new(),
        };
        let mut objstms = Vec::new();
        let mut scan = Scan::new(data);
        let mut walked = 0;
        while let Some((num, at, end)) = scan.next_object() {
            if at - walked >= 64 * 1024 {
                budget.spend(0)?;
                walked = at;
            }
            let mut lx = Lexer::new(&data[..end], at);
            let obj = lx.object();
            let Some(Obj::Dict(dict)) = &obj else {
                doc.objs.insert(
                    num,
                    Loc::File {
                        at,
                        end,
                        stream: None,
                    },
                );
                continue;
            };
            if dict.name_is(b"Type", b"XRef") && dict.get(b"Encrypt").is_some() {
                return Err(Uninspectable::EncryptedPdf);
            }
            let stream = scan.stream_after(lx.pos, dict);
            if stream.is_some() {
                doc.streams.push(num);
            }
            doc.note(num, dict);
            if dict.name_is(b"Type", b"ObjStm") {
                objstms.push(num);
            }
            doc.objs.insert(num, Loc::File { at, end, stream });
        }
        if trailers_encrypt(data) {
            return Err(Uninspectable::EncryptedPdf);
        }
        for num in objstms {
            doc.unpack(num, budget)?;
        }
        doc.pages.sort_unstable();
        doc.pages.dedup();
        Ok(doc)
    }

    fn note(&mut self, num: u32, dict: &Dict) {
        if dict.name_is(b"Type", b"Page") {
            self.pages.push(num);
        }
    }

    /// The objects of object stream `num`; those already found in the file win.
    fn unpack(&mut self, num: u32, budget: &mut Budget) -> Result<(), Uninspectable> {
        let Some((dict, buf)) = self.stream(num, budget)? else {
            return Ok(());
        };
        let n = dict
            .get(b"N")
            .and_then(Obj::as_int)
            .unwrap_or(0)
            .clamp(0, MAX_PACKED as i64) as usize;
        let first = dict.get(b"First").and_then(Obj::as_int).unwrap_or(0).max(0) as usize;
        let mut lx = Lexer::new(&buf[..first.min(buf.len())], 0);
        let mut entries = Vec::new();
        while entries.len() < n {
            match (lx.next_tok(), lx.next_tok()) {
                (Some(Tok::Int(obj)), Some(Tok::Int(off))) => entries.push((obj, off)),
                _ => break,
            }
        }
        let idx = self.packed.len();
        for &(obj, off) in &entries {
            let (Ok(obj), Ok(off)) = (u32::try_from(obj), usize::try_from(off)) else {
                continue;
            };
            let at = first.saturating_add(off);
            if at >= buf.len() || self.objs.contains_key(&obj) {
                continue;
            }
            if let Some(Obj::Dict(d)) = Lexer::new(&buf, at).object() {
                self.note(obj, &d);
            }
            self.objs.insert(obj, Loc::Packed { buf: idx, at });
        }
        self.packed.push(buf);
        Ok(())
    }

    /// Object `num`, parsed.
    pub fn get(&self, num: u32) -> Option<Obj> {
        match *self.objs.get(&num)? {
            Loc::File { at, end, .. } => Lexer::new(&self.data[..end], at).object(),
            Loc::Packed { buf, at } => Lexer::new(self.packed.get(buf)?, at).object(),
        }
    }

    /// `obj`, or the object it refers to (through a few references at most).
    pub fn resolve(&self, obj: &Obj) -> Option<Obj> {
        let mut cur = obj.clone();
        for _ in 0..8 {
            match cur {
                Obj::Ref(n) => cur = self.get(n)?,
                other => return Some(other),
            }
        }
        None
    }

    pub fn resolve_dict(&self, obj: Option<&Obj>) -> Option<Dict> {
        match self.resolve(obj?)? {
            Obj::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The dictionary and decoded data of stream object `num`; `None` when it is no
    /// stream or its filters hold no text (images) or are unknown.
    pub fn stream(
        &self,
        num: u32,
        budget: &mut Budget,
    ) -> Result<Option<(Dict, Vec<u8>)>, Uninspectable> {
        let Some(&Loc::File {
            at,
            end,
            stream: Some((start, stop)),
        }) = self.objs.get(&num)
        else {
            return Ok(None);
        };
        let Some(Obj::Dict(dict)) = Lexer::new(&self.data[..end], at).object() else {
            return Ok(None);
        };
        let raw = &self.data[start..stop];
        let filters = match self.resolve(dict.get(b"Filter").unwrap_or(&Obj::Null)) {
            Some(Obj::Name(n)) => vec![n],
            Some(Obj::Array(a)) => a
                .iter()
                .filter_map(|f| f.as_name().map(<[u8]>::to_vec))
                .collect(),
            _ => Vec::new(),
        };
        let parms: Vec<Option<Dict>> =
            match self.resolve(dict.get(b"DecodeParms").unwrap_or(&Obj::Null)) {
                Some(Obj::Dict(d)) => vec![Some(d)],
                Some(Obj::Array(a)) => a.iter().map(|p| self.resolve_dict(Some(p))).collect(),
                _ => Vec::new(),
            };
        if filters.is_empty() {
            return Ok(Some((dict, raw.to_vec())));
        }
        let mut data: Option<Vec<u8>> = None;
        for (i, name) in filters.iter().enumerate().take(8) {
            let input = data.as_deref().unwrap_or(raw);
            let parm = parms.get(i).and_then(Option::as_ref);
            match filters::apply(name, parm, input, budget)? {
                Some(d) => data = Some(d),
                None => return Ok(None),
            }
        }
        Ok(data.map(|d| (dict, d)))
    }
}

/// Whether a `trailer` dictionary names an /Encrypt dictionary.
fn trailers_encrypt(data: &[u8]) -> bool {
    memmem::find_iter(data, b"trailer").take(1000).any(|at| {
        let end = data.len().min(at + 64 * 1024);
        let mut lx = Lexer::new(&data[..end], at + 7);
        matches!(lx.object(), Some(Obj::Dict(d)) if d.get(b"Encrypt").is_some())
    })
}

/// Forward-only search state over the file.
struct Scan<'a> {
    data: &'a [u8],
    pos: usize,
    obj: memmem::Finder<'static>,
    /// The last boundary search: from where, and the boundary found.
    boundary: (usize, Option<usize>),
    next_endstream: Option<usize>,
}

impl<'a> Scan<'a> {
    fn new(data: &'a [u8]) -> Scan<'a> {
        Scan {
            data,
            pos: 0,
            obj: memmem::Finder::new(b"obj"),
            boundary: (usize::MAX, None),
            next_endstream: None,
        }
    }

    /// The next `N G obj`: (N, where its body starts, where its body must end).
    fn next_object(&mut self) -> Option<(u32, usize, usize)> {
        loop {
            let hit = self.next_boundary(self.pos)?;
            self.pos = hit + 3;
            let Some(num) = obj_number(self.data, hit) else {
                continue;
            };
            let end = self.next_boundary(self.pos).unwrap_or(self.data.len());
            return Some((num, hit + 3, end));
        }
    }

    /// The first `obj` at or after `from` that is an object header or an `endobj`.
    fn next_boundary(&mut self, from: usize) -> Option<usize> {
        let (searched_from, found) = self.boundary;
        if searched_from <= from && found.is_none_or(|b| b >= from) {
            return found;
        }
        let mut p = from;
        let mut found = None;
        while let Some(h) = self.data.get(p..).and_then(|rest| self.obj.find(rest)) {
            let h = p + h;
            let endobj = h >= 3 && &self.data[h - 3..h] == b"end";
            if endobj || obj_number(self.data, h).is_some() {
                found = Some(h);
                break;
            }
            p = h + 3;
        }
        self.boundary = (from, found);
        found
    }

    /// The data range of the stream whose dictionary ended at `pos`, if one follows;
    /// skips the scan past it.
    fn stream_after(&mut self, pos: usize, dict: &Dict) -> Option<(usize, usize)> {
        let mut lx = Lexer::new(self.data, pos);
        lx.skip_ws();
        let rest = self.data.get(lx.pos..)?;
        let mut start = lx.pos + 6;
        if !rest.starts_with(b"stream") {
            return None;
        }
        match self.data.get(start..start + 2) {
            Some(b"\r\n") => start += 2,
            Some([b'\n' | b'\r', ..]) => start += 1,
            _ => {}
        }
        let declared = dict.get(b"Length").and_then(|l| match l {
            Obj::Int(n) => usize::try_from(*n).ok(),
            _ => None,
        });
        let end = match declared.and_then(|n| start.checked_add(n)) {
            Some(end) if self.endstream_at(end) => end,
            _ => self.find_endstream(start),
        };
        self.pos = self.pos.max(end);
        Some((start, end))
    }

    fn endstream_at(&self, end: usize) -> bool {
        let mut lx = Lexer::new(self.data, end);
        lx.skip_ws();
        self.data
            .get(lx.pos..)
            .is_some_and(|r| r.starts_with(b"endstream"))
    }

    /// The end of the stream data that starts at `start`: before `endstream` and its EOL.
    fn find_endstream(&mut self, start: usize) -> usize {
        let hit = match self.next_endstream {
            Some(h) if h >= start => Some(h),
            _ => memmem::find(self.data.get(start..).unwrap_or_default(), b"endstream")
                .map(|h| start + h),
        };
        self.next_endstream = hit;
        let Some(mut end) = hit else {
            return self.data.len();
        };
        if end > start && self.data[end - 1] == b'\n' {
            end -= 1;
        }
        if end > start && self.data[end - 1] == b'\r' {
            end -= 1;
        }
        end
    }
}

/// The object number of `N G obj` whose `obj` is at `at`.
fn obj_number(data: &[u8], at: usize) -> Option<u32> {
    if data.get(at + 3).is_some_and(|&b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let mut i = at;
    let mut fields = [0u64; 2];
    for field in &mut fields {
        let ws_end = i;
        while i > 0 && is_ws(data[i - 1]) {
            i -= 1;
        }
        if i == ws_end {
            return None;
        }
        let digits_end = i;
        while i > 0 && data[i - 1].is_ascii_digit() && digits_end - i < 10 {
            i -= 1;
        }
        if i == digits_end {
            return None;
        }
        *field = std::str::from_utf8(&data[i..digits_end])
            .ok()?
            .parse()
            .ok()?;
    }
    u32::try_from(fields[1]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::samples;

    #[test]
    fn finds_objects_streams_and_pages() {
        let pdf = samples::pdf_flate("136-410-132");
        let doc = Doc::index(&pdf, &mut Budget::unlimited()).unwrap();
        assert_eq!(doc.pages, vec![3]);
        let (_, content) = doc.stream(4, &mut Budget::unlimited()).unwrap().unwrap();
        assert!(content.windows(11).any(|w| w == b"136-410-132"));
    }

    #[test]
    fn object_streams_are_unpacked() {
        let pdf = samples::pdf_object_stream("x");
        let doc = Doc::index(&pdf, &mut Budget::unlimited()).unwrap();
        assert_eq!(doc.pages, vec![3]);
        assert!(
            doc.get(4)
                .and_then(|f| f.as_dict().cloned())
                .is_some_and(|d| d.name_is(b"Subtype", b"Type0"))
        );
    }

    #[test]
    fn wrong_length_and_missing_endstream() {
        let pdf = b"%PDF-1.4\n1 0 obj << /Length 999 >> stream\nBT (a) Tj ET\nendstream endobj\n\
                    2 0 obj << /Length 3 >> stream\nBT (b) Tj ET";
        let doc = Doc::index(pdf, &mut Budget::unlimited()).unwrap();
        let (_, one) = doc.stream(1, &mut Budget::unlimited()).unwrap().unwrap();
        assert_eq!(one, b"BT (a) Tj ET");
        let (_, two) = doc.stream(2, &mut Budget::unlimited()).unwrap().unwrap();
        assert_eq!(two, b"BT (b) Tj ET");
    }

    #[test]
    fn obj_headers() {
        assert_eq!(obj_number(b"12 0 obj", 5), Some(12));
        assert_eq!(obj_number(b"x12 0obj", 5), None);
        assert_eq!(obj_number(b"12 0 object", 5), None);
        assert_eq!(obj_number(b"obj", 0), None);
    }
}
