//! Monitor mode: `run` checks `[posture] domains` every `interval` and exports the
//! results as `sgemilter_posture_check{domain,check}` (the domain label comes from
//! the configuration only, so it is bounded) and
//! `sgemilter_posture_last_run_timestamp_seconds`. The domain list is read at start;
//! a SIGHUP reload does not change it (restart to change the monitored set).

use super::{Checker, Status, selectors_for};
use crate::config::PostureConfig;
use crate::spf_eval::SpfDns;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One pass over every domain, recorded in the metrics and the log.
pub async fn run_once<D: SpfDns>(checker: &Checker<D>, cfg: &PostureConfig) {
    let metrics = &crate::metrics::global().connectors;
    for domain in &cfg.domains {
        let report = checker
            .check(domain, &selectors_for(cfg, domain, &[]))
            .await;
        for c in &report.checks {
            metrics.posture_check(&report.domain, c.check, c.status.gauge());
            if c.status != Status::Pass {
                tracing::warn!(domain = %report.domain, check = c.check, status = c.status.as_str(), detail = %c.detail, "posture check");
            }
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    metrics.posture_run(now);
    tracing::info!(domains = cfg.domains.len(), "posture run finished");
}

/// Runs [`run_once`] now and then every `interval`, forever.
pub async fn run_forever<D: SpfDns>(checker: Checker<D>, cfg: PostureConfig) {
    // At least a minute between runs, whatever the config says: the checks query
    // other agencies' DNS and web servers.
    let interval = cfg.interval.duration().max(Duration::from_secs(60));
    loop {
        run_once(&checker, &cfg).await;
        tokio::time::sleep(interval).await;
    }
}
