//! Attachments: the bytes as a base64 attachment of a type picked by the first byte
//! (zip/Office, PDF, RTF, HTML, OLE, octet-stream), so the archive and document
//! extractors the pipeline routes parts to read them.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use sge_milter::envelope::Direction;
use sge_milter_fuzz::scan;

const TYPES: &[(&str, &str)] = &[
    ("application/zip", "a.zip"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "a.docx",
    ),
    ("application/pdf", "a.pdf"),
    ("application/rtf", "a.rtf"),
    ("text/html", "a.html"),
    ("application/msword", "a.doc"),
    ("application/gzip", "a.gz"),
    ("application/octet-stream", "a.bin"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, content)) = data.split_first() else {
        return;
    };
    let (ctype, name) = TYPES[usize::from(first) % TYPES.len()];
    let b64 = base64::engine::general_purpose::STANDARD.encode(content);
    let mut raw = format!(
        "From: alice@agency.govt.nz\r\nTo: bob@example.com\r\nSubject: x [UNCLASSIFIED]\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b\r\nContent-Type: {ctype}; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    for line in b64.as_bytes().chunks(76) {
        raw.extend_from_slice(line);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"--b--\r\n");
    let direction = if first & 0x80 == 0 {
        Direction::Outbound
    } else {
        Direction::Inbound
    };
    scan(direction, &raw);
});
