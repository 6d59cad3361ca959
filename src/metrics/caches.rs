//! Resolver cache counters. The authentication engine keeps its own cumulative
//! hit/miss counts (atomics on its lookup path); the metrics read them at scrape
//! time, so the DNS path pays nothing extra for being monitored.

use super::Metrics;
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

impl CacheReading {
    /// The readings of the authentication engine's caches.
    pub fn from_auth_stats(stats: &crate::auth::AuthStats) -> Vec<CacheReading> {
        let reading = |cache, s: crate::auth::cache::CacheStats| CacheReading {
            cache,
            hits: s.hits,
            misses: s.misses,
            entries: s.entries,
        };
        vec![
            reading("txt", stats.dns.txt),
            reading("mx", stats.dns.mx),
            reading("ipv4", stats.dns.ipv4),
            reading("ipv6", stats.dns.ipv6),
            reading("ptr", stats.dns.ptr),
            reading("spf_verdict", stats.spf_verdicts),
        ]
    }
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

impl Metrics {
    /// Sets the function read at every scrape for the resolver caches' counts.
    pub fn set_cache_source(&self, f: impl Fn() -> Vec<CacheReading> + Send + Sync + 'static) {
        *self
            .caches
            .source
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(Box::new(f));
    }

    /// Folds the current cache readings into `cache_requests_total` and `cache_entries`.
    pub(super) fn refresh_caches(&self) {
        let readings = match &*self.caches.source.read().unwrap_or_else(|e| e.into_inner()) {
            Some(f) => f(),
            None => return,
        };
        let mut seen = self.caches.seen.lock().unwrap_or_else(|e| e.into_inner());
        for r in readings {
            let (hits, misses) = seen.get(r.cache).copied().unwrap_or_default();
            self.cache_requests
                .with_label_values(&[r.cache, "hit"])
                .inc_by(delta(r.hits, hits));
            self.cache_requests
                .with_label_values(&[r.cache, "miss"])
                .inc_by(delta(r.misses, misses));
            self.set_cache_entries(r.cache, r.entries);
            seen.insert(r.cache, (r.hits, r.misses));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn readings_become_monotonic_counters_across_a_reset() {
        let m = Metrics::new();
        let hits = Arc::new(AtomicU64::new(5));
        let h = Arc::clone(&hits);
        m.set_cache_source(move || {
            vec![CacheReading {
                cache: "txt",
                hits: h.load(Ordering::Relaxed),
                misses: 2,
                entries: 7,
            }]
        });
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains(r#"sgemilter_cache_requests_total{cache="txt",outcome="hit"} 5"#));
        assert!(text.contains(r#"sgemilter_cache_requests_total{cache="txt",outcome="miss"} 2"#));
        assert!(text.contains(r#"sgemilter_cache_entries{cache="txt"} 7"#));
        hits.store(8, Ordering::Relaxed);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains(r#"sgemilter_cache_requests_total{cache="txt",outcome="hit"} 8"#));
        // A reload replaced the caches: counting restarts at 1, the export goes on.
        hits.store(1, Ordering::Relaxed);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains(r#"sgemilter_cache_requests_total{cache="txt",outcome="hit"} 9"#));
    }
}
