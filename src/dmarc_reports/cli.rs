//! `sge-milter dmarc-reports send|ingest|summary`.

use super::send::{Output, Sender};
use super::service::{DnsCheck, open_store};
use super::transport::Transport;
use super::{ingest, summary, unix_now};
use crate::auth::dns::Dns;
use crate::config::Config;
use crate::domain::DomainSet;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Sends (or, with `out`, writes) the reports of every finished period; `now`
/// overrides the clock (seconds since the epoch).
pub fn send(config: &Config, out: Option<PathBuf>, now: Option<u64>) -> Result<bool> {
    let cfg = &config.dmarc_reports;
    super::send::validate(cfg)?;
    let output = match out {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            Output::Directory(dir)
        }
        None => Output::Mta(Transport::parse(&cfg.send_via)?),
    };
    let store = open_store(cfg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let dns = {
        let _in_runtime = runtime.enter();
        Dns::new(&config.dns).map_err(anyhow::Error::msg)?
    };
    let check = DnsCheck {
        dns,
        handle: runtime.handle().clone(),
    };
    let sender = Sender {
        cfg,
        store: store.as_ref(),
        check: &check,
        output,
    };
    let s = sender.send_due(now.unwrap_or_else(unix_now))?;
    println!(
        "DMARC reports: {} sent, {} skipped, {} failed (retried next time)",
        s.sent, s.skipped, s.failed
    );
    Ok(s.failed == 0)
}

/// Reads report files; returns false if any could not be read.
pub fn ingest(config: &Config, files: &[PathBuf]) -> Result<bool> {
    let store = open_store(&config.dmarc_reports)?;
    let local = DomainSet::from_names(&config.policy.local_domains);
    let mut ok = true;
    for file in files {
        match ingest_file(file, store.as_ref(), &local) {
            Ok(r) => println!(
                "{}: report from {} about {}: {} messages{}",
                file.display(),
                r.org,
                r.domain,
                r.messages,
                if r.new {
                    ""
                } else {
                    " (already ingested, not counted again)"
                }
            ),
            Err(e) => {
                crate::metrics::global().error(crate::metrics::error_kind::DMARC_REPORT);
                tracing::warn!(file = %file.display(), error = %format!("{e:#}"), "cannot ingest DMARC report");
                eprintln!("{}: {e:#}", file.display());
                ok = false;
            }
        }
    }
    Ok(ok)
}

fn ingest_file(
    file: &Path,
    store: &dyn super::store::Store,
    local: &DomainSet,
) -> Result<ingest::Ingested> {
    let meta =
        std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    if meta.len() > ingest::MAX_REPORT_SIZE as u64 {
        bail!("larger than {} bytes", ingest::MAX_REPORT_SIZE);
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    ingest::ingest(&bytes, store, local)
}

/// Prints the top failing sources per domain.
pub fn summary(config: &Config, json: bool) -> Result<()> {
    let store = open_store(&config.dmarc_reports)?;
    let s = summary::summarise(&store.ingested()?);
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else if s.is_empty() {
        println!("no DMARC reports ingested yet");
    } else {
        print!("{}", summary::render(&s));
    }
    Ok(())
}
