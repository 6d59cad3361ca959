//! Configuration: `sge-milter.toml` plus the rule files in `rules/`, with the defaults
//! compiled into the binary. Loading validates everything and reports errors with
//! file and line; it never touches the network.
//!
//! Every file model (what serde reads from the files) lives here; the runtime types
//! compiled from them live next to the code that uses them. This module imports
//! nothing else from the crate but `envelope::Direction`, so every other module may
//! depend on it.

mod action;
pub mod auth;
pub mod content;
pub mod dlp;
pub mod dmarc_reports;
mod error;
pub mod headers;
pub mod keywords;
pub mod markings;
pub mod policy;
mod posture;
mod tls_policy;
mod units;

pub use action::Action;
pub use error::{ConfigError, ConfigErrors};
pub use posture::PostureConfig;
pub use tls_policy::TlsPolicyConfig;
pub use units::{ByteSize, Seconds};

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The default main configuration, compiled into the binary.
pub const DEFAULT_CONFIG: &str = include_str!("../../sge-milter.toml");

/// Rule files the product knows, with their embedded defaults.
pub const EMBEDDED_RULES: &[(&str, &str)] = &[
    ("keywords.toml", include_str!("../../rules/keywords.toml")),
    ("markings.toml", include_str!("../../rules/markings.toml")),
    ("dlp.toml", include_str!("../../rules/dlp.toml")),
];

/// The main configuration file, as written by the admin.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub milter: MilterConfig,
    #[serde(default)]
    pub direction: DirectionConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub dns: auth::DnsConfig,
    #[serde(default)]
    pub auth: auth::AuthConfig,
    #[serde(default)]
    pub policy: policy::PolicyConfig,
    #[serde(default)]
    pub routes: policy::RoutesConfig,
    #[serde(default)]
    pub content: content::ContentConfig,
    #[serde(default)]
    pub tls_policy: TlsPolicyConfig,
    #[serde(default)]
    pub posture: PostureConfig,
    #[serde(default)]
    pub dmarc_reports: dmarc_reports::DmarcReportsConfig,
    #[serde(default)]
    pub headers: headers::HeadersConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MilterConfig {
    /// `inet:HOST:PORT` or `unix:PATH`.
    pub listen: String,
    pub max_connections: usize,
    /// Idle time allowed between two milter commands before the connection is closed.
    pub connection_timeout: Seconds,
    /// How long SIGTERM waits for in-flight messages before exiting.
    pub shutdown_grace: Seconds,
    /// File mode of a unix socket, octal string (e.g. "0660").
    pub socket_mode: Option<String>,
    /// Owner of a unix socket: a user name or numeric uid (unset = the running user).
    pub socket_owner: Option<IdOrName>,
    /// Group of a unix socket: a group name or numeric gid (unset = the running group).
    pub socket_group: Option<IdOrName>,
}

/// A user or group given by name (`"postfix"`) or numeric id (`105` or `"105"`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum IdOrName {
    Id(u32),
    Name(String),
}

impl std::fmt::Display for IdOrName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdOrName::Id(id) => write!(f, "{id}"),
            IdOrName::Name(name) => write!(f, "{name:?}"),
        }
    }
}

impl Default for MilterConfig {
    fn default() -> Self {
        MilterConfig {
            listen: "inet:127.0.0.1:8894".into(),
            max_connections: 256,
            connection_timeout: Seconds(300.0),
            shutdown_grace: Seconds(30.0),
            socket_mode: None,
            socket_owner: None,
            socket_group: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectionConfig {
    /// Clients in these networks send outbound mail (CIDR, e.g. `10.0.0.0/8`).
    pub trusted_networks: Vec<String>,
    /// `{daemon_name}` values whose mail is outbound (Postfix: `-o milter_macro_daemon_name=ORIGINATING`).
    pub outbound_daemon_names: Vec<String>,
    /// Mail from a SASL-authenticated client (`{auth_authen}`) is outbound.
    pub authenticated_is_outbound: bool,
}

impl Default for DirectionConfig {
    fn default() -> Self {
        DirectionConfig {
            trusted_networks: vec!["127.0.0.0/8".into(), "::1/128".into()],
            outbound_daemon_names: vec!["ORIGINATING".into()],
            authenticated_is_outbound: true,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest message kept in memory for authentication and scanned.
    pub max_message_size: ByteSize,
    /// What to do with a bigger message.
    pub oversize_action: Action,
    pub max_mime_depth: u32,
    pub max_mime_parts: u32,
    pub max_header_line: ByteSize,
    /// What to do with structurally broken MIME (unterminated multipart, bad base64,
    /// nesting over the limit), per direction (one action = both). Content is still
    /// scanned as far as it can be.
    pub malformed_mime_action: content::PerDirection,
    /// What to do when sge-milter itself fails on a message (fail-closed by default).
    pub internal_error_action: Action,
    /// Bytes of all messages in flight together (what is kept of each, up to
    /// `max_message_size`). When full, new messages and the one that would overflow
    /// it get `451 4.3.1`, so memory stays bounded under any load.
    pub max_in_flight_bytes: ByteSize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_message_size: ByteSize(64 * 1024 * 1024),
            oversize_action: Action::Tempfail,
            max_mime_depth: 20,
            max_mime_parts: 1000,
            max_header_line: ByteSize(64 * 1024),
            malformed_mime_action: content::PerDirection {
                inbound: Action::Tag,
                outbound: Action::Quarantine,
            },
            internal_error_action: Action::Tempfail,
            max_in_flight_bytes: ByteSize(1024 * 1024 * 1024),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Directory holding rule files. A known rule file missing from it falls back to
    /// the embedded default. Relative paths are relative to the config file.
    pub dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// `tracing` filter, e.g. `info` or `sge_milter=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// The Prometheus `/metrics` endpoint.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `HOST:PORT` of the HTTP endpoint; empty disables it. Unset in a config file
    /// means disabled, so several milters can run side by side without fighting over
    /// a port; the shipped sge-milter.toml enables it on 127.0.0.1:9894.
    pub listen: String,
}

/// One rule file's text and where it came from.
#[derive(Clone, Debug)]
pub struct RuleFile {
    /// The file name the product knows it by, e.g. `keywords.toml`.
    pub name: &'static str,
    /// Path, or `embedded:rules/<name>` for the built-in default; used in errors.
    pub origin: String,
    pub text: String,
}

/// A configuration with its rule files, read and parsed but not yet compiled.
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    pub config: Config,
    /// Where the main config came from (path or `embedded:sge-milter.toml`).
    pub origin: String,
    /// The main config text, for line numbers in validation errors.
    pub text: String,
    pub rule_files: Vec<RuleFile>,
}

impl LoadedConfig {
    /// The rule file of that name (always present: embedded defaults fill gaps).
    pub fn rule_file(&self, name: &str) -> &RuleFile {
        self.rule_files
            .iter()
            .find(|f| f.name == name)
            .expect("every known rule file has an embedded default")
    }
}

/// Reads the main config (the embedded default when `path` is `None`) and every rule file.
pub fn load(path: Option<&Path>) -> Result<LoadedConfig, ConfigErrors> {
    let (origin, text, base_dir) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                ConfigError::new(p.display().to_string(), None, format!("cannot read: {e}"))
            })?;
            let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
            (p.display().to_string(), text, base)
        }
        None => (
            "embedded:sge-milter.toml".to_string(),
            DEFAULT_CONFIG.to_string(),
            PathBuf::new(),
        ),
    };
    let config: Config = parse_toml(&origin, &text)?;
    let rule_files = read_rule_files(&config, &base_dir)?;
    Ok(LoadedConfig {
        config,
        origin,
        text,
        rule_files,
    })
}

fn read_rule_files(config: &Config, base_dir: &Path) -> Result<Vec<RuleFile>, ConfigErrors> {
    let dir = config.rules.dir.as_ref().map(|d| base_dir.join(d));
    if let Some(d) = &dir
        && !d.is_dir()
    {
        return Err(ConfigError::new(
            d.display().to_string(),
            None,
            "[rules] dir is not a directory".to_string(),
        )
        .into());
    }
    let mut files = Vec::new();
    let mut errors = ConfigErrors::default();
    for (name, embedded) in EMBEDDED_RULES {
        let on_disk = dir.as_ref().map(|d| d.join(name)).filter(|p| p.exists());
        match on_disk {
            Some(p) => match std::fs::read_to_string(&p) {
                Ok(text) => files.push(RuleFile {
                    name,
                    origin: p.display().to_string(),
                    text,
                }),
                Err(e) => errors.push(ConfigError::new(
                    p.display().to_string(),
                    None,
                    format!("cannot read: {e}"),
                )),
            },
            None => files.push(RuleFile {
                name,
                origin: format!("embedded:rules/{name}"),
                text: (*embedded).to_string(),
            }),
        }
    }
    errors.into_result(files)
}

/// Parses TOML into `T`, turning errors into `file:line: message`.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    origin: &str,
    text: &str,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        ConfigError::new(origin.to_string(), line, e.message().to_string())
    })
}

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Finds the line where `needle` (e.g. a rule id in quotes) first appears, for
/// errors found after deserialisation, when toml no longer gives spans.
pub fn line_containing(text: &str, needle: &str) -> Option<usize> {
    text.find(needle).map(|off| line_of(text, off))
}

/// The line where `key` and the quoted `value` both appear (a `key = "value"` line),
/// else the first line holding the quoted value.
pub fn line_with(text: &str, key: &str, value: &str) -> Option<usize> {
    let quoted = format!("\"{value}\"");
    text.lines()
        .position(|l| l.contains(key) && l.contains(&quoted))
        .or_else(|| text.lines().position(|l| l.contains(&quoted)))
        .map(|i| i + 1)
}

/// The line that sets `key` (`key = ...`, not a comment that mentions it).
pub fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_loads() {
        let loaded = load(None).expect("embedded config is valid");
        assert_eq!(loaded.config.milter.listen, "inet:127.0.0.1:8894");
        assert!(
            loaded
                .rule_file("keywords.toml")
                .origin
                .starts_with("embedded:")
        );
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let err = parse_toml::<Config>(
            "x.toml",
            "[milter]\nlisten = \"inet:1.2.3.4:1\"\nbogus = 1\n",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.to_string().starts_with("x.toml:3:"), "{err}");
    }
}
