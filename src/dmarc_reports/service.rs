//! `run` wiring: the flusher, the send schedule, the destination check over DNS,
//! and capturing inbound reports addressed to `ingest_addresses`.

use super::send::{DestinationCheck, Output, Sender};
use super::store::{self, Store};
use super::transport::Transport;
use super::{Recorder, ingest, unix_now};
use crate::auth::dns::Dns;
use crate::config::Config;
use crate::config::dmarc_reports::DmarcReportsConfig;
use crate::domain::DomainSet;
use crate::envelope::{Direction, Envelope, strip_brackets};
use crate::policy::Action;
use anyhow::{Context, Result};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::runtime::Handle;

/// Everything `run` keeps for DMARC reports.
pub struct Service {
    cfg: DmarcReportsConfig,
    store: Arc<dyn Store>,
    local_domains: DomainSet,
    dns: Dns,
    recorder: &'static Recorder,
}

static SERVICE: OnceLock<Arc<Service>> = OnceLock::new();

/// Starts recording, flushing and the send schedule (call inside the runtime).
pub fn start(config: &Config) -> Result<Arc<Service>> {
    let cfg = config.dmarc_reports.clone();
    super::send::validate(&cfg)?;
    Transport::parse(&cfg.send_via)?;
    let store: Arc<dyn Store> = Arc::from(store::open(&cfg.store)?);
    let dns = Dns::new(&config.dns).map_err(anyhow::Error::msg)?;
    let recorder = super::install(Recorder::new(cfg.interval.duration().as_secs()));
    let service = Arc::new(Service {
        cfg,
        store,
        local_domains: DomainSet::from_names(&config.policy.local_domains),
        dns,
        recorder,
    });
    let _ = SERVICE.set(Arc::clone(&service));
    tokio::spawn(flush_loop(Arc::clone(&service)));
    tokio::spawn(send_loop(Arc::clone(&service)));
    tracing::info!(store = %service.cfg.store, "DMARC aggregate reports enabled");
    Ok(service)
}

impl Service {
    /// Writes what is in memory to the store; on failure the counts stay in memory
    /// for the next try.
    pub async fn flush(self: &Arc<Self>) {
        let pending = self.recorder.aggregate().take();
        if pending.is_empty() {
            return;
        }
        let me = Arc::clone(self);
        let result = tokio::task::spawn_blocking(move || {
            let r = me.store.add(&pending);
            if r.is_err() {
                me.recorder.aggregate().restore(pending);
            }
            r
        })
        .await;
        if let Ok(Err(e)) = result {
            crate::metrics::global().error(crate::metrics::error_kind::DMARC_REPORT);
            tracing::error!(error = %format!("{e:#}"), "cannot write DMARC report counts to the store; keeping them in memory");
        }
    }

    /// Sends the reports of every finished period.
    async fn send_due(self: &Arc<Self>) {
        let me = Arc::clone(self);
        let handle = Handle::current();
        let result = tokio::task::spawn_blocking(move || {
            let check = DnsCheck {
                dns: me.dns.clone(),
                handle,
            };
            let sender = Sender {
                cfg: &me.cfg,
                store: me.store.as_ref(),
                check: &check,
                output: Output::Mta(Transport::parse(&me.cfg.send_via)?),
            };
            sender.send_due(unix_now())
        })
        .await;
        match result {
            Ok(Ok(s)) if s == Default::default() => {}
            Ok(Ok(s)) => tracing::info!(
                sent = s.sent,
                skipped = s.skipped,
                failed = s.failed,
                "DMARC reports"
            ),
            Ok(Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "sending DMARC reports failed")
            }
            Err(e) => tracing::error!(error = %e, "sending DMARC reports panicked"),
        }
    }
}

async fn flush_loop(service: Arc<Service>) {
    let every = service
        .cfg
        .flush_interval
        .duration()
        .max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        service.flush().await;
    }
}

/// Sends at each period boundary (plus a minute, so every gateway of a fleet has
/// flushed the period's last counts), and once at start for anything left over.
async fn send_loop(service: Arc<Service>) {
    let interval = service.recorder.interval();
    let settle = service.cfg.flush_interval.duration().as_secs() + 60;
    loop {
        service.send_due().await;
        let now = unix_now();
        let next = super::record::period_start(now, interval) + interval + settle;
        tokio::time::sleep(Duration::from_secs(next.saturating_sub(now))).await;
        service.flush().await;
    }
}

/// The installed service, if `run` enabled DMARC reports.
pub fn service() -> Option<&'static Arc<Service>> {
    SERVICE.get()
}

/// Whether `env` is inbound mail to one of `ingest_addresses`: the pipeline keeps
/// such a message whole for [`capture`].
pub fn wants(env: &Envelope) -> bool {
    service().is_some_and(|service| {
        env.direction() == Direction::Inbound
            && env.rcpts.iter().any(|r| {
                let r = strip_brackets(r);
                service
                    .cfg
                    .ingest_addresses
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(r))
            })
    })
}

/// End of an inbound message: a copy of a mail to one of `ingest_addresses` that
/// is being delivered is read as a report about us in the background. The message
/// itself goes on unchanged (a report we cannot read is logged and counted, never
/// rejected).
pub fn capture(env: &Envelope, raw: Option<Vec<u8>>, action: Action) {
    let Some(service) = service() else { return };
    if !matches!(action, Action::Accept | Action::Tag) || !wants(env) {
        return;
    }
    let Some(raw) = raw else {
        tracing::warn!("DMARC report mail too large to keep; not ingested");
        return;
    };
    let service = Arc::clone(service);
    tokio::task::spawn_blocking(move || {
        match ingest::ingest(&raw, service.store.as_ref(), &service.local_domains) {
            Ok(r) => {
                tracing::info!(domain = %r.domain, org = %r.org, messages = r.messages, new = r.new, "DMARC report ingested")
            }
            Err(e) => {
                crate::metrics::global().error(crate::metrics::error_kind::DMARC_REPORT);
                tracing::warn!(error = %format!("{e:#}"), "cannot read an inbound DMARC report");
            }
        }
    });
}

/// RFC 7489 §7.1 over the configured resolver: a `v=DMARC1` TXT record at
/// `<domain>._report._dmarc.<dest-domain>` (or the `*` wildcard name there).
pub struct DnsCheck {
    pub dns: Dns,
    pub handle: Handle,
}

impl DestinationCheck for DnsCheck {
    fn accepts(&self, policy_domain: &str, dest_domain: &str) -> bool {
        let resolver = self.dns.authenticator().resolver();
        [policy_domain, "*"].iter().any(|d| {
            let name = format!("{d}._report._dmarc.{dest_domain}.");
            self.handle.block_on(async {
                let Ok(lookup) = resolver.txt_lookup(name).await else {
                    return false;
                };
                lookup.answers().iter().any(|r| match &r.data {
                    mail_auth::hickory_resolver::proto::rr::RData::TXT(txt) => {
                        let text: Vec<u8> = txt
                            .txt_data
                            .iter()
                            .flat_map(|d| d.iter().copied())
                            .collect();
                        text.starts_with(b"v=DMARC1")
                    }
                    _ => false,
                })
            })
        })
    }
}

/// Opens the store for the CLI commands.
pub fn open_store(cfg: &DmarcReportsConfig) -> Result<Box<dyn Store>> {
    store::open(&cfg.store).with_context(|| format!("[dmarc_reports] store = {:?}", cfg.store))
}
