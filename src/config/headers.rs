//! `[headers]`: which of sge-milter's own headers travel with outbound mail.

use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadersConfig {
    /// Add `X-SGE-Findings` (the ids of the rules that fired) to tagged and
    /// quarantined outbound mail too. Off by default: rule ids are internal and
    /// would go to the Internet with the message; the decision log has them.
    pub findings_outbound: bool,
}
