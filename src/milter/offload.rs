//! Where a message's end-of-message checks run, so that heavy work never stalls
//! the async workers that serve every other connection.
//!
//! Body chunks are scanned and hashed as they arrive, 64 KiB at a time, which
//! costs every message about the same per byte. What can take long happens at the
//! end: opening attached containers (archives, PDF, Office documents: the router
//! holds them until then, see `extract::Router::finish`), and reading a kept body
//! again (DKIM for a message whose header block mail-auth could not parse on its
//! own, DMARC report capture). So:
//!
//! - a message without containers and with less than [`OFF_RUNTIME_BYTES`] of kept
//!   body finishes on the runtime (no thread hand-off: its end of message is a
//!   signature or two and the verdict, whatever the message's size);
//! - one with a large kept body finishes on the blocking pool at once: its work is
//!   a few milliseconds, linear in that size, and it must never queue behind a
//!   container being opened;
//! - a message with containers to open takes one of a few permits first, so
//!   extraction occupies at most half the CPUs and the runtime keeps the rest.

use crate::pipeline::MessageScan;
use crate::policy::Decision;
use std::sync::OnceLock;
use tokio::sync::Semaphore;

/// Messages keeping at least this much body for end of message finish off the
/// async workers.
pub const OFF_RUNTIME_BYTES: u64 = 1024 * 1024;

/// Where one message's end of message runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    Runtime,
    Blocking,
    /// On the blocking pool, after taking an extraction permit.
    Extraction,
}

/// Chooses where a message keeping `body_kept` bytes of body to read again, and
/// holding `held` bytes of containers to open, finishes.
pub fn placement(body_kept: u64, held: usize) -> Placement {
    if held > 0 {
        Placement::Extraction
    } else if body_kept >= OFF_RUNTIME_BYTES {
        Placement::Blocking
    } else {
        Placement::Runtime
    }
}

/// Permits for container extraction: half the CPUs, at least one.
fn extraction_permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Semaphore::new((cpus / 2).max(1))
    })
}

/// Runs the end-of-message checks where [`placement`] says. Off the runtime, DNS
/// waits still run on the runtime's I/O driver, and a panic is resumed here so
/// the caller contains it like any other.
pub async fn finish(mut scan: Box<MessageScan>) -> (Box<MessageScan>, Decision) {
    let _permit = match placement(scan.raw().body_kept(), scan.held_content_bytes()) {
        Placement::Runtime => {
            let decision = scan.finish().await;
            return (scan, decision);
        }
        Placement::Blocking => None,
        // The semaphore is never closed.
        Placement::Extraction => extraction_permits().acquire().await.ok(),
    };
    let rt = tokio::runtime::Handle::current();
    let done = tokio::task::spawn_blocking(move || {
        let decision = rt.block_on(scan.finish());
        (scan, decision)
    })
    .await;
    match done {
        Ok(done) => done,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("end of message task cancelled: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_containers_wait_for_an_extraction_permit() {
        assert_eq!(placement(20_000, 0), Placement::Runtime);
        assert_eq!(placement(OFF_RUNTIME_BYTES, 0), Placement::Blocking);
        assert_eq!(placement(20 << 20, 0), Placement::Blocking);
        assert_eq!(placement(20_000, 5_000), Placement::Extraction);
        assert_eq!(placement(20 << 20, 15 << 20), Placement::Extraction);
    }
}
