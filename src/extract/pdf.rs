//! PDF text extraction: the text that the content streams of every page (and the
//! form XObjects they draw) show, decoded through each font's ToUnicode CMap or
//! simple encoding. Encrypted files are [`Uninspectable::EncryptedPdf`].
//!
//! Hand-written rather than `lopdf` 0.47 (the well-kept candidate), because:
//! - lopdf loads the whole document through its cross-reference table, and on a
//!   damaged or hostile table either fails or rebuilds it; this tolerant scanner
//!   finds every `N G obj` itself, so truncated and incrementally updated files
//!   still give their text (DLP must read what a viewer would show, and more);
//! - lopdf's `extract_text` ignores form XObjects and handles ToUnicode only for
//!   some fonts, and its decoders grow output without a budget;
//! - it is a large dependency (nom, rayon, chrono, crypto) for one use.
//!
//! Throughput on a text-heavy 5 MB PDF is in `benches/extract.rs` and the notes
//! of docs/dlp.md (§ Extractors).

mod content;
mod filters;
mod font;
mod index;
mod lexer;
mod position;
mod widths;

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use content::{Resources, TextOut};
use font::Font;
use index::Doc;
use lexer::{Dict, Obj};
use widths::Widths;

use super::{Budget, Uninspectable};

/// Form XObjects inside form XObjects, at most.
const MAX_FORM_DEPTH: usize = 8;

/// Parent links followed to find a page's inherited /Resources.
const MAX_PARENTS: usize = 32;

/// Text shown by the content streams of a PDF, in page order, passed to `out` in
/// pieces; runs that were separate on the page are separated by a space or newline.
pub fn extract(
    data: &[u8],
    budget: &mut Budget,
    out: &mut dyn FnMut(&str),
) -> Result<(), Uninspectable> {
    let doc = Doc::index(data, budget)?;
    let mut walker = Walker {
        doc: &doc,
        fonts: HashMap::new(),
        done: HashSet::new(),
    };
    let mut text = TextOut::new(budget, out);
    for &page in &doc.pages {
        walker.page(page, &mut text)?;
    }
    if doc.pages.is_empty() {
        // No page tree that can be read: run every stream that looks like content.
        for &num in &doc.streams {
            walker.orphan(num, &mut text)?;
        }
    }
    text.flush()
}

struct Walker<'d> {
    doc: &'d Doc<'d>,
    /// Fonts by object number, each parsed once.
    fonts: HashMap<u32, Rc<Font>>,
    /// Content streams and forms already run: each is read once, however many
    /// pages draw it (bounds the work of a hostile file).
    done: HashSet<u32>,
}

impl Walker<'_> {
    fn page(&mut self, num: u32, text: &mut TextOut) -> Result<(), Uninspectable> {
        let Some(Obj::Dict(page)) = self.doc.get(num) else {
            return Ok(());
        };
        let resources = self.inherited_resources(&page);
        let mut content = Vec::new();
        for stream in self.content_refs(&page) {
            if !self.done.insert(stream) {
                continue;
            }
            if let Some((_, data)) = self.doc.stream(stream, text.budget)? {
                content.extend_from_slice(&data);
                content.push(b'\n');
            }
        }
        self.run(&content, resources, 0, text)
    }

    fn run(
        &mut self,
        content: &[u8],
        resources: Option<Dict>,
        depth: usize,
        text: &mut TextOut,
    ) -> Result<(), Uninspectable> {
        let mut res = PageResources {
            walker: self,
            resources,
            depth,
        };
        content::run(content, &mut res, text)?;
        text.newline();
        Ok(())
    }

    fn orphan(&mut self, num: u32, text: &mut TextOut) -> Result<(), Uninspectable> {
        if self.done.contains(&num) {
            return Ok(());
        }
        let Some(Obj::Dict(dict)) = self.doc.get(num) else {
            return Ok(());
        };
        // Fonts, images, object and xref streams, metadata: typed, and no content.
        if dict.get(b"Type").is_some()
            || dict.get(b"Subtype").is_some()
            || dict.get(b"Length1").is_some()
        {
            return Ok(());
        }
        let Some((_, data)) = self.doc.stream(num, text.budget)? else {
            return Ok(());
        };
        if memchr::memmem::find(&data, b"BT").is_some() {
            self.run(&data, None, 0, text)?;
        }
        Ok(())
    }

    /// /Resources of the page, or of the nearest ancestor in the page tree.
    fn inherited_resources(&self, page: &Dict) -> Option<Dict> {
        let mut node = page.clone();
        for _ in 0..MAX_PARENTS {
            if let Some(r) = self.doc.resolve_dict(node.get(b"Resources")) {
                return Some(r);
            }
            node = self.doc.resolve_dict(node.get(b"Parent"))?;
        }
        None
    }

    /// Object numbers of the page's content streams (/Contents: a reference, an
    /// array of them, or a reference to such an array).
    fn content_refs(&self, page: &Dict) -> Vec<u32> {
        let direct = match page.get(b"Contents") {
            Some(Obj::Ref(n)) => match self.doc.get(*n) {
                Some(Obj::Array(items)) => items,
                _ => return vec![*n],
            },
            Some(Obj::Array(items)) => items.clone(),
            _ => return Vec::new(),
        };
        direct
            .iter()
            .filter_map(|o| if let Obj::Ref(n) = o { Some(*n) } else { None })
            .collect()
    }

    fn font(&mut self, entry: &Obj, budget: &mut Budget) -> Result<Rc<Font>, Uninspectable> {
        let num = if let Obj::Ref(n) = entry {
            Some(*n)
        } else {
            None
        };
        if let Some(f) = num.and_then(|n| self.fonts.get(&n)) {
            return Ok(Rc::clone(f));
        }
        let dict = self.doc.resolve_dict(Some(entry)).unwrap_or_default();
        let cmap = match dict.get(b"ToUnicode") {
            Some(Obj::Ref(n)) => self.doc.stream(*n, budget)?.map(|(_, d)| d),
            _ => None,
        };
        let font = Rc::new(Font::new(&dict, cmap.as_deref(), self.widths(&dict)));
        if let Some(n) = num {
            self.fonts.insert(n, Rc::clone(&font));
        }
        Ok(font)
    }
}

impl Walker<'_> {
    /// The glyph widths of a font; for a composite font only when its codes are
    /// CIDs (Identity-H/V), where /W applies to them directly.
    fn widths(&self, font: &Dict) -> Option<Widths> {
        let array = |o: Option<&Obj>| match self.doc.resolve(o?) {
            Some(Obj::Array(a)) => Some(a),
            _ => None,
        };
        if !font.name_is(b"Subtype", b"Type0") {
            let first = font.get(b"FirstChar").and_then(Obj::as_int);
            return Widths::simple(first, array(font.get(b"Widths")).as_deref(), 0.0);
        }
        let identity = matches!(
            font.get(b"Encoding").and_then(Obj::as_name),
            Some(b"Identity-H" | b"Identity-V")
        );
        let descendant = array(font.get(b"DescendantFonts"))?;
        let cid_font = self.doc.resolve_dict(descendant.first())?;
        let default = cid_font.get(b"DW").and_then(Obj::as_f64);
        identity.then(|| Widths::cid(default, array(cid_font.get(b"W")).as_deref()))
    }
}

/// The resources in force while one content stream or form runs.
struct PageResources<'w, 'd> {
    walker: &'w mut Walker<'d>,
    resources: Option<Dict>,
    depth: usize,
}

impl PageResources<'_, '_> {
    fn entry(&self, category: &[u8], name: &[u8]) -> Option<Obj> {
        let resources = self.resources.as_ref()?;
        let table = self.walker.doc.resolve_dict(resources.get(category))?;
        table.get(name).cloned()
    }
}

impl Resources for PageResources<'_, '_> {
    fn font(&mut self, name: &[u8], budget: &mut Budget) -> Result<Rc<Font>, Uninspectable> {
        match self.entry(b"Font", name) {
            Some(entry) => self.walker.font(&entry, budget),
            None => Ok(Rc::new(Font::default())),
        }
    }

    fn form(&mut self, name: &[u8], text: &mut TextOut) -> Result<(), Uninspectable> {
        let Some(Obj::Ref(num)) = self.entry(b"XObject", name) else {
            return Ok(());
        };
        if self.depth >= MAX_FORM_DEPTH || !self.walker.done.insert(num) {
            return Ok(());
        }
        // Images are skipped before their data is decoded.
        let is_form = self
            .walker
            .doc
            .get(num)
            .and_then(|o| o.as_dict().map(|d| d.name_is(b"Subtype", b"Form")));
        if is_form != Some(true) {
            return Ok(());
        }
        let Some((dict, data)) = self.walker.doc.stream(num, text.budget)? else {
            return Ok(());
        };
        let resources = self
            .walker
            .doc
            .resolve_dict(dict.get(b"Resources"))
            .or_else(|| self.resources.clone());
        self.walker.run(&data, resources, self.depth + 1, text)
    }
}

#[cfg(test)]
mod tests;
