//! Documents whose text needs an extractor: PDF, RTF and legacy Office (OLE2).
//! One entry point for the router, with third-party panics caught.

use super::sniff::Kind;
use super::{Budget, Uninspectable};

/// `EncryptedPackage` in UTF-16LE: the stream a password-protected docx/xlsx/pptx
/// carries inside its compound file.
const ENCRYPTED_PACKAGE: &[u8] = b"E\0n\0c\0r\0y\0p\0t\0e\0d\0P\0a\0c\0k\0a\0g\0e\0";

/// Extracts the text of a document of `kind` into `out`. A panic inside an
/// extractor (they parse hostile input with third-party crates) is caught and
/// makes the document uninspectable instead of failing the message.
pub fn extract(
    kind: Kind,
    data: &[u8],
    budget: &mut Budget,
    out: &mut dyn FnMut(&str),
) -> Result<(), Uninspectable> {
    let run = std::panic::AssertUnwindSafe(|| dispatch(kind, data, budget, out));
    std::panic::catch_unwind(run).unwrap_or_else(|_| {
        Err(Uninspectable::Damaged(format!(
            "{kind:?} (extractor failed)"
        )))
    })
}

fn dispatch(
    kind: Kind,
    data: &[u8],
    _budget: &mut Budget,
    out: &mut dyn FnMut(&str),
) -> Result<(), Uninspectable> {
    match kind {
        // Until the PDF extractor lands: encrypted or not, a PDF is not read
        // (uninspectable, so held outbound: fail closed).
        Kind::Pdf if memchr::memmem::find(data, b"/Encrypt").is_some() => {
            Err(Uninspectable::EncryptedPdf)
        }
        Kind::Pdf => Err(Uninspectable::Unsupported("PDF")),
        Kind::Ole if memchr::memmem::find(data, ENCRYPTED_PACKAGE).is_some() => {
            Err(Uninspectable::EncryptedOffice)
        }
        Kind::Ole => Err(Uninspectable::Unsupported("legacy Office (OLE2)")),
        // RTF keeps its text literally between control words: until the RTF
        // extractor lands, control words become spaces and the rest is read.
        Kind::Rtf => {
            out(&rtf_words_to_spaces(&String::from_utf8_lossy(data)));
            Ok(())
        }
        _ => Err(Uninspectable::Unsupported("document")),
    }
}

/// `\\word123 ` control words and group braces replaced by a space (interim).
fn rtf_words_to_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_alphabetic) => {
                while chars
                    .next_if(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .is_some()
                {}
                chars.next_if_eq(&' ');
                out.push(' ');
            }
            '{' | '}' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}
