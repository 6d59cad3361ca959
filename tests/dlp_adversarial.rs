//! DLP cost under adversarial text: bodies of several MB made of one-digit groups
//! joined by every separator pattern (space, dash, dot, slash, mixed), long digit
//! runs, digits between letters, and `+`/`#`-prefixed runs, with real identifiers
//! and keywords planted at both ends.
//!
//! Each body goes through the public pipeline (`Engine` / `MessageScan`, MIME
//! walker included) in MTA-sized chunks. The test asserts the findings (exact
//! counts per detector and confidence) and, through a counting allocator, that the
//! peak of heap bytes live during the scan does not grow with the body: the 4 MiB
//! body of each pattern peaks no higher than its 512 KiB body (plus a little
//! slack), and under a fixed bound. No timing is asserted.

mod dlp_support;

use dlp_support::{FILLERS, counting_rules, filler};
use sge_milter::envelope::{Direction, Envelope};
use sge_milter::pipeline::Engine;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Counts the heap bytes of the current thread (tests run on parallel threads;
/// each scan runs on its test's thread).
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: allocations while a thread's locals are torn down are not counted.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; only
// thread-local counters are updated on the side (const-initialised, no destructor,
// so they never allocate).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            count(l.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(p, l) };
        count(-(l.size() as isize));
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            count(new as isize - l.size() as isize);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result and the peak of bytes live on this thread
/// during it, above what was live before.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get) - base;
    (out, peak.max(0) as usize)
}

/// An engine with the counting rules. Authentication is off (no DNS), and
/// `max_message_size` is small so the pipeline does not keep the raw message (for
/// DKIM), which would otherwise dominate the memory measured here.
fn engine() -> (tempfile::TempDir, Arc<Engine>) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("rules dir");
    std::fs::write(dir.path().join("rules/dlp.toml"), counting_rules()).expect("write rules");
    let path = dir.path().join("sge-milter.toml");
    std::fs::write(
        &path,
        "[rules]\ndir = \"rules\"\n\n[policy]\nmarking_enforcement = \"monitor\"\n\n\
         [auth]\nenabled = false\n\n[limits]\nmax_message_size = \"64KiB\"\n\
         oversize_action = \"accept\"\n",
    )
    .expect("write config");
    let loaded = sge_milter::config::load(Some(&path)).expect("config loads");
    let engine = Arc::new(Engine::compile(loaded).unwrap_or_else(|e| panic!("{e}")));
    (dir, engine)
}

type Counts = BTreeMap<String, u64>;

/// Scans one outbound message (headers, then the body in 64 KiB chunks) and
/// returns the counting rules' counts, with the peak heap bytes of the scan.
fn scan(engine: &Arc<Engine>, body: &[u8]) -> (Counts, usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let env = Envelope {
        direction: Some(Direction::Outbound),
        rcpts: vec!["b@example.com".into()],
        ..Default::default()
    };
    let headers: [(&str, &[u8]); 4] = [
        ("From", b" a@agency.govt.nz"),
        ("To", b" b@example.com"),
        ("Subject", b" numbers [UNCLASSIFIED]"),
        ("Content-Type", b" text/plain; charset=utf-8"),
    ];
    let (decision, peak) = peak_during(|| {
        let mut scan = engine.start_message(env, None);
        for (name, value) in headers {
            scan.header(name, value);
        }
        assert!(scan.end_of_headers().is_none(), "refused at end of headers");
        for chunk in body.chunks(65535) {
            scan.body(chunk);
        }
        rt.block_on(scan.finish())
    });
    let counts = decision
        .findings
        .iter()
        .filter(|f| f.rule_id.starts_with("t."))
        .map(|f| {
            let n = f
                .data
                .as_ref()
                .map_or(0, |d| d["count"].as_u64().unwrap_or(0));
            (f.rule_id.clone(), n)
        })
        .collect();
    (counts, peak)
}

/// Identifiers with keywords at both ends of the filler, each set off by a line
/// break (which ends any run): 2 IRD numbers (high), an NHI number (medium, no
/// keyword near the end), a card (high) and a wrong-check IRD number (low).
fn body(filler: &str) -> Vec<u8> {
    format!(
        "Client IRD number 049-091-850 and card number 4111 1111 1111 1111.\r\n\
         {filler}\r\n\
         Ref ZSC21TN; bad 136-410-133; last IRD 136 410 132.\r\n"
    )
    .into_bytes()
}

fn expected() -> Counts {
    let mut c = Counts::new();
    let mut set = |d: &str, low: u64, medium: u64, high: u64| {
        for (conf, n) in [("low", low), ("medium", medium), ("high", high)] {
            if n > 0 {
                c.insert(format!("t.{d}.{conf}"), n);
            }
        }
    };
    // IRD: 2 valid near a keyword, 1 wrong check digit (low, counted at low only).
    set("nz_ird", 3, 2, 2);
    set("nz_nhi", 1, 1, 0);
    set("payment_card", 1, 1, 1);
    c
}

/// Peak heap of any scan here: the MIME walker's decoding buffers, the scanners'
/// bounded state and the rule findings; nothing per group or separator.
const PEAK_BOUND: usize = 1024 * 1024;

#[test]
fn adversarial_bodies_give_exact_findings_in_bounded_memory() {
    let (_dir, engine) = engine();
    let (control, _) = scan(&engine, &body("nothing here"));
    assert_eq!(control, expected(), "control message");
    for name in FILLERS {
        let (c_small, peak_small) = scan(&engine, &body(&filler(name, 512 << 10)));
        let (c_big, peak_big) = scan(&engine, &body(&filler(name, 4 << 20)));
        eprintln!("{name}: peak heap {peak_small} bytes for 512 KiB, {peak_big} for 4 MiB");
        assert_eq!(c_small, expected(), "{name} 512 KiB");
        assert_eq!(c_big, expected(), "{name} 4 MiB");
        assert!(
            peak_big <= peak_small + 64 * 1024,
            "{name}: peak heap grows with the body: {peak_small} bytes for 512 KiB, {peak_big} for 4 MiB"
        );
        assert!(
            peak_big < PEAK_BOUND,
            "{name}: peak heap {peak_big} bytes for 4 MiB"
        );
    }
}

/// Keyword proximity is one pass, whatever the density: a body dense with
/// identifiers and keywords, in which every hit has keywords on both sides, gives
/// exactly one high hit per identifier and stays in bounded memory.
#[test]
fn dense_identifiers_and_keywords() {
    let (_dir, engine) = engine();
    let n = 200_000;
    let line = "IRD 049-091-850 ird ";
    let body = line.repeat(n).into_bytes();
    let (c, peak) = scan(&engine, &body);
    let n = n as u64;
    let want: Counts = [
        ("t.nz_ird.low".to_string(), n),
        ("t.nz_ird.medium".to_string(), n),
        ("t.nz_ird.high".to_string(), n),
    ]
    .into();
    assert_eq!(c, want);
    assert!(peak < PEAK_BOUND, "peak heap {peak} bytes");
}

/// A number followed, in the same space-separated run, by a group of digits
/// longer than any identifier's (and split across chunks) is decided at once, while
/// the keyword before it is still in hand; the long run itself is nothing.
#[test]
fn long_groups_split_space_runs() {
    let (_dir, engine) = engine();
    let long = "9".repeat(200_000);
    let text = format!("IRD 49091850 {long} 1 2 3 4 5 6 x\r\nIRD 136 410 132 {long}\r\n");
    let (c, _) = scan(&engine, text.as_bytes());
    let want: Counts = [
        ("t.nz_ird.low".to_string(), 2),
        ("t.nz_ird.medium".to_string(), 2),
        ("t.nz_ird.high".to_string(), 2),
    ]
    .into();
    assert_eq!(c, want);
}
