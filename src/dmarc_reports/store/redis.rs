//! The fleet store: one redis database shared by every gateway.
//!
//! Counts are `HINCRBY`s inside `MULTI`, so concurrent flushes from several
//! gateways add up; the send lock is `SET NX PX` released by a compare-and-delete
//! script, and sent markers are sets, so whichever gateway sends a period skips
//! what another already sent.

use super::{IngestedRow, PeriodRows, Store, lock_token};
use crate::dmarc_reports::record::Pending;
use anyhow::{Context, Result};
use redis::{Client, Commands, Connection};
use std::collections::HashMap;
use std::time::Duration;

const PREFIX: &str = "sgemilter:dmarc";
/// Sent markers outlive any period that could still be sent.
const MARKER_TTL_SECS: i64 = 60 * 86_400;

pub struct RedisStore {
    client: Client,
}

fn rows_key(period: u64, domain: &str) -> String {
    format!("{PREFIX}:rows:{period}:{domain}")
}

fn policy_key(period: u64, domain: &str) -> String {
    format!("{PREFIX}:policy:{period}:{domain}")
}

fn sent_key(period: u64, domain: &str) -> String {
    format!("{PREFIX}:sent:{period}:{domain}")
}

/// The set of `period|domain` pairs holding rows.
const DUE_KEY: &str = "sgemilter:dmarc:due";
const INGESTED_KEY: &str = "sgemilter:dmarc:ingested";

impl RedisStore {
    pub fn open(url: &str) -> Result<RedisStore> {
        let client = Client::open(url).with_context(|| format!("bad redis URL {url:?}"))?;
        Ok(RedisStore { client })
    }

    /// A connection per call: a redis restart costs one failed flush, not a stuck
    /// connection (the counts of a failed flush are kept and retried).
    fn conn(&self) -> Result<Connection> {
        self.client
            .get_connection_with_timeout(Duration::from_secs(5))
            .context("cannot connect to redis")
    }
}

impl Store for RedisStore {
    fn add(&self, pending: &Pending) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for ((period, record), n) in &pending.counts {
            let json = serde_json::to_string(record)?;
            pipe.hincr(rows_key(*period, &record.policy_domain), json, *n)
                .ignore();
            pipe.sadd(DUE_KEY, format!("{period}|{}", record.policy_domain))
                .ignore();
        }
        for ((period, domain), published) in &pending.policies {
            pipe.set(
                policy_key(*period, domain),
                serde_json::to_string(published)?,
            )
            .ignore();
        }
        pipe.query::<()>(&mut self.conn()?)?;
        Ok(())
    }

    fn due(&self, before: u64) -> Result<Vec<(u64, String)>> {
        let members: Vec<String> = self.conn()?.smembers(DUE_KEY)?;
        let mut out: Vec<(u64, String)> = members
            .iter()
            .filter_map(|m| {
                let (p, d) = m.split_once('|')?;
                Some((p.parse().ok()?, d.to_string()))
            })
            .filter(|(p, _)| *p < before)
            .collect();
        out.sort();
        Ok(out)
    }

    fn load(&self, period: u64, domain: &str) -> Result<PeriodRows> {
        let mut conn = self.conn()?;
        let rows: HashMap<String, u64> = conn.hgetall(rows_key(period, domain))?;
        let mut out = Vec::with_capacity(rows.len());
        for (json, n) in rows {
            out.push((serde_json::from_str(&json)?, n));
        }
        let published: Option<String> = conn.get(policy_key(period, domain))?;
        let published = published.map(|p| serde_json::from_str(&p)).transpose()?;
        Ok((out, published))
    }

    fn is_sent(&self, period: u64, domain: &str, dest: &str) -> Result<bool> {
        Ok(self.conn()?.sismember(sent_key(period, domain), dest)?)
    }

    fn mark_sent(&self, period: u64, domain: &str, dest: &str) -> Result<()> {
        let key = sent_key(period, domain);
        redis::pipe()
            .atomic()
            .sadd(&key, dest)
            .ignore()
            .expire(&key, MARKER_TTL_SECS)
            .ignore()
            .query::<()>(&mut self.conn()?)?;
        Ok(())
    }

    fn delete(&self, period: u64, domain: &str) -> Result<()> {
        redis::pipe()
            .atomic()
            .del(rows_key(period, domain))
            .ignore()
            .del(policy_key(period, domain))
            .ignore()
            .srem(DUE_KEY, format!("{period}|{domain}"))
            .ignore()
            .query::<()>(&mut self.conn()?)?;
        Ok(())
    }

    fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<String>> {
        let token = lock_token();
        let ok: Option<String> = redis::cmd("SET")
            .arg(format!("{PREFIX}:lock:{name}"))
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query(&mut self.conn()?)?;
        Ok(ok.map(|_| token))
    }

    fn unlock(&self, name: &str, token: &str) -> Result<()> {
        // Delete only our own lock: one that expired and was taken over stays.
        let script = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
        );
        script
            .key(format!("{PREFIX}:lock:{name}"))
            .arg(token)
            .invoke::<i64>(&mut self.conn()?)?;
        Ok(())
    }

    fn add_ingested(&self, key: &str, rows: &[(IngestedRow, u64)]) -> Result<bool> {
        let mut conn = self.conn()?;
        let new: bool = conn.set_nx(format!("{PREFIX}:ingested-report:{key}"), 1)?;
        if new {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (row, n) in rows {
                pipe.hincr(INGESTED_KEY, serde_json::to_string(row)?, *n)
                    .ignore();
            }
            pipe.query::<()>(&mut conn)?;
        }
        Ok(new)
    }

    fn ingested(&self) -> Result<Vec<(IngestedRow, u64)>> {
        let rows: HashMap<String, u64> = self.conn()?.hgetall(INGESTED_KEY)?;
        rows.into_iter()
            .map(|(json, n)| Ok((serde_json::from_str(&json)?, n)))
            .collect()
    }
}
