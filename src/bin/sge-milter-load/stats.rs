//! Counting and summarising one load run.

use crate::client::Verdict;
use crate::hog::{HogRun, Window, overlaps};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Per-message samples, merged from every worker at the end.
#[derive(Default)]
pub struct Samples {
    /// MAIL FROM to the end-of-message reply.
    pub total: Vec<Duration>,
    /// When each message of `total` started (same order).
    pub starts: Vec<Instant>,
    /// The end-of-message command alone.
    pub eom: Vec<Duration>,
    pub bytes: u64,
    pub errors: u64,
    /// Header edits the milter asked for.
    pub edits: u64,
    /// With --rate: messages that found every connection busy when they were due.
    pub late: u64,
    pub verdicts: Verdicts,
}

#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Verdicts {
    pub accept: u64,
    pub reject: u64,
    pub tempfail: u64,
    pub discard: u64,
    pub quarantine: u64,
}

impl Verdicts {
    pub fn count(&mut self, v: Verdict) {
        match v {
            Verdict::Continue | Verdict::Accept => self.accept += 1,
            Verdict::Reject => self.reject += 1,
            Verdict::Tempfail => self.tempfail += 1,
            Verdict::Discard => self.discard += 1,
            Verdict::Quarantine => self.quarantine += 1,
        }
    }
    pub fn total(&self) -> u64 {
        self.accept + self.reject + self.tempfail + self.discard + self.quarantine
    }
}

impl Samples {
    pub fn merge(&mut self, other: Samples) {
        self.total.extend(other.total);
        self.starts.extend(other.starts);
        self.eom.extend(other.eom);
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.edits += other.edits;
        self.late += other.late;
        let v = other.verdicts;
        self.verdicts.accept += v.accept;
        self.verdicts.reject += v.reject;
        self.verdicts.tempfail += v.tempfail;
        self.verdicts.discard += v.discard;
        self.verdicts.quarantine += v.quarantine;
    }
}

/// What a run prints.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub label: String,
    pub target: String,
    pub concurrency: usize,
    pub messages: u64,
    pub errors: u64,
    pub seconds: f64,
    pub msg_per_s: f64,
    pub mb_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub eom_p50_ms: f64,
    pub eom_p99_ms: f64,
    pub verdicts: Verdicts,
    pub header_edits: u64,
    /// With --rate: the offered load, and how many messages were late (found every
    /// connection busy when due; their latency counts from when they were due).
    pub offered_per_s: Option<f64>,
    pub late: u64,
    /// Peak resident memory of `--watch-pid` (VmHWM), when given.
    pub peak_rss_mb: Option<f64>,
    /// Its resident memory at the end of the run (VmRSS), idle connections still open.
    pub rss_mb: Option<f64>,
    /// Messages the --hog-size connection completed (not counted above).
    pub hog_messages: Option<u64>,
    /// The slowest end of message among them.
    pub hog_eom_max_ms: Option<f64>,
    /// With a hog: the counted messages in flight while a hog message was, and
    /// their p99 (MAIL FROM to end-of-message reply).
    pub hog_window: Option<Split>,
    /// With a hog: the counted messages that never overlapped a hog message (the
    /// same-run baseline; none when the hog sends back to back).
    pub outside_window: Option<Split>,
}

/// One part of the counted messages.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Split {
    pub messages: u64,
    pub p99_ms: f64,
}

impl Split {
    fn of(mut durations: Vec<Duration>) -> Split {
        durations.sort_unstable();
        Split {
            messages: durations.len() as u64,
            p99_ms: percentile(&durations, 0.99),
        }
    }
}

/// Splits the messages' durations by whether they overlapped a hog window.
fn split(s: &Samples, windows: &[Window]) -> (Split, Split) {
    let (mut during, mut outside) = (Vec::new(), Vec::new());
    for (&start, &took) in s.starts.iter().zip(&s.total) {
        if overlaps(windows, start, took) {
            during.push(took);
        } else {
            outside.push(took);
        }
    }
    (Split::of(during), Split::of(outside))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

impl Report {
    pub fn new(
        label: &str,
        target: &str,
        concurrency: usize,
        mut s: Samples,
        wall: Duration,
        hog: Option<HogRun>,
    ) -> Report {
        let windows = hog
            .as_ref()
            .map(|h| split(&s, &h.windows))
            .map_or((None, None), |(d, o)| (Some(d), Some(o)));
        s.total.sort_unstable();
        s.eom.sort_unstable();
        let secs = wall.as_secs_f64().max(1e-9);
        let n = s.verdicts.total();
        Report {
            label: label.to_string(),
            target: target.to_string(),
            concurrency,
            messages: n,
            errors: s.errors,
            seconds: secs,
            msg_per_s: n as f64 / secs,
            mb_per_s: s.bytes as f64 / secs / 1e6,
            p50_ms: percentile(&s.total, 0.50),
            p99_ms: percentile(&s.total, 0.99),
            eom_p50_ms: percentile(&s.eom, 0.50),
            eom_p99_ms: percentile(&s.eom, 0.99),
            verdicts: s.verdicts,
            header_edits: s.edits,
            offered_per_s: None,
            late: s.late,
            peak_rss_mb: None,
            rss_mb: None,
            hog_messages: hog.as_ref().map(|h| h.eom.len() as u64),
            hog_eom_max_ms: hog.map(|h| h.eom.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1e3)),
            hog_window: windows.0,
            outside_window: windows.1,
        }
    }

    pub fn line(&self) -> String {
        let mut l = format!(
            "{:<12} c{:<3} {:>7} msgs {:>9.1} msg/s {:>8.1} MB/s  p50 {:>7.2} ms  p99 {:>7.2} ms  eom p50 {:>6.2} p99 {:>6.2} ms  errors {}  accept {} reject {} tempfail {} quarantine {}",
            self.label,
            self.concurrency,
            self.messages,
            self.msg_per_s,
            self.mb_per_s,
            self.p50_ms,
            self.p99_ms,
            self.eom_p50_ms,
            self.eom_p99_ms,
            self.errors,
            self.verdicts.accept,
            self.verdicts.reject,
            self.verdicts.tempfail,
            self.verdicts.quarantine,
        );
        if let Some(rate) = self.offered_per_s {
            l.push_str(&format!("  offered {rate:.1} msg/s, late {}", self.late));
        }
        if let (Some(n), Some(eom)) = (self.hog_messages, self.hog_eom_max_ms) {
            l.push_str(&format!("  hog messages {n} (slowest eom {eom:.2} ms)"));
        }
        if let (Some(d), Some(o)) = (self.hog_window, self.outside_window) {
            l.push_str(&format!(
                "  p99 while a hog message is in flight {:.2} ms ({} msgs), outside {:.2} ms ({} msgs)",
                d.p99_ms, d.messages, o.p99_ms, o.messages
            ));
        }
        if let (Some(peak), Some(now)) = (self.peak_rss_mb, self.rss_mb) {
            l.push_str(&format!("  peak RSS {peak:.1} MB, at the end {now:.1} MB"));
        }
        l
    }
}

/// Peak and current resident set of a process, in MB, from /proc.
pub fn rss_mb(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_right_sample() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn messages_are_split_by_the_hog_windows() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = Samples::default();
        for (start, took) in [(0, 5), (10, 50), (20, 5), (100, 7)] {
            s.starts.push(t0 + ms(start));
            s.total.push(ms(took));
            s.verdicts.count(Verdict::Accept);
        }
        let hog = HogRun {
            eom: vec![ms(3)],
            windows: vec![(t0 + ms(18), t0 + ms(40))],
        };
        let r = Report::new("t", "x", 1, s, ms(200), Some(hog));
        let (d, o) = (r.hog_window.unwrap(), r.outside_window.unwrap());
        assert_eq!((d.messages, d.p99_ms), (2, 50.0));
        assert_eq!((o.messages, o.p99_ms), (2, 7.0));
        assert_eq!((r.hog_messages, r.hog_eom_max_ms), (Some(1), Some(3.0)));
        let r = Report::new("t", "x", 1, Samples::default(), ms(1), None);
        assert!(r.hog_window.is_none() && r.outside_window.is_none());
    }
}
