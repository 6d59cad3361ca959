//! Soak (not in CI: `#[ignore]`; run through `integration/soak.sh`): the milter
//! behind a private Postfix under steady load from `SGE_SOAK_CONCURRENCY` (16) SMTP
//! sessions for `SGE_SOAK_MINUTES` (30). The milter's resident memory and open file
//! descriptors are sampled every 10 s; after a warm-up (the first fifth) the mean of
//! the last fifth must be within 5% of the mean of the first fifth after warm-up,
//! every message must get the answer its content calls for, and the milter's error
//! counters must stay at zero. Prints the samples and a summary line.

mod common;
mod metrics_support;

use common::Postfix;
use common::faults::{REJECT, SmtpSession, TAG, milter_with_metrics, numbered};
use metrics_support::scrape;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (resident KiB, open fds) of `pid`.
fn footprint(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    (rss, fds)
}

fn mean(xs: &[u64]) -> f64 {
    xs.iter().sum::<u64>() as f64 / xs.len().max(1) as f64
}

#[test]
#[ignore = "soak: integration/soak.sh"]
fn soak_memory_and_fds_stay_flat_with_zero_errors() {
    let minutes = env_or("SGE_SOAK_MINUTES", 30);
    let concurrency = env_or("SGE_SOAK_CONCURRENCY", 16) as usize;
    let (milter, metrics) = milter_with_metrics("[log]\nlevel = \"warn\"\n", &[]);
    let pf = Postfix::start(&milter.listen_addr());
    let port = pf.smtp_port();
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, wrong) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let senders: Vec<_> = (0..concurrency)
        .map(|t| {
            let (stop, sent, wrong) = (Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&wrong));
            std::thread::spawn(move || {
                let mut session = SmtpSession::open(port).expect("SMTP session");
                let mut i = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let seq = t * 10_000_000 + i;
                    let reject = i % 10 == 9;
                    let raw = numbered(seq, if reject { REJECT } else { TAG });
                    let r = session
                        .send("alice@sender.example", &["bob@recipient.example"], &raw)
                        .expect("SMTP transaction");
                    if r.accepted == reject {
                        wrong.fetch_add(1, Ordering::SeqCst);
                        eprintln!("message {seq}: unexpected {}", r.reply);
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                    i += 1;
                }
                session.quit();
            })
        })
        .collect();
    let started = Instant::now();
    let total = Duration::from_secs(minutes * 60);
    let mut samples = Vec::new();
    while started.elapsed() < total {
        std::thread::sleep(Duration::from_secs(10));
        let (rss, fds) = footprint(milter.pid());
        let n = sent.load(Ordering::SeqCst);
        eprintln!(
            "t={:>5}s rss={rss} KiB fds={fds} messages={n}",
            started.elapsed().as_secs()
        );
        samples.push((rss, fds));
    }
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        s.join().expect("sender");
    }
    let fifth = (samples.len() / 5).max(1);
    let after_warmup = &samples[fifth..];
    let first: Vec<_> = after_warmup.iter().take(fifth).collect();
    let last: Vec<_> = after_warmup.iter().rev().take(fifth).collect();
    let rss = |v: &[&(u64, u64)]| mean(&v.iter().map(|s| s.0).collect::<Vec<_>>());
    let fds = |v: &[&(u64, u64)]| mean(&v.iter().map(|s| s.1).collect::<Vec<_>>());
    let (rss0, rss1, fd0, fd1) = (rss(&first), rss(&last), fds(&first), fds(&last));
    let n = sent.load(Ordering::SeqCst);
    let m = scrape(&metrics);
    let errors: f64 = m
        .lines()
        .filter(|l| l.starts_with("sgemilter_errors_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    eprintln!(
        "soak: {minutes} min, {concurrency} sessions, {n} messages ({:.0}/s), \
         rss {rss0:.0} -> {rss1:.0} KiB ({:+.1}%), fds {fd0:.1} -> {fd1:.1} ({:+.1}%), \
         wrong answers {}, errors_total {errors}",
        n as f64 / started.elapsed().as_secs_f64(),
        (rss1 / rss0 - 1.0) * 100.0,
        (fd1 / fd0 - 1.0) * 100.0,
        wrong.load(Ordering::SeqCst),
    );
    assert_eq!(wrong.load(Ordering::SeqCst), 0, "wrong answers");
    assert_eq!(errors, 0.0, "errors_total:\n{m}");
    assert!((rss1 / rss0 - 1.0).abs() <= 0.05, "RSS not flat");
    assert!((fd1 / fd0 - 1.0).abs() <= 0.05, "open fds not flat");
}
