//! The socketmap's own reloadable parts: the MTA-STS fetcher and policy cache, and
//! the resolver it uses when the engine has none (`[auth] enabled = false`). A
//! SIGHUP rebuilds only what changed, as `Dns::reuse` does for the engine.

use super::mta_sts::{Fetcher, MtaSts};
use crate::auth::dns::Dns;
use crate::config::Config;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The `[tls_policy]` keys the MTA-STS state is built from.
#[derive(Clone, Debug, PartialEq)]
struct StsSettings {
    enabled: bool,
    ca_file: Option<PathBuf>,
    fetch_timeout: Duration,
    cache_entries: usize,
}

impl StsSettings {
    fn of(config: &Config) -> StsSettings {
        let cfg = &config.tls_policy;
        StsSettings {
            enabled: cfg.mta_sts,
            ca_file: cfg.ca_file.clone(),
            fetch_timeout: cfg.fetch_timeout.duration(),
            cache_entries: cfg.cache_entries,
        }
    }
}

/// What the socketmap built from the configuration, swapped whole on reload.
pub(super) struct StsState {
    settings: StsSettings,
    /// `None` when `[tls_policy] mta_sts = false`.
    pub(super) mta_sts: Option<Arc<MtaSts>>,
    /// The resolver when the running engine has none (authentication off).
    pub(super) dns: Dns,
}

impl StsState {
    /// Builds the state from `config`, keeping what `previous` has whose settings
    /// did not change. `base_dir` resolves a relative `ca_file`.
    pub(super) fn build(
        config: &Config,
        base_dir: &Path,
        previous: Option<&StsState>,
    ) -> Result<StsState, String> {
        let settings = StsSettings::of(config);
        let dns = match previous {
            // The engine's reload already logs what changed in [dns].
            Some(p) => Dns::reuse(&config.dns, &p.dns)?.0,
            None => Dns::new(&config.dns)?,
        };
        let running = previous.and_then(|p| Some((&p.settings, p.mta_sts.as_ref()?)));
        let mta_sts = match running {
            _ if !settings.enabled => None,
            Some((old, sts)) if *old == settings => Some(Arc::clone(sts)),
            Some((old, sts)) if old.cache_entries == settings.cache_entries => {
                tracing::info!(
                    "[tls_policy] MTA-STS fetch settings changed: HTTPS fetcher rebuilt; policy cache kept"
                );
                Some(Arc::new(sts.with_fetcher(fetcher(&settings, base_dir)?)))
            }
            _ => {
                if previous.is_some() {
                    tracing::info!(
                        "[tls_policy] MTA-STS turned on or cache_entries changed: policy cache rebuilt (empty)"
                    );
                }
                let fetcher = fetcher(&settings, base_dir)?;
                Some(Arc::new(MtaSts::new(fetcher, settings.cache_entries)))
            }
        };
        Ok(StsState {
            settings,
            mta_sts,
            dns,
        })
    }
}

fn fetcher(settings: &StsSettings, base_dir: &Path) -> Result<Fetcher, String> {
    let ca = settings.ca_file.as_ref().map(|f| base_dir.join(f));
    Fetcher::new(ca.as_deref(), settings.fetch_timeout).map_err(|e| format!("[tls_policy] {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(text: &str, previous: Option<&StsState>) -> StsState {
        let config = crate::config::parse_toml("t.toml", text).expect("config");
        StsState::build(&config, Path::new(""), previous).expect("state")
    }

    fn same(a: &StsState, b: &StsState) -> bool {
        match (&a.mta_sts, &b.mta_sts) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    #[test]
    fn rebuilds_only_what_changed() {
        let first = state("[tls_policy]\nmta_sts = true\n", None);
        let unchanged = state("[tls_policy]\nmta_sts = true\n", Some(&first));
        assert!(same(&first, &unchanged));
        let slower = state("[tls_policy]\nfetch_timeout = \"20s\"\n", Some(&unchanged));
        assert!(!same(&unchanged, &slower));
        assert!(
            slower
                .mta_sts
                .as_ref()
                .unwrap()
                .shares_cache(unchanged.mta_sts.as_ref().unwrap())
        );
        let resized = state("[tls_policy]\ncache_entries = 5\n", Some(&slower));
        assert!(
            !resized
                .mta_sts
                .as_ref()
                .unwrap()
                .shares_cache(slower.mta_sts.as_ref().unwrap())
        );
        let off = state("[tls_policy]\nmta_sts = false\n", Some(&resized));
        assert!(off.mta_sts.is_none());
        let on = state("[tls_policy]\nmta_sts = true\n", Some(&off));
        assert!(on.mta_sts.is_some());
    }

    #[test]
    fn an_unreadable_ca_file_is_an_error() {
        let config = crate::config::parse_toml(
            "t.toml",
            "[tls_policy]\nca_file = \"/nonexistent/ca.pem\"\n",
        )
        .expect("config");
        let err = StsState::build(&config, Path::new(""), None)
            .err()
            .expect("error");
        assert!(err.contains("ca_file"), "{err}");
    }
}
