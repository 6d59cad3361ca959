//! Log output for `sge-milter run`: `[log] level` and `format`, both changed by a
//! reload (tracing-subscriber `reload` layers). `SGE_MILTER_LOG` and `--log-format`
//! win over the file, at start and on every reload.

use crate::config::{LogConfig, LogFormat};
use std::sync::Mutex;
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

type Filtered = Layered<reload::Layer<EnvFilter, Registry>, Registry>;
type Output = Box<dyn Layer<Filtered> + Send + Sync>;

/// The installed subscriber's handles.
pub struct Logging {
    /// `None` while `SGE_MILTER_LOG` sets the level.
    filter: Option<reload::Handle<EnvFilter, Registry>>,
    /// `None` while `--log-format` sets the format.
    output: Option<reload::Handle<Output, Filtered>>,
    running: Mutex<LogConfig>,
}

fn output(format: LogFormat) -> Output {
    // Colour codes only on a terminal: a log file or journald gets plain text.
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        // No span fields: a span opened before a switch from text has none in
        // JSON form, and the JSON formatter would panic on it. Our events carry
        // their context as fields.
        LogFormat::Json => Box::new(
            layer
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false),
        ),
        LogFormat::Text => Box::new(layer),
    }
}

/// An unparsable level falls back to `info` (and says so once logging is up).
fn filter(level: &str) -> (EnvFilter, Option<String>) {
    match EnvFilter::try_new(level) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("info"), Some(e.to_string())),
    }
}

/// Installs the global subscriber. `format` overrides `cfg.format` for the
/// process's lifetime.
pub fn init(cfg: &LogConfig, format: Option<LogFormat>) -> Logging {
    let env = EnvFilter::try_from_env("SGE_MILTER_LOG").ok();
    let from_env = env.is_some();
    let (initial, bad_level) = match env {
        Some(f) => (f, None),
        None => filter(&cfg.level),
    };
    let (filter_layer, filter_handle) = reload::Layer::new(initial);
    let (output_layer, output_handle) = reload::Layer::new(output(format.unwrap_or(cfg.format)));
    tracing_subscriber::registry()
        .with(filter_layer)
        .with(output_layer)
        .init();
    if let Some(e) = bad_level {
        tracing::warn!(level = %cfg.level, error = %e, "[log] level is not a valid filter; using info");
    }
    Logging {
        filter: (!from_env).then_some(filter_handle),
        output: format.is_none().then_some(output_handle),
        running: Mutex::new(cfg.clone()),
    }
}

impl Logging {
    /// Applies a reloaded `[log]`; logs each change it makes.
    pub fn apply(&self, cfg: &LogConfig) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if cfg.level != running.level {
            match &self.filter {
                Some(handle) => {
                    let (f, bad) = filter(&cfg.level);
                    if let Err(e) = handle.reload(f) {
                        tracing::error!(error = %e, "cannot change the log level");
                    } else if let Some(e) = bad {
                        tracing::warn!(level = %cfg.level, error = %e, "[log] level is not a valid filter; using info");
                    } else {
                        tracing::info!(level = %cfg.level, "[log] level changed");
                    }
                }
                None => tracing::info!("[log] level changed; SGE_MILTER_LOG still sets it"),
            }
        }
        if cfg.format != running.format {
            match &self.output {
                Some(handle) => match handle.reload(output(cfg.format)) {
                    Ok(()) => tracing::info!(format = ?cfg.format, "[log] format changed"),
                    Err(e) => tracing::error!(error = %e, "cannot change the log format"),
                },
                None => tracing::info!("[log] format changed; --log-format still sets it"),
            }
        }
        *running = cfg.clone();
    }
}
