//! What a SIGHUP cannot change: settings read once at start (listening sockets,
//! the services started beside the milter). A reload logs one line for each of them
//! that changed, saying the running value stays until restart; everything else
//! applies with the new engine (docs/architecture.md, "Reload").

use crate::config::Config;
use std::fmt::Debug;

/// One restart-only setting: its name as the admin writes it, and its value.
struct RestartOnly {
    key: &'static str,
    value: fn(&Config) -> String,
}

/// Debug text as the value: the config types do not implement `PartialEq`, and
/// their Debug output covers every field in a fixed order (no hash maps).
fn text(v: &impl Debug) -> String {
    format!("{v:?}")
}

const RESTART_ONLY: &[RestartOnly] = &[
    RestartOnly {
        key: "[milter] listen",
        value: |c| text(&c.milter.listen),
    },
    RestartOnly {
        key: "[milter] socket_mode",
        value: |c| text(&c.milter.socket_mode),
    },
    RestartOnly {
        key: "[milter] socket_owner",
        value: |c| text(&c.milter.socket_owner),
    },
    RestartOnly {
        key: "[milter] socket_group",
        value: |c| text(&c.milter.socket_group),
    },
    RestartOnly {
        key: "[metrics] listen",
        value: |c| text(&c.metrics.listen),
    },
    RestartOnly {
        key: "[tls_policy] listen",
        value: |c| text(&c.tls_policy.listen),
    },
    // The monitor task is started once with its domain set and schedule.
    RestartOnly {
        key: "[posture]",
        value: |c| text(&c.posture),
    },
    // The report store and sender are opened once.
    RestartOnly {
        key: "[dmarc_reports]",
        value: |c| text(&c.dmarc_reports),
    },
];

/// The restart-only keys whose value differs between `old` and `new`.
pub fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    RESTART_ONLY
        .iter()
        .filter(|k| (k.value)(old) != (k.value)(new))
        .map(|k| k.key)
        .collect()
}

/// Logs one warning per restart-only setting that changed.
pub fn log_restart_only(old: &Config, new: &Config) {
    for key in restart_only_changes(old, new) {
        tracing::warn!(
            key,
            "{key} changed: it needs a restart; the running value stays until then"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        crate::config::parse_toml("t.toml", text).expect("config")
    }

    #[test]
    fn names_only_the_restart_only_keys_that_changed() {
        let old = cfg("[milter]\nlisten = \"inet:127.0.0.1:1\"\nmax_connections = 5\n");
        let new = cfg(
            "[milter]\nlisten = \"inet:127.0.0.1:2\"\nmax_connections = 6\n[metrics]\nlisten = \"127.0.0.1:3\"\n",
        );
        assert_eq!(
            restart_only_changes(&old, &new),
            ["[milter] listen", "[metrics] listen"]
        );
        assert!(restart_only_changes(&old, &old).is_empty());
        // The socketmap's [dns] and MTA-STS settings apply on reload; its socket does not.
        let sts = cfg("[tls_policy]\nlisten = \"127.0.0.1:4\"\n");
        let sts_changed = cfg(
            "[tls_policy]\nlisten = \"127.0.0.1:4\"\nmta_sts = false\ncache_entries = 9\n[dns]\ntimeout = \"9s\"\n",
        );
        assert!(restart_only_changes(&sts, &sts_changed).is_empty());
        let moved = cfg("[tls_policy]\nlisten = \"127.0.0.1:5\"\n");
        assert_eq!(restart_only_changes(&sts, &moved), ["[tls_policy] listen"]);
    }
}
