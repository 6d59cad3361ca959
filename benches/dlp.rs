//! DLP throughput with the default rules, straight into the scanner as the MIME
//! walker would feed it (64 KiB decoded chunks): (a) 10 MB of English prose with no
//! hits, (b) 10 MB of digit-dense CSV, (c) a 5 MB xlsx attachment (generated here),
//! (d) 10 MB adversarial bodies: one-digit groups joined by each separator pattern
//! (`1 1 1`, `1-1-1`, `1.1.1`, `1/1/1`, mixed, ...), to compare with the CSV.
//!
//! A counting global allocator prints the peak of live heap bytes while one body is
//! scanned (the body itself excluded), per body: `peak_heap dlp/<name> <bytes>`.

#[path = "../tests/dlp_support/mod.rs"]
mod dlp_support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sge_milter::config::content::ContentConfig;
use sge_milter::config::{EMBEDDED_RULES, RuleFile};
use sge_milter::envelope::{Direction, Envelope};
use sge_milter::extract::{Routed, Router};
use sge_milter::message::{ContentSink, PartInfo};
use sge_milter::policy::Finding;
use sge_milter::scan::dlp::DlpScanner;
use sge_milter::scan::{MessageFacts, Scanner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live heap bytes and their peak (for the memory figures).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters
// are updated on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            LIVE.fetch_sub(l.size(), Ordering::Relaxed);
            grew(new);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak live heap bytes above what was live before `f` ran.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

const CHUNK: usize = 64 * 1024;

fn scanner() -> Arc<DlpScanner> {
    let text = EMBEDDED_RULES
        .iter()
        .find(|(n, _)| *n == "dlp.toml")
        .map(|(_, t)| *t)
        .expect("embedded dlp.toml");
    let file = RuleFile {
        name: "dlp.toml",
        origin: "embedded:rules/dlp.toml".into(),
        text: text.into(),
    };
    Arc::new(DlpScanner::compile(&file).expect("default rules compile"))
}

fn envelope() -> Envelope {
    Envelope {
        direction: Some(Direction::Outbound),
        rcpts: vec!["someone@example.com".into()],
        ..Default::default()
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn prose(len: usize) -> String {
    const WORDS: &[&str] = &[
        "the",
        "ministry",
        "will",
        "review",
        "submissions",
        "before",
        "the",
        "committee",
        "meets",
        "and",
        "officials",
        "should",
        "prepare",
        "advice",
        "on",
        "options",
        "for",
        "regional",
        "councils,",
        "including",
        "funding",
        "arrangements",
        "that",
        "reflect",
        "community",
        "needs.",
        "Please",
        "note",
        "this",
        "is",
        "a",
        "draft",
        "paper",
        "with",
        "several",
        "open",
        "questions",
        "about",
        "timing",
        "and",
        "scope.",
    ];
    let mut rng = Rng(7);
    let mut s = String::with_capacity(len + 100);
    while s.len() < len {
        s.push_str(WORDS[(rng.next() % WORDS.len() as u64) as usize]);
        s.push(if rng.next().is_multiple_of(12) {
            '\n'
        } else {
            ' '
        });
    }
    s
}

fn csv(len: usize) -> String {
    let mut rng = Rng(11);
    let mut s = String::with_capacity(len + 200);
    s.push_str("id,account,amount,date,phone,reference,quantity\n");
    while s.len() < len {
        let r = rng.next();
        s.push_str(&format!(
            "{},{:09},{}.{:02},2024-{:02}-{:02},021{:07},{:016},{}\n",
            r % 100_000,
            rng.next() % 1_000_000_000,
            rng.next() % 100_000,
            r % 100,
            1 + r % 12,
            1 + r % 28,
            rng.next() % 10_000_000,
            rng.next() % 10_000_000_000_000_000,
            r % 1000
        ));
    }
    s
}

/// The adversarial bodies benchmarked, by name (see `dlp_support::filler`).
const ADVERSARIAL: [&str; 9] = [
    "space",
    "dash",
    "dot",
    "slash",
    "mixed",
    "long_digits",
    "alnum",
    "plus_space",
    "hash_dash",
];

/// Whether the command line's filter selects benchmark `id`: bodies are generated
/// and measured only when it does. The filter is read as criterion's usually are,
/// substrings joined by `|`.
fn selected(id: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty()
        || filters
            .iter()
            .flat_map(|f| f.split('|'))
            .any(|f| id.contains(f))
}

/// A minimal xlsx: a worksheet of numeric cells, compressed to about `len` bytes.
fn xlsx(len: usize) -> Vec<u8> {
    let mut rng = Rng(13);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("[Content_Types].xml", opts).expect("zip");
    w.write_all(b"<?xml version=\"1.0\"?><Types/>")
        .expect("zip");
    w.start_file("xl/worksheets/sheet1.xml", opts).expect("zip");
    w.write_all(b"<worksheet><sheetData>").expect("zip");
    let mut row: u64 = 0;
    loop {
        row += 1;
        let mut xml = format!("<row r=\"{row}\">");
        for col in ["A", "B", "C", "D", "E", "F"] {
            xml.push_str(&format!(
                "<c r=\"{col}{row}\"><v>{}</v></c>",
                rng.next() % 10_000_000_000
            ));
        }
        xml.push_str("</row>");
        w.write_all(xml.as_bytes()).expect("zip");
        // Deflate output lags; check the written size now and then.
        if row.is_multiple_of(5000) && w.get_ref().map_or(0, |c| c.get_ref().len()) >= len {
            break;
        }
    }
    w.write_all(b"</sheetData></worksheet>").expect("zip");
    w.finish().expect("zip").into_inner()
}

fn scan_text(s: &Arc<DlpScanner>, text: &str) -> Vec<Finding> {
    let env = envelope();
    let mut st = s.begin(&env).expect("rules apply outbound");
    let part = PartInfo {
        content_type: "text/plain".into(),
        is_text: true,
        ..Default::default()
    };
    st.part_start(&part);
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let mut end = (at + CHUNK).min(bytes.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        st.text(&part, &text[at..end]);
        at = end;
    }
    st.part_end(&part);
    let mut out = Vec::new();
    st.finish(&env, &mut MessageFacts::default(), &mut out);
    out
}

/// A binary part through the content router (sniff, unzip, XML text) into DLP.
fn scan_binary(s: &Arc<DlpScanner>, data: &[u8]) -> (Vec<Finding>, Vec<String>) {
    let env = envelope();
    let mut st = s.begin(&env).expect("rules apply outbound");
    let mut router = Router::new(Arc::new(ContentConfig::default()));
    let mut routed = Routed {
        router: &mut router,
        out: &mut *st,
    };
    let part = PartInfo {
        index: 1,
        content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".into(),
        filename: Some("data.xlsx".into()),
        ..Default::default()
    };
    routed.part_start(&part);
    for c in data.chunks(CHUNK) {
        routed.binary(&part, c);
    }
    routed.part_end(&part);
    // Containers are opened at the end of the message.
    router.finish(&mut *st);
    let mut out = Vec::new();
    st.finish(&env, &mut MessageFacts::default(), &mut out);
    (out, router.problems())
}

fn bench(c: &mut Criterion) {
    let s = scanner();
    let mut g = c.benchmark_group("dlp");
    g.sample_size(10);

    let text = prose(10 * 1000 * 1000);
    assert!(scan_text(&s, &text).is_empty(), "prose must have no hits");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("prose_10MB_no_hits", |b| b.iter(|| scan_text(&s, &text)));

    let text = csv(10 * 1000 * 1000);
    if selected("dlp/csv_10MB_digit_dense") {
        let (_, peak) = peak_heap(|| scan_text(&s, &text));
        println!("peak_heap dlp/csv_10MB_digit_dense {peak}");
    }
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("csv_10MB_digit_dense", |b| b.iter(|| scan_text(&s, &text)));
    drop(text);

    for name in ADVERSARIAL {
        let id = format!("sep_{name}_10MB");
        if !selected(&format!("dlp/{id}")) {
            continue;
        }
        let text = dlp_support::filler(name, 10 * 1000 * 1000);
        let (_, peak) = peak_heap(|| scan_text(&s, &text));
        println!("peak_heap dlp/{id} {peak}");
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(id.as_str(), |b| b.iter(|| scan_text(&s, &text)));
    }

    let data = xlsx(5 * 1000 * 1000);
    let (findings, problems) = scan_binary(&s, &data);
    assert!(
        problems.is_empty(),
        "xlsx must be inspectable: {problems:?}"
    );
    assert!(!findings.is_empty(), "xlsx identifiers must be found");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("xlsx_5MB", |b| b.iter(|| scan_binary(&s, &data)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
