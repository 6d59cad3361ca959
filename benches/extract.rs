//! Extraction throughput, in bytes of input per second: a text-heavy 5 MB PDF
//! (FlateDecode content streams, kerned TJ arrays), a 5 MB RTF document, 5 MB of
//! HTML fed in 64 KiB chunks, and a 2 MB Word 97 document (OLE2).
//!
//! `cargo bench --bench extract -- pdf` (or rtf, html, ole).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sge_milter::extract::html::HtmlText;
use sge_milter::extract::{Budget, ole, pdf, rtf, samples};

const MB5: usize = 5_000_000;

/// Report-like prose with an identifier every few lines.
fn prose(len: usize) -> String {
    const WORDS: &[&str] = &[
        "the",
        "taxpayer",
        "reported",
        "income",
        "for",
        "period",
        "ending",
        "March",
        "and",
        "assessment",
        "under",
        "section",
        "of",
        "Act",
        "records",
        "were",
        "reviewed",
        "café",
    ];
    let mut s = String::with_capacity(len + 100);
    let mut i = 0usize;
    while s.len() < len {
        s.push_str(WORDS[(i * 7 + i / 13) % WORDS.len()]);
        i += 1;
        s.push(if i.is_multiple_of(15) { '\n' } else { ' ' });
        if i.is_multiple_of(100) {
            s.push_str("IRD number 136-410-132\n");
        }
    }
    s
}

fn html(len: usize) -> String {
    let mut s = String::from("<html><head><style>td { padding: 2px }</style></head><body>");
    let mut i = 0u32;
    while s.len() < len {
        i += 1;
        s.push_str(&format!(
            "<p class=\"row\">Record {i} &ndash; the taxpayer&rsquo;s <b>assessment</b> was \
             reviewed &amp; closed.</p><!-- row {i} --><table><tr><td>IRD</td>\
             <td>136&#45;410&#45;132</td><td>caf&eacute;</td></tr></table>\n"
        ));
    }
    s.push_str("</body></html>");
    s
}

fn count(out: &mut usize) -> impl FnMut(&str) + '_ {
    |t| *out += t.len()
}

fn bench_pdf(c: &mut Criterion) {
    let doc = samples::pdf_text_heavy(MB5);
    let mut g = c.benchmark_group("pdf");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(doc.len() as u64));
    g.bench_function("text_heavy_5mb", |b| {
        b.iter(|| {
            let mut n = 0;
            pdf::extract(&doc, &mut Budget::unlimited(), &mut count(&mut n)).unwrap();
            n
        })
    });
    g.finish();
}

fn bench_rtf(c: &mut Criterion) {
    let doc = samples::rtf(&prose(MB5));
    let mut g = c.benchmark_group("rtf");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(doc.len() as u64));
    g.bench_function("5mb", |b| {
        b.iter(|| {
            let mut n = 0;
            rtf::extract(&doc, &mut Budget::unlimited(), &mut count(&mut n)).unwrap();
            n
        })
    });
    g.finish();
}

fn bench_html(c: &mut Criterion) {
    let doc = html(MB5);
    let mut g = c.benchmark_group("html");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(doc.len() as u64));
    g.bench_function("5mb_64k_chunks", |b| {
        b.iter(|| {
            let mut n = 0;
            let mut h = HtmlText::new();
            let mut rest = doc.as_str();
            while !rest.is_empty() {
                let mut cut = rest.len().min(64 * 1024);
                while !rest.is_char_boundary(cut) {
                    cut -= 1;
                }
                h.feed(&rest[..cut], &mut count(&mut n));
                rest = &rest[cut..];
            }
            h.finish(&mut count(&mut n));
            n
        })
    });
    g.finish();
}

fn bench_ole(c: &mut Criterion) {
    let doc = samples::ole_doc(&prose(1_000_000));
    let mut g = c.benchmark_group("ole");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(doc.len() as u64));
    g.bench_function("word_2mb", |b| {
        b.iter(|| {
            let mut n = 0;
            ole::extract(&doc, &mut Budget::unlimited(), &mut count(&mut n)).unwrap();
            n
        })
    });
    g.finish();
}

criterion_group!(extract, bench_pdf, bench_rtf, bench_html, bench_ole);
criterion_main!(extract);
