//! Where flushed counts wait for their report: an embedded database for one
//! gateway (`file:DIR`), or redis shared by a fleet (`redis://HOST:PORT/DB`).
//!
//! Both keep the same things: counts per (period, policy domain, row), the policy
//! last seen per (period, domain), a sent marker per (period, domain, destination),
//! a lock so one sender works on a period at a time, and the rows of ingested
//! reports about our own domains.

mod file;
mod redis;

use super::record::{DmarcRecord, Pending, Published};
use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub use file::FileStore;
pub use redis::RedisStore;

/// One row of an ingested report about one of our domains, for `summary`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IngestedRow {
    pub domain: String,
    pub source_ip: String,
    /// `pass` or `fail`: the DMARC-aligned DKIM and SPF results.
    pub dkim: String,
    pub spf: String,
    pub disposition: String,
    /// The reporting organisation.
    pub org: String,
}

/// A period's rows for one domain with their counts, and the policy last seen.
pub type PeriodRows = (Vec<(DmarcRecord, u64)>, Option<Published>);

/// What both stores do. Calls block: run them off the async runtime.
pub trait Store: Send + Sync {
    /// Adds a flush's counts (atomically: all or nothing).
    fn add(&self, pending: &Pending) -> Result<()>;
    /// (period, domain) pairs holding counts for periods starting before `before`.
    fn due(&self, before: u64) -> Result<Vec<(u64, String)>>;
    /// A period's rows for one domain, and the policy last seen.
    fn load(&self, period: u64, domain: &str) -> Result<PeriodRows>;
    fn is_sent(&self, period: u64, domain: &str, dest: &str) -> Result<bool>;
    /// Records that the MTA accepted the report (or that it can never be sent).
    fn mark_sent(&self, period: u64, domain: &str, dest: &str) -> Result<()>;
    /// Drops a period's rows and policy for one domain (markers stay).
    fn delete(&self, period: u64, domain: &str) -> Result<()>;
    /// Takes the named lock for `ttl` unless another holder has it; returns the token.
    fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<String>>;
    fn unlock(&self, name: &str, token: &str) -> Result<()>;
    /// Keeps an ingested report's rows unless a report with that key was seen
    /// before; returns whether it was new.
    fn add_ingested(&self, key: &str, rows: &[(IngestedRow, u64)]) -> Result<bool>;
    /// Every ingested row with its total count.
    fn ingested(&self) -> Result<Vec<(IngestedRow, u64)>>;
}

/// Opens the store named by `[dmarc_reports] store`.
pub fn open(url: &str) -> Result<Box<dyn Store>> {
    if let Some(dir) = url.strip_prefix("file:") {
        Ok(Box::new(FileStore::open(std::path::Path::new(dir))?))
    } else if url.starts_with("redis://") {
        Ok(Box::new(RedisStore::open(url)?))
    } else {
        bail!("[dmarc_reports] store must be file:DIR or redis://HOST:PORT/DB, not {url:?}")
    }
}

/// A random token naming one lock holder.
pub(crate) fn lock_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{}-{r:016x}", std::process::id())
}
