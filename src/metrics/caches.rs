//! Resolver cache counters. The authentication engine keeps its own cumulative
//! hit/miss counts (atomics on its lookup path); the metrics read them at scrape
//! time, so the DNS path pays nothing extra for being monitored.

use prometheus::{IntCounterVec, IntGaugeVec};
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

/// One cache's cumulative counts, as its owner keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheReading {
    /// One of [`super::CACHE_NAMES`].
    pub cache: &'static str,
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
}

type Source = Box<dyn Fn() -> Vec<CacheReading> + Send + Sync>;

/// Where cache counts come from, and what was last exported from them.
#[derive(Default)]
pub(super) struct CacheSource {
    source: RwLock<Option<Source>>,
    /// Last (hits, misses) read per cache, to turn readings into counter increments.
    seen: Mutex<HashMap<&'static str, (u64, u64)>>,
}

/// The increment since the last reading; a smaller reading means the owner was
/// replaced (a configuration reload builds new caches) and counts from zero again.
fn delta(now: u64, before: u64) -> u64 {
    if now >= before { now - before } else { now }
}

impl CacheSource {
    /// Sets the function read at every scrape.
    pub(super) fn set(&self, f: impl Fn() -> Vec<CacheReading> + Send + Sync + 'static) {
        *self.source.write().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(f));
    }

    /// Folds the current readings into `cache_requests_total{cache, outcome}` and
    /// `cache_entries{cache}`.
    pub(super) fn refresh(&self, requests: &IntCounterVec, entries: &IntGaugeVec) {
        let readings = match &*self.source.read().unwrap_or_else(|e| e.into_inner()) {
            Some(f) => f(),
            None => return,
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for r in readings {
            let (hits, misses) = seen.get(r.cache).copied().unwrap_or_default();
            requests
                .with_label_values(&[r.cache, "hit"])
                .inc_by(delta(r.hits, hits));
            requests
                .with_label_values(&[r.cache, "miss"])
                .inc_by(delta(r.misses, misses));
            entries
                .with_label_values(&[r.cache])
                .set(i64::try_from(r.entries).unwrap_or(i64::MAX));
            seen.insert(r.cache, (r.hits, r.misses));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Opts;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn readings_become_monotonic_counters_across_a_reset() {
        let requests = IntCounterVec::new(Opts::new("r", "r"), &["cache", "outcome"]).unwrap();
        let entries = IntGaugeVec::new(Opts::new("e", "e"), &["cache"]).unwrap();
        let source = CacheSource::default();
        let hits = Arc::new(AtomicU64::new(5));
        let h = Arc::clone(&hits);
        source.set(move || {
            vec![CacheReading {
                cache: "txt",
                hits: h.load(Ordering::Relaxed),
                misses: 2,
                entries: 7,
            }]
        });
        let hit = || requests.with_label_values(&["txt", "hit"]).get();
        source.refresh(&requests, &entries);
        assert_eq!(hit(), 5);
        assert_eq!(requests.with_label_values(&["txt", "miss"]).get(), 2);
        assert_eq!(entries.with_label_values(&["txt"]).get(), 7);
        hits.store(8, Ordering::Relaxed);
        source.refresh(&requests, &entries);
        assert_eq!(hit(), 8);
        // A reload replaced the caches: counting restarts at 1, the export goes on.
        hits.store(1, Ordering::Relaxed);
        source.refresh(&requests, &entries);
        assert_eq!(hit(), 9);
    }
}
