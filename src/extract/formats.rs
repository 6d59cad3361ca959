//! Documents whose text needs an extractor: PDF, RTF and legacy Office (OLE2).
//! One entry point for the router, with third-party panics caught.

use super::sniff::Kind;
use super::{Budget, Uninspectable, ole, pdf, rtf};

/// Extracts the text of a document of `kind` into `out`. A panic inside an
/// extractor (they parse hostile input, partly with third-party crates) is caught
/// and makes the document uninspectable instead of failing the message.
pub fn extract(
    kind: Kind,
    data: &[u8],
    budget: &mut Budget,
    out: &mut dyn FnMut(&str),
) -> Result<(), Uninspectable> {
    let run = std::panic::AssertUnwindSafe(|| match kind {
        Kind::Pdf => pdf::extract(data, budget, out),
        Kind::Rtf => rtf::extract(data, budget, out),
        Kind::Ole => ole::extract(data, budget, out),
        _ => Err(Uninspectable::Unsupported("document")),
    });
    std::panic::catch_unwind(run).unwrap_or_else(|_| {
        Err(Uninspectable::Damaged(format!(
            "{kind:?} (extractor failed)"
        )))
    })
}
