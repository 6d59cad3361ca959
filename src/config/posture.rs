//! `[posture]`: the public-configuration (posture) monitor.

use super::Seconds;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostureConfig {
    /// Domains `run` checks every `interval` (and exports as
    /// `sgemilter_posture_check{domain,check}`); empty turns the monitor off.
    pub domains: Vec<String>,
    /// Time between two monitor runs.
    pub interval: Seconds,
    /// DKIM selectors to check, per domain.
    pub selectors: BTreeMap<String, Vec<String>>,
}

impl Default for PostureConfig {
    fn default() -> Self {
        PostureConfig {
            domains: Vec::new(),
            interval: Seconds(6.0 * 3600.0),
            selectors: BTreeMap::new(),
        }
    }
}
