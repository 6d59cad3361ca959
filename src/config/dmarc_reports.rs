//! `[dmarc_reports]`: DMARC aggregate reports we owe the senders whose policies we
//! evaluated, and the ones other receivers send about our own domains.

use super::Seconds;
use serde::Deserialize;

/// `[dmarc_reports]` as written in the config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DmarcReportsConfig {
    /// Record inbound DMARC results and send reports on a schedule (`run`).
    pub enabled: bool,
    /// `file:DIR` (an SQLite database in DIR) or `redis://HOST:PORT/DB` (a fleet).
    pub store: String,
    /// How often the in-memory counts are written to the store: at most this much
    /// is lost when the process is killed with SIGKILL (SIGTERM flushes first).
    pub flush_interval: Seconds,
    /// Reporting period; periods start at UTC midnight (the epoch) and every
    /// `interval` after, so it should divide a day or be a multiple of one.
    pub interval: Seconds,
    /// Report metadata: `org_name`, `email` (also the report mail's From) and
    /// `extra_contact_info`.
    pub org_name: String,
    pub email: String,
    pub extra_contact_info: Option<String>,
    /// `sendmail:/path/to/sendmail` or `smtp:HOST:PORT` (plain SMTP to a local MTA).
    pub send_via: String,
    /// Inbound mail to these addresses (our rua mailbox) is read as a DMARC report
    /// about us; it is still delivered.
    pub ingest_addresses: Vec<String>,
}

impl Default for DmarcReportsConfig {
    fn default() -> Self {
        DmarcReportsConfig {
            enabled: false,
            store: "file:/var/lib/sge-milter/dmarc".into(),
            flush_interval: Seconds(10.0),
            interval: Seconds(86_400.0),
            org_name: String::new(),
            email: String::new(),
            extra_contact_info: None,
            send_via: "sendmail:/usr/sbin/sendmail".into(),
            ingest_addresses: Vec::new(),
        }
    }
}
