//! Content extractors: turn the bytes of a leaf MIME part (or an archive member)
//! into the text that every scanner reads, or say why that is impossible
//! ([`Uninspectable`]). Everything here is bounded by one per-message [`Budget`].
//!
//! The format modules are pure functions over a buffered part (or, for HTML, a
//! streaming state machine); [`router`] types every part by its content
//! ([`sniff`]) and sends it to them, and is what the pipeline puts between the MIME
//! walker and the scanners.

pub mod encoded;
mod formats;
pub mod gzip;
pub mod html;
pub mod ole;
pub mod pdf;
pub mod router;
pub mod rtf;
#[doc(hidden)]
pub mod samples;
pub mod sniff;
pub mod xml;
pub mod zip;

pub use router::{Routed, Router};

use std::time::{Duration, Instant};

/// Why some content could not be read. Shown in findings and logs: it names the
/// kind of problem, never content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Uninspectable {
    #[error("encrypted archive entry")]
    Encrypted,
    #[error("encrypted Office document")]
    EncryptedOffice,
    #[error("encrypted PDF")]
    EncryptedPdf,
    #[error("encrypted message ({0})")]
    EncryptedMessage(&'static str),
    #[error("archive has more than {0} entries")]
    TooManyEntries(usize),
    #[error("archive expands beyond {0} bytes")]
    TooLarge(u64),
    #[error("archive entry compression ratio over {0}")]
    Ratio(u64),
    #[error("archives nested deeper than {0}")]
    TooDeep(u32),
    #[error("attachment larger than the {0}-byte inspection buffer")]
    BufferLimit(u64),
    #[error("per-message extraction budget of {0} bytes used up")]
    ByteBudget(u64),
    #[error("per-message extraction time budget of {0:?} used up")]
    TimeBudget(Duration),
    #[error("{0} content is not opened")]
    Unsupported(&'static str),
    #[error("damaged or unsupported {0}")]
    Damaged(String),
    #[error("binary attachment of {0} bytes that cannot be inspected")]
    Opaque(u64),
}

/// The per-message extraction budget, shared by every extractor that runs on one
/// message: bytes produced (decompressed or extracted) and wall-clock time.
/// Extractors call [`Budget::spend`] for every piece of output they produce (and
/// at least every 64 KiB of input they walk), and stop with the error it returns.
#[derive(Clone, Debug)]
pub struct Budget {
    max_bytes: u64,
    spent: u64,
    max_time: Duration,
    /// Set by the first `spend`, so a budget made at MAIL FROM does not count the
    /// time the MTA took to send the body.
    started: Option<Instant>,
}

impl Budget {
    pub fn new(max_bytes: u64, max_time: Duration) -> Budget {
        Budget {
            max_bytes,
            spent: 0,
            max_time,
            started: None,
        }
    }

    /// A budget that never runs out (tests, benches).
    pub fn unlimited() -> Budget {
        Budget::new(u64::MAX, Duration::MAX)
    }

    /// Charges `n` bytes of work; an error once either budget is exhausted.
    pub fn spend(&mut self, n: usize) -> Result<(), Uninspectable> {
        self.spent = self.spent.saturating_add(n as u64);
        if self.spent > self.max_bytes {
            return Err(Uninspectable::ByteBudget(self.max_bytes));
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        if started.elapsed() > self.max_time {
            return Err(Uninspectable::TimeBudget(self.max_time));
        }
        Ok(())
    }

    /// Bytes charged so far.
    pub fn spent(&self) -> u64 {
        self.spent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_budget_runs_out() {
        let mut b = Budget::new(10, Duration::from_secs(60));
        assert!(b.spend(6).is_ok());
        assert_eq!(b.spend(6), Err(Uninspectable::ByteBudget(10)));
    }

    #[test]
    fn time_budget_runs_out() {
        let mut b = Budget::new(u64::MAX, Duration::ZERO);
        b.spend(1).ok();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(b.spend(1), Err(Uninspectable::TimeBudget(Duration::ZERO)));
    }
}
