//! Test messages for content coverage (issue 10): identifiers hidden in every kind
//! of container, and controls without identifiers. Everything is generated here.

use base64::Engine as _;
use std::io::Write;

/// `n` valid IRD numbers (mod-11 check), written `049-091-850`.
pub fn irds(n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut x: u64 = 49_091_850;
    while out.len() < n {
        x += 7_919;
        let s = format!("{x:09}");
        if sge_milter::scan::dlp::validators::nz_ird(s.as_bytes()) {
            out.push(format!("{}-{}-{}", &s[..3], &s[3..6], &s[6..]));
        }
    }
    out
}

/// A CSV of 15 staff with their IRD numbers (the header names the column).
pub fn ird_csv() -> String {
    let mut s = String::from("name,IRD number\n");
    for (i, ird) in irds(15).iter().enumerate() {
        s.push_str(&format!("Staff member {i},{ird}\n"));
    }
    s
}

/// A CSV of counts: numbers, no identifiers.
pub fn counts_csv() -> String {
    let mut s = String::from("region,visits,complaints\n");
    for i in 0..15 {
        s.push_str(&format!("Region {i},{},{}\n", 1000 + i * 37, i * 3));
    }
    s
}

/// An attachment: declared type, file name, content bytes.
pub struct Attachment<'a> {
    pub content_type: &'a str,
    pub filename: &'a str,
    pub data: Vec<u8>,
}

/// `[UNCLASSIFIED]` outbound mail with a short text body and base64 attachments.
pub fn with_attachments(atts: &[Attachment<'_>]) -> Vec<u8> {
    let mut m = String::from(
        "From: alice@agency.example\r\nTo: bob@external.example\r\n\
         Subject: quarterly figures [UNCLASSIFIED]\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n\
         --b0\r\nContent-Type: text/plain\r\n\r\nPlease see attached.\r\n",
    );
    for a in atts {
        m.push_str(&format!(
            "--b0\r\nContent-Type: {}; name=\"{}\"\r\nContent-Disposition: attachment; filename=\"{}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            a.content_type,
            a.filename,
            a.filename,
            base64_lines(&a.data)
        ));
    }
    m.push_str("--b0--\r\n");
    m.into_bytes()
}

pub fn attach(content_type: &str, filename: &str, data: impl Into<Vec<u8>>) -> Vec<u8> {
    with_attachments(&[Attachment {
        content_type,
        filename,
        data: data.into(),
    }])
}

pub fn base64_lines(data: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(data);
    b.as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A zip whose members carry the encryption flag (what a password sets).
pub fn encrypted_zip() -> Vec<u8> {
    let mut z = zip(&[("secret.csv", ird_csv().as_bytes())]);
    for sig in [&b"PK\x03\x04"[..], &b"PK\x01\x02"[..]] {
        let mut from = 0;
        while let Some(at) = memchr::memmem::find(&z[from..], sig) {
            let at = from + at;
            z[at + if sig[2] == 3 { 6 } else { 8 }] |= 1;
            from = at + 4;
        }
    }
    z
}

/// A minimal docx: the text split into Word runs, as Word writes it.
pub fn docx(text: &str) -> Vec<u8> {
    let mut xml = String::from("<w:document><w:body>");
    for line in text.lines() {
        let (a, b) = line.split_at(line.len() / 2);
        xml.push_str(&format!(
            "<w:p><w:r><w:t>{a}</w:t></w:r><w:r><w:t>{b}</w:t></w:r></w:p>"
        ));
    }
    xml.push_str("</w:body></w:document>");
    zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("word/document.xml", xml.as_bytes()),
    ])
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// UTF-16LE, with or without a byte order mark.
pub fn utf16le(text: &str, bom: bool) -> Vec<u8> {
    let mut out = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
    for u in text.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

/// A PNG-like picture: the PNG signature, then binary data.
pub fn picture() -> Vec<u8> {
    let mut p = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    p.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    p
}

/// A PDF that declares encryption (its trailer names an /Encrypt dictionary).
pub fn encrypted_pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n2 0 obj\n<< /Filter /Standard /V 2 /R 3 /O <00> /U <00> /P -4 >>\nendobj\ntrailer\n<< /Root 1 0 R /Encrypt 2 0 R >>\n%%EOF\n".to_vec()
}

/// DER start of a CMS EnvelopedData (what an S/MIME encrypted .p7m holds).
pub fn cms_enveloped() -> Vec<u8> {
    let mut d = b"\x30\x80\x06\x09\x2A\x86\x48\x86\xF7\x0D\x01\x07\x03\xA0\x80\x30\x80\x02\x01\x00"
        .to_vec();
    d.extend((0..600u32).map(|i| (i.wrapping_mul(97) ^ 0x5A) as u8));
    d
}

/// Text (base64-encoded) at the bottom of `depth` nested multiparts.
pub fn deeply_nested(depth: usize, text: &str) -> Vec<u8> {
    let mut m = String::from(
        "From: alice@agency.example\r\nTo: bob@external.example\r\n\
         Subject: nested [UNCLASSIFIED]\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"n0\"\r\n\r\n",
    );
    for d in 1..depth {
        m.push_str(&format!(
            "--n{}\r\nContent-Type: multipart/mixed; boundary=\"n{d}\"\r\n\r\n",
            d - 1
        ));
    }
    m.push_str(&format!(
        "--n{}\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        depth - 1,
        base64_lines(text.as_bytes())
    ));
    for d in (0..depth).rev() {
        m.push_str(&format!("--n{d}--\r\n"));
    }
    m.into_bytes()
}

/// Identifiers in the multipart preamble, which no mail client shows.
pub fn in_preamble(text: &str) -> Vec<u8> {
    format!(
        "From: alice@agency.example\r\nTo: bob@external.example\r\n\
         Subject: preamble [UNCLASSIFIED]\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n{text}\r\n\
         --b0\r\nContent-Type: text/plain\r\n\r\nNothing to see.\r\n--b0--\r\n"
    )
    .into_bytes()
}

/// Identifiers in an `X-` header field.
pub fn in_x_header(value: &str) -> Vec<u8> {
    format!(
        "From: alice@agency.example\r\nTo: bob@external.example\r\n\
         Subject: header [UNCLASSIFIED]\r\nX-Export: {value}\r\n\r\nNothing to see.\r\n"
    )
    .into_bytes()
}

/// An S/MIME encrypted message (application/pkcs7-mime; smime-type=enveloped-data).
pub fn smime_encrypted() -> Vec<u8> {
    format!(
        "From: alice@agency.example\r\nTo: bob@external.example\r\n\
         Subject: encrypted [UNCLASSIFIED]\r\nMIME-Version: 1.0\r\n\
         Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=\"smime.p7m\"\r\n\
         Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64_lines(&cms_enveloped())
    )
    .into_bytes()
}
