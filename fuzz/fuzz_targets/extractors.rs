//! The document extractors on their own: the first byte picks PDF, RTF, OLE2 or
//! HTML, the rest is the document. Each must return text or `Uninspectable` within
//! its budget, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sge_milter::extract::{Budget, html::HtmlText, ole, pdf, rtf};
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    sge_milter_fuzz::tolerate_contained_panics();
    let Some((&first, doc)) = data.split_first() else {
        return;
    };
    let mut budget = Budget::new(8 << 20, Duration::from_secs(10));
    let mut chars = 0usize;
    let mut out = |s: &str| chars += s.len();
    let _ = match first % 4 {
        0 => pdf::extract(doc, &mut budget, &mut out),
        1 => rtf::extract(doc, &mut budget, &mut out),
        2 => ole::extract(doc, &mut budget, &mut out),
        _ => {
            let text = String::from_utf8_lossy(doc);
            let mut h = HtmlText::new();
            // Two chunks split at a char boundary, as the MIME walker feeds them.
            let mut mid = text.len() / 2;
            while !text.is_char_boundary(mid) {
                mid -= 1;
            }
            h.feed(&text[..mid], &mut out);
            h.feed(&text[mid..], &mut out);
            h.finish(&mut out);
            Ok(())
        }
    };
});
