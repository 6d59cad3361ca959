//! DNS record caches (moka, sync) that mail-auth reads through its `ResolverCache`
//! trait. Each entry lives as long as its record's TTL, capped by `[dns] max_ttl`.

use mail_auth::{MX, RecordSet, ResolverCache, Txt};
use std::borrow::Borrow;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Hit and miss counts of one cache, for the metrics endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
}

/// Plain atomic hit/miss counters.
#[derive(Debug, Default)]
pub struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Counters {
    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }
    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }
    pub fn stats(&self, entries: u64) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries,
        }
    }
}

#[derive(Clone)]
struct Entry<V> {
    value: V,
    ttl: Duration,
}

/// Expires each entry after its own TTL.
struct PerEntryTtl;

impl<K, V> moka::Expiry<K, Entry<V>> for PerEntryTtl {
    fn expire_after_create(&self, _: &K, entry: &Entry<V>, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// A bounded cache whose entries expire at their record's TTL (capped).
pub struct TtlCache<K, V> {
    inner: moka::sync::Cache<K, Entry<V>>,
    max_ttl: Duration,
    counters: Counters,
}

impl<K, V> TtlCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new(capacity: u64, max_ttl: Duration) -> Self {
        TtlCache {
            inner: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(PerEntryTtl)
                .build(),
            max_ttl,
            counters: Counters::default(),
        }
    }

    pub fn stats(&self) -> CacheStats {
        self.counters.stats(self.inner.entry_count())
    }

    fn lookup<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.inner.get(key) {
            Some(e) => {
                self.counters.hit();
                Some(e.value)
            }
            None => {
                self.counters.miss();
                None
            }
        }
    }

    fn store(&self, key: K, value: V, valid_until: Instant) {
        let ttl = valid_until
            .saturating_duration_since(Instant::now())
            .min(self.max_ttl);
        if !ttl.is_zero() {
            self.inner.insert(key, Entry { value, ttl });
        }
    }
}

impl<K, V> ResolverCache<K, V> for TtlCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lookup(name)
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.remove(name).map(|e| e.value)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        self.store(key, value, valid_until);
    }
}

/// mail-auth call parameters with every cache set.
pub type CachedParams<'a, P> = mail_auth::Parameters<
    'a,
    P,
    TtlCache<Box<str>, Txt>,
    TtlCache<Box<str>, RecordSet<MX>>,
    TtlCache<Box<str>, RecordSet<Ipv4Addr>>,
    TtlCache<Box<str>, RecordSet<Ipv6Addr>>,
    TtlCache<IpAddr, RecordSet<Box<str>>>,
>;

/// One cache per record type mail-auth asks for.
pub struct DnsCaches {
    pub txt: TtlCache<Box<str>, Txt>,
    pub mx: TtlCache<Box<str>, RecordSet<MX>>,
    pub ipv4: TtlCache<Box<str>, RecordSet<Ipv4Addr>>,
    pub ipv6: TtlCache<Box<str>, RecordSet<Ipv6Addr>>,
    pub ptr: TtlCache<IpAddr, RecordSet<Box<str>>>,
}

/// Hit/miss counts of every DNS cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DnsCacheStats {
    pub txt: CacheStats,
    pub mx: CacheStats,
    pub ipv4: CacheStats,
    pub ipv6: CacheStats,
    pub ptr: CacheStats,
}

impl DnsCaches {
    pub fn new(capacity: u64, max_ttl: Duration) -> Self {
        DnsCaches {
            txt: TtlCache::new(capacity, max_ttl),
            mx: TtlCache::new(capacity, max_ttl),
            ipv4: TtlCache::new(capacity, max_ttl),
            ipv6: TtlCache::new(capacity, max_ttl),
            ptr: TtlCache::new(capacity, max_ttl),
        }
    }

    pub fn stats(&self) -> DnsCacheStats {
        DnsCacheStats {
            txt: self.txt.stats(),
            mx: self.mx.stats(),
            ipv4: self.ipv4.stats(),
            ipv6: self.ipv6.stats(),
            ptr: self.ptr.stats(),
        }
    }

    /// mail-auth call parameters reading and filling these caches.
    pub fn params<P>(&self, params: P) -> CachedParams<'_, P> {
        mail_auth::Parameters {
            params,
            cache_txt: Some(&self.txt),
            cache_mx: Some(&self.mx),
            cache_ptr: Some(&self.ptr),
            cache_ipv4: Some(&self.ipv4),
            cache_ipv6: Some(&self.ipv6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honours_ttl_cap_and_counts() {
        let c: TtlCache<Box<str>, u32> = TtlCache::new(10, Duration::from_secs(60));
        assert_eq!(c.get("a."), None);
        c.insert("a.".into(), 7, Instant::now() + Duration::from_secs(3600));
        assert_eq!(c.get("a."), Some(7));
        // Already expired: not stored.
        c.insert("b.".into(), 8, Instant::now());
        assert_eq!(c.get("b."), None);
        let s = c.stats();
        assert_eq!((s.hits, s.misses), (1, 2));
    }
}
