//! The embedded store: SQLite (rusqlite, SQLite compiled in).
//!
//! Why SQLite rather than redb: `dmarc-reports send` and `summary` must read the
//! store while `run` has it open, and SQLite in WAL mode lets several processes
//! share one database file (redb locks its file to one process). Every flush is
//! one transaction with `synchronous = FULL`, so a committed flush survives a
//! crash or power loss; a SIGKILL loses only what was still in memory.

use super::{IngestedRow, PeriodRows, Store, lock_token};
use crate::dmarc_reports::record::Pending;
use crate::dmarc_reports::unix_now;
use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rows (period INTEGER NOT NULL, domain TEXT NOT NULL,
  record TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (period, domain, record));
CREATE TABLE IF NOT EXISTS policies (period INTEGER NOT NULL, domain TEXT NOT NULL,
  published TEXT NOT NULL, PRIMARY KEY (period, domain));
CREATE TABLE IF NOT EXISTS sent (period INTEGER NOT NULL, domain TEXT NOT NULL,
  dest TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (period, domain, dest));
CREATE TABLE IF NOT EXISTS locks (name TEXT PRIMARY KEY, token TEXT NOT NULL,
  expires INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ingested (key TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ingested_rows (row TEXT PRIMARY KEY, count INTEGER NOT NULL);
";

/// `file:DIR`: DIR/dmarc-reports.sqlite.
pub struct FileStore {
    conn: Mutex<Connection>,
}

impl FileStore {
    pub fn open(dir: &Path) -> Result<FileStore> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the DMARC report store {}", dir.display()))?;
        let path = dir.join("dmarc-reports.sqlite");
        let conn = Connection::open(&path)
            .with_context(|| format!("cannot open the DMARC report store {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)
            .with_context(|| format!("cannot set up {}", path.display()))?;
        Ok(FileStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for FileStore {
    fn add(&self, pending: &Pending) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut row = tx.prepare_cached(
                "INSERT INTO rows VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE SET count = count + excluded.count",
            )?;
            for ((period, record), n) in &pending.counts {
                let json = serde_json::to_string(record)?;
                row.execute(params![
                    *period as i64,
                    record.policy_domain,
                    json,
                    *n as i64
                ])?;
            }
            let mut pol =
                tx.prepare_cached("INSERT OR REPLACE INTO policies VALUES (?1, ?2, ?3)")?;
            for ((period, domain), published) in &pending.policies {
                let json = serde_json::to_string(published)?;
                pol.execute(params![*period as i64, domain, json])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn due(&self, before: u64) -> Result<Vec<(u64, String)>> {
        let conn = self.conn();
        let mut q = conn.prepare_cached(
            "SELECT DISTINCT period, domain FROM rows WHERE period < ?1 ORDER BY period, domain",
        )?;
        let rows = q.query_map(params![before as i64], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn load(&self, period: u64, domain: &str) -> Result<PeriodRows> {
        let conn = self.conn();
        let mut q = conn
            .prepare_cached("SELECT record, count FROM rows WHERE period = ?1 AND domain = ?2")?;
        let mut rows = Vec::new();
        for r in q.query_map(params![period as i64, domain], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })? {
            let (json, n) = r?;
            rows.push((serde_json::from_str(&json)?, n as u64));
        }
        let published: Option<String> = conn
            .query_row(
                "SELECT published FROM policies WHERE period = ?1 AND domain = ?2",
                params![period as i64, domain],
                |r| r.get(0),
            )
            .optional()?;
        let published = published.map(|p| serde_json::from_str(&p)).transpose()?;
        Ok((rows, published))
    }

    fn is_sent(&self, period: u64, domain: &str, dest: &str) -> Result<bool> {
        let conn = self.conn();
        let n: i64 = conn.query_row(
            "SELECT COUNT(*) FROM sent WHERE period = ?1 AND domain = ?2 AND dest = ?3",
            params![period as i64, domain, dest],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    fn mark_sent(&self, period: u64, domain: &str, dest: &str) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "INSERT OR IGNORE INTO sent VALUES (?1, ?2, ?3, ?4)",
            params![period as i64, domain, dest, unix_now() as i64],
        )?;
        // Markers only matter while their rows can still be sent: keep 60 days.
        conn.execute(
            "DELETE FROM sent WHERE at < ?1",
            params![unix_now().saturating_sub(60 * 86_400) as i64],
        )?;
        Ok(())
    }

    fn delete(&self, period: u64, domain: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM rows WHERE period = ?1 AND domain = ?2",
            params![period as i64, domain],
        )?;
        tx.execute(
            "DELETE FROM policies WHERE period = ?1 AND domain = ?2",
            params![period as i64, domain],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = unix_now() as i64;
        let held: Option<i64> = tx
            .query_row("SELECT expires FROM locks WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        if held.is_some_and(|expires| expires > now) {
            return Ok(None);
        }
        let token = lock_token();
        tx.execute(
            "INSERT OR REPLACE INTO locks VALUES (?1, ?2, ?3)",
            params![name, token, now + ttl.as_secs() as i64],
        )?;
        tx.commit()?;
        Ok(Some(token))
    }

    fn unlock(&self, name: &str, token: &str) -> Result<()> {
        self.conn().execute(
            "DELETE FROM locks WHERE name = ?1 AND token = ?2",
            params![name, token],
        )?;
        Ok(())
    }

    fn add_ingested(&self, key: &str, rows: &[(IngestedRow, u64)]) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let new = tx.execute(
            "INSERT OR IGNORE INTO ingested VALUES (?1, ?2)",
            params![key, unix_now() as i64],
        )? == 1;
        if new {
            let mut q = tx.prepare_cached(
                "INSERT INTO ingested_rows VALUES (?1, ?2) ON CONFLICT DO UPDATE SET count = count + excluded.count",
            )?;
            for (row, n) in rows {
                q.execute(params![serde_json::to_string(row)?, *n as i64])?;
            }
        }
        tx.commit()?;
        Ok(new)
    }

    fn ingested(&self) -> Result<Vec<(IngestedRow, u64)>> {
        let conn = self.conn();
        let mut q = conn.prepare_cached("SELECT row, count FROM ingested_rows")?;
        let mut out = Vec::new();
        for r in q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (json, n) = r?;
            out.push((serde_json::from_str(&json)?, n as u64));
        }
        Ok(out)
    }
}
