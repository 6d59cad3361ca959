//! Rule-file and configuration loading: any bytes as one rule file (or the main
//! config) must give `file:line` errors from `check-rules`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sge_milter::config::{self, Config};
use sge_milter::pipeline::Engine;
use std::sync::LazyLock;

static DEFAULTS: LazyLock<config::LoadedConfig> =
    LazyLock::new(|| config::load(None).expect("embedded config loads"));

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut loaded = DEFAULTS.clone();
    let slot = usize::from(first) % (loaded.rule_files.len() + 1);
    match loaded.rule_files.get_mut(slot) {
        Some(file) => file.text = text.to_string(),
        None => match config::parse_toml::<Config>("fuzz.toml", text) {
            Ok(c) => {
                loaded.config = c;
                loaded.text = text.to_string();
            }
            Err(e) => {
                let _ = e.to_string();
                return;
            }
        },
    }
    // Never start a resolver or read key files from fuzz input.
    loaded.config.auth.enabled = false;
    loaded.config.auth.dkim_keys.clear();
    if let Err(errors) = Engine::compile(loaded) {
        let _ = errors.to_string();
    }
});
