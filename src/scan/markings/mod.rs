//! Protective markings (NZISM 15.1, 15.2): reads the marking from the
//! `X-Protective-Marking` header, the subject and body/attachment banners, sets
//! [`MessageFacts::classification`], and enforces the system and route ceilings.
//!
//! Everything decidable from the headers (ceilings, releasability, unmarked outbound,
//! broken markings) is reported at end of headers, so the MTA refuses before the body.
//! Banners can only raise the classification; what they change is reported at the end.

mod banner;
mod enforce;
pub mod keyvalue;
mod read;
pub mod rules;
pub mod vocab;

use super::{ScanState, Scanner};
use crate::config::markings::{ActionsSpec, CarriersSpec, MarkingsFile};
use crate::config::policy::MarkingEnforcement;
use crate::config::{
    ConfigError, ConfigErrors, EMBEDDED_RULES, LoadedConfig, RuleFile, line_with, parse_toml,
};
use crate::envelope::Envelope;
use crate::policy::routes::RoutePolicy;
use read::MarkingState;
use std::sync::{Arc, LazyLock};
use vocab::{Vocabulary, VocabularySpec};

/// The rule file this scanner reads.
pub const RULE_FILE: &str = "markings.toml";

/// Compiled marking rules and routes.
#[derive(Debug)]
pub struct MarkingScanner {
    vocab: Arc<Vocabulary>,
    routes: RoutePolicy,
    carriers: CarriersSpec,
    trace_header: Option<String>,
    default_level: Option<usize>,
    no_tls_rank: u32,
    actions: ActionsSpec,
    enforcement: MarkingEnforcement,
}

impl MarkingScanner {
    /// Compiles `markings.toml` with `[policy]` and `[routes]` of the main config.
    /// Every unknown level (in a ceiling or in the markings file) is reported with
    /// the file and line that names it.
    pub fn compile(loaded: &LoadedConfig) -> Result<MarkingScanner, ConfigErrors> {
        let file = loaded.rule_file(RULE_FILE);
        let spec: MarkingsFile = parse_toml(&file.origin, &file.text)?;
        let vocab = compile_vocabulary(&spec, file)?;
        let mut errors = ConfigErrors::default();
        let file_level = |key: &str, value: &str, errors: &mut ConfigErrors| {
            let found = vocab.find_level(value);
            if found.is_none() {
                errors.push(ConfigError::new(
                    file.origin.clone(),
                    line_with(&file.text, key, value),
                    format!("{key}: {value:?} is not a level defined in this file"),
                ));
            }
            found
        };
        let no_tls = file_level(
            "no_tls_min_level",
            &spec.inbound.no_tls_min_level,
            &mut errors,
        );
        let default_level = spec
            .inbound
            .default_level
            .as_deref()
            .filter(|l| !l.is_empty())
            .and_then(|l| file_level("default_level", l, &mut errors));
        check_header_name(&spec.carriers.header_name, file, &mut errors);
        let rank_of = |name: &str| {
            vocab
                .find_level(name)
                .map(|i| (vocab.level(i).name.clone(), vocab.level(i).rank))
        };
        let routes = RoutePolicy::compile(
            &loaded.config.policy,
            &loaded.config.routes,
            &rank_of,
            &loaded.origin,
            &loaded.text,
        )
        .map_err(|e| errors.extend(ConfigErrors(e)))
        .ok();
        let trace_header = Some(spec.inbound.trace_header.clone()).filter(|h| !h.is_empty());
        match routes {
            Some(routes) if errors.is_empty() => Ok(MarkingScanner {
                no_tls_rank: no_tls.map_or(u32::MAX, |i| vocab.level(i).rank),
                vocab: Arc::new(vocab),
                routes,
                carriers: spec.carriers,
                trace_header,
                default_level,
                actions: spec.actions,
                enforcement: loaded.config.policy.marking_enforcement,
            }),
            _ => Err(errors),
        }
    }

    /// The compiled vocabulary: `rank_of("IN-CONFIDENCE")` for thresholds elsewhere.
    pub fn vocabulary(&self) -> &Arc<Vocabulary> {
        &self.vocab
    }

    pub fn routes(&self) -> &RoutePolicy {
        &self.routes
    }
}

/// The vocabulary (levels, endorsements, releasability) of a markings file.
fn compile_vocabulary(spec: &MarkingsFile, file: &RuleFile) -> Result<Vocabulary, ConfigErrors> {
    let levels: Vec<(String, u32, Vec<String>)> = spec
        .levels
        .iter()
        .map(|l| (l.name.clone(), l.rank, l.spellings.clone()))
        .collect();
    Vocabulary::compile(
        &VocabularySpec {
            levels: &levels,
            endorsements: &spec.endorsements,
            nzeo: &spec.releasability.nzeo,
            rel_to: &spec.releasability.rel_to,
            seemail: &spec.carriers.seemail,
        },
        &file.origin,
        &file.text,
    )
    .map_err(ConfigErrors)
}

fn check_header_name(header_name: &str, file: &RuleFile, errors: &mut ConfigErrors) {
    let valid = !header_name.is_empty()
        && header_name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b':');
    if !valid {
        errors.push(ConfigError::new(
            file.origin.clone(),
            line_with(&file.text, "header_name", header_name),
            format!("header_name {header_name:?} is not a valid header field name"),
        ));
    }
}

/// The vocabulary of the embedded `markings.toml`: the level ranks of tools and
/// tests that compile DLP rules on their own, and of DLP when the configured
/// markings file is broken (its errors are reported anyway).
pub fn embedded_vocabulary() -> &'static Vocabulary {
    static EMBEDDED: LazyLock<Vocabulary> = LazyLock::new(|| {
        let text = EMBEDDED_RULES
            .iter()
            .find(|(name, _)| *name == RULE_FILE)
            .map(|(_, text)| *text)
            .expect("markings.toml is embedded");
        let file = RuleFile {
            name: RULE_FILE,
            origin: format!("embedded:rules/{RULE_FILE}"),
            text: text.to_string(),
        };
        parse_toml(&file.origin, &file.text)
            .map_err(ConfigErrors::from)
            .and_then(|spec: MarkingsFile| compile_vocabulary(&spec, &file))
            .expect("the embedded markings.toml is valid")
    });
    &EMBEDDED
}

impl Scanner for Arc<MarkingScanner> {
    fn name(&self) -> &'static str {
        "markings"
    }

    fn begin(&self, _envelope: &Envelope) -> Option<Box<dyn ScanState>> {
        Some(Box::new(MarkingState::new(Arc::clone(self))))
    }
}

#[cfg(test)]
mod tests;
