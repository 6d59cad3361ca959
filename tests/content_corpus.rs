//! Content coverage (issue 10) through `sge-milter scan --json`: 15 valid IRD
//! numbers with the keyword in every container is refused or held outbound; the
//! same container without identifiers passes; content that cannot be read is
//! held outbound and tagged inbound, naming the part and the reason.

mod common;

use common::corpus::*;
use common::scan_json;
use serde_json::Value;

const OUT: &[&str] = &["--direction", "outbound", "--to", "bob@external.example"];
const IN: &[&str] = &["--direction", "inbound", "--to", "bob@agency.example"];

fn rules(r: &Value) -> Vec<String> {
    r["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|f| f["rule"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Refused or held because DLP found the identifiers (not for another reason).
fn assert_caught(name: &str, eml: &[u8]) {
    let r = scan_json(OUT, eml);
    let ids = rules(&r);
    assert!(
        matches!(r["action"].as_str(), Some("reject" | "quarantine")),
        "{name}: {r}"
    );
    assert!(
        ids.iter().any(|id| id.starts_with("dlp.")),
        "{name}: no DLP finding: {r}"
    );
    assert!(
        !ids.iter().any(|id| id == "content.uninspectable"),
        "{name}: {r}"
    );
}

fn assert_passes(name: &str, eml: &[u8]) {
    let r = scan_json(OUT, eml);
    assert_eq!(r["action"], "accept", "{name}: {r}");
}

#[test]
fn csv_whatever_its_label() {
    for ct in [
        "application/octet-stream",
        "application/vnd.ms-excel",
        "text/csv",
    ] {
        assert_caught(ct, &attach(ct, "staff.csv", ird_csv()));
        assert_passes(ct, &attach(ct, "counts.csv", counts_csv()));
    }
    // A misleading name and type change nothing either.
    assert_caught("csv as png", &attach("image/png", "photo.png", ird_csv()));
}

#[test]
fn json_and_rtf() {
    let json = format!(
        "{{\"staff\": [{}]}}",
        irds(15)
            .iter()
            .map(|i| format!("{{\"IRD number\": \"{i}\"}}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_caught("json", &attach("application/json", "staff.json", json));
    assert_passes(
        "json",
        &attach("application/json", "counts.json", "{\"visits\": [1, 2, 3]}"),
    );
    let rtf = format!(
        "{{\\rtf1\\ansi {{\\b Staff}}\\par {}}}",
        ird_csv().replace('\n', "\\par ")
    );
    assert_caught("rtf", &attach("application/rtf", "staff.rtf", rtf));
    let agenda = "{\\rtf1\\ansi Agenda\\par 1. Welcome\\par 2. Budget\\par}";
    assert_passes("rtf", &attach("application/rtf", "agenda.rtf", agenda));
}

#[test]
fn docx_zip_in_zip_and_gzip() {
    let doc = docx(&ird_csv());
    assert_caught(
        "docx",
        &attach("application/octet-stream", "staff.docx", doc.clone()),
    );
    let outer = zip(&[("reports/staff.docx", &doc)]);
    assert_caught(
        "docx in zip",
        &attach("application/zip", "reports.zip", outer.clone()),
    );
    let nested = zip(&[("inner.zip", &outer)]);
    assert_caught("zip in zip", &attach("application/zip", "all.zip", nested));
    let counts = zip(&[("counts.docx", &docx(&counts_csv()))]);
    assert_passes(
        "docx in zip",
        &attach("application/zip", "counts.zip", counts),
    );
    let gz = gzip(ird_csv().as_bytes());
    assert_caught("gzip csv", &attach("application/gzip", "staff.csv.gz", gz));
    let gz = gzip(counts_csv().as_bytes());
    assert_passes("gzip csv", &attach("application/gzip", "counts.csv.gz", gz));
}

#[test]
fn archives_past_the_depth_limit_are_uninspectable() {
    let mut z = zip(&[("staff.csv", ird_csv().as_bytes())]);
    for i in 0..3 {
        z = zip(&[(&format!("level{i}.zip"), &z[..])]);
    }
    let r = scan_json(OUT, &attach("application/zip", "deep.zip", z));
    assert_eq!(r["action"], "quarantine", "{r}");
    assert!(
        r.to_string().contains("archives nested deeper than 3"),
        "{r}"
    );
}

#[test]
fn nested_base64_preamble_and_header() {
    let text = ird_csv();
    assert_caught("30 multiparts deep", &deeply_nested(30, &text));
    // Held for its structure (outbound malformed_mime_action), not for DLP.
    let r = scan_json(OUT, &deeply_nested(30, &counts_csv()));
    assert_eq!(rules(&r), vec!["content.mime_depth".to_string()], "{r}");
    assert_caught("preamble", &in_preamble(&text));
    assert_passes(
        "preamble",
        &in_preamble("This is a multi-part message in MIME format."),
    );
    let list = format!("IRD numbers {}", irds(15).join(" "));
    assert_caught("x-header", &in_x_header(&list));
    assert_passes("x-header", &in_x_header("export 2026-12-02 batch 17"));
}

#[test]
fn utf16_and_html() {
    for bom in [true, false] {
        let data = utf16le(&ird_csv(), bom);
        assert_caught(
            "utf-16",
            &attach("application/octet-stream", "staff.txt", data),
        );
        let data = utf16le(&counts_csv(), bom);
        assert_passes(
            "utf-16",
            &attach("application/octet-stream", "counts.txt", data),
        );
    }
    let html = format!(
        "<html><body><table><tr><th>IRD number</th></tr>{}</table></body></html>",
        irds(15)
            .iter()
            .map(|i| format!("<tr><td>{i}</td></tr>"))
            .collect::<String>()
    );
    assert_caught("html", &attach("text/html", "staff.html", html));
    assert_passes(
        "html",
        &attach("text/html", "agenda.html", "<p>Agenda: 1. Welcome</p>"),
    );
}

#[test]
fn pdf_plain_flate_and_tounicode() {
    use sge_milter::extract::samples;
    let text = ird_csv();
    let agenda = "Agenda\n1. Welcome\n2. Budget review\n3. Close";
    for (name, make) in [
        ("pdf plain", samples::pdf_plain as fn(&str) -> Vec<u8>),
        ("pdf flate", samples::pdf_flate),
        ("pdf tounicode", samples::pdf_tounicode),
        ("pdf object stream", samples::pdf_object_stream),
    ] {
        assert_caught(name, &attach("application/pdf", "staff.pdf", make(&text)));
        // Labelled as anything: still a PDF.
        assert_caught(
            name,
            &attach("application/octet-stream", "x.bin", make(&text)),
        );
        assert_passes(name, &attach("application/pdf", "agenda.pdf", make(agenda)));
    }
    let zipped = zip(&[("staff.pdf", &samples::pdf_flate(&text)[..])]);
    assert_caught("pdf in zip", &attach("application/zip", "pdfs.zip", zipped));
}

/// A simple font that renames its digit glyphs: names from the Adobe Glyph List
/// are read; names that say nothing about the text (`/g0`) make the PDF
/// uninspectable, held outbound, instead of giving garbage to the scanners.
#[test]
fn pdf_glyph_names_are_read_or_held() {
    use sge_milter::extract::samples;
    let with_differences = |names: &str| {
        let pdf = samples::pdf_plain(&ird_csv());
        let from: &[u8] = b"/BaseFont /Helvetica /Encoding /WinAnsiEncoding";
        let at = memchr::memmem::find(&pdf, from).expect("the sample names its font");
        let to = format!("/BaseFont /Helvetica /Encoding << /Differences [48 {names}] >>");
        // Objects are found by scanning, not through the xref: offsets may move.
        [&pdf[..at], to.as_bytes(), &pdf[at + from.len()..]].concat()
    };
    let agl = with_differences("/zero /one /two /three /four /five /six /seven /eight /nine");
    assert_caught(
        "AGL digit names",
        &attach("application/pdf", "staff.pdf", agl),
    );
    let opaque = with_differences("/g0 /g1 /g2 /g3 /g4 /g5 /g6 /g7 /g8 /g9");
    let out = scan_json(OUT, &attach("application/pdf", "staff.pdf", opaque));
    assert_eq!(out["action"], "quarantine", "{out}");
    let detail = out["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["rule"] == "content.uninspectable"))
        .map(|f| f["detail"].to_string())
        .unwrap_or_default();
    assert!(
        detail.contains("staff.pdf")
            && detail.contains("glyphs whose names carry no Unicode value"),
        "{out}"
    );
}

#[test]
fn legacy_office_and_extracted_rtf() {
    use sge_milter::extract::samples;
    let text = ird_csv();
    assert_caught(
        "ole doc",
        &attach("application/msword", "staff.doc", samples::ole_doc(&text)),
    );
    assert_passes(
        "ole doc",
        &attach(
            "application/msword",
            "counts.doc",
            samples::ole_doc(&counts_csv()),
        ),
    );
    assert_caught(
        "rtf sample",
        &attach("application/rtf", "staff.rtf", samples::rtf(&text)),
    );
    for (name, data, file) in [
        ("encrypted doc", samples::ole_encrypted(), "secret.doc"),
        (
            "encrypted docx",
            samples::ole_encrypted_package(),
            "secret.docx",
        ),
    ] {
        let r = scan_json(OUT, &attach("application/octet-stream", file, data));
        assert_eq!(r["action"], "quarantine", "{name}: {r}");
        assert!(
            r.to_string().contains("encrypted Office document"),
            "{name}: {r}"
        );
    }
}

#[test]
fn html_markup_and_entities_do_not_hide_identifiers() {
    // Digits split by tags and written as entities: the recipient reads them whole.
    let rows: String = irds(15)
        .iter()
        .map(|i| {
            let (a, b) = i.split_at(4);
            let b: String = b.chars().map(|c| format!("&#{};", c as u32)).collect();
            format!("<tr><td>{a}<b></b>{b}</td></tr>")
        })
        .collect();
    let html =
        format!("<html><body><p>IRD&nbsp;number list</p><table>{rows}</table></body></html>");
    assert_caught(
        "html entities",
        &attach("text/html", "staff.html", html.clone()),
    );
    let zipped = zip(&[("staff.htm", html.as_bytes())]);
    assert_caught("html in zip", &attach("application/zip", "web.zip", zipped));
}

/// Latin-1 and UTF-16BE without a label saying so: found by heuristics, read as text.
#[test]
fn latin1_and_utf16be() {
    let latin1 = |text: &str| -> Vec<u8> {
        format!("Num\u{e9}ro fiscal, {text}")
            .chars()
            .map(|c| u8::try_from(u32::from(c)).expect("Latin-1"))
            .collect()
    };
    let data = latin1(&ird_csv());
    assert!(std::str::from_utf8(&data).is_err(), "not UTF-8");
    assert_caught(
        "latin-1",
        &attach("application/octet-stream", "staff.csv", data),
    );
    assert_passes(
        "latin-1",
        &attach(
            "application/octet-stream",
            "counts.csv",
            latin1(&counts_csv()),
        ),
    );
    let be = |text: &str| -> Vec<u8> { text.encode_utf16().flat_map(u16::to_be_bytes).collect() };
    assert_caught(
        "utf-16be",
        &attach("application/octet-stream", "staff.txt", be(&ird_csv())),
    );
    assert_passes(
        "utf-16be",
        &attach("application/octet-stream", "counts.txt", be(&counts_csv())),
    );
}

#[test]
fn pictures_pass() {
    assert_passes("png", &attach("image/png", "photo.png", picture()));
    assert_passes(
        "png as octet-stream",
        &attach("application/octet-stream", "x.bin", picture()),
    );
}

/// Encrypted content: held outbound, tagged inbound, the part and reason named.
#[test]
fn encrypted_content_is_uninspectable() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "zip",
            attach("application/zip", "secret.zip", encrypted_zip()),
            "encrypted archive entry",
        ),
        (
            "pdf",
            attach("application/pdf", "secret.pdf", encrypted_pdf()),
            "encrypted PDF",
        ),
        ("s/mime", smime_encrypted(), "encrypted message (S/MIME)"),
        (
            "pgp/mime",
            pgp_mime_encrypted(),
            "encrypted message (PGP/MIME)",
        ),
    ];
    for (name, eml, reason) in cases {
        let out = scan_json(OUT, &eml);
        assert_eq!(out["action"], "quarantine", "{name}: {out}");
        let inbound = scan_json(IN, &eml);
        assert_eq!(inbound["action"], "tag", "{name}: {inbound}");
        let header = inbound["headers_added"]
            .as_array()
            .and_then(|h| h.iter().find(|h| h[0] == "X-SGE-Uninspectable"))
            .unwrap_or_else(|| panic!("{name}: no X-SGE-Uninspectable: {inbound}"));
        let value = header[1].as_str().unwrap();
        let file = if name == "s/mime" {
            "smime.p7m"
        } else if name == "pgp/mime" {
            "multipart/encrypted"
        } else if name == "zip" {
            "secret.zip"
        } else {
            "secret.pdf"
        };
        assert!(
            value.contains(file) && value.contains(reason),
            "{name}: {value}"
        );
        let detail = out["findings"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["rule"] == "content.uninspectable"))
            .map(|f| f["detail"].as_str().unwrap_or("").to_string())
            .unwrap_or_default();
        assert!(
            detail.contains(file) && detail.contains(reason),
            "{name}: {detail}"
        );
    }
}

/// A header longer than `[limits] max_header_line` is cut for decoding, but the
/// rest is still read: padding cannot push identifiers out of sight.
#[test]
fn identifiers_after_a_header_limit_are_read() {
    let padding = "x ".repeat(40 * 1024);
    let eml = in_x_header(&format!("{padding} IRD numbers {}", irds(15).join(" ")));
    assert_caught("past max_header_line", &eml);
}
