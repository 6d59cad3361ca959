//! The global in-flight byte budget (`[limits] max_in_flight_bytes`): every message
//! charges the bytes it has sent so far and gives them back when it ends, however
//! it ends. A message that would overflow the budget is tempfailed instead of
//! buffered, so the process does not grow with the load. Every refusal is counted in
//! `sgemilter_in_flight_refusals_total{stage}`, here where it is decided.

use crate::metrics::{self, in_flight_stage};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes held by all messages in flight.
#[derive(Debug, Default)]
pub struct ByteBudget {
    used: AtomicU64,
}

impl ByteBudget {
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether a new message may start (MAIL FROM): `false`, counted as a refusal at
    /// stage `mail`, once `limit` bytes are held.
    pub fn admits(&self, limit: u64) -> bool {
        let admitted = self.used() < limit;
        if !admitted {
            metrics::global().in_flight_refusal(in_flight_stage::MAIL);
        }
        admitted
    }

    /// Takes `n` bytes if that stays within `limit`.
    fn try_take(&self, n: u64, limit: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |u| {
                u.checked_add(n).filter(|t| *t <= limit)
            })
            .is_ok()
    }

    fn give_back(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// One message's share of the budget; returned on drop.
#[derive(Debug)]
pub struct Charge {
    budget: Arc<ByteBudget>,
    bytes: u64,
}

impl Charge {
    pub fn new(budget: &Arc<ByteBudget>) -> Charge {
        Charge {
            budget: Arc::clone(budget),
            bytes: 0,
        }
    }

    /// Charges `n` more bytes, counting only up to `cap` for this message (a message
    /// over `max_message_size` is no longer kept). `false` when the budget is full:
    /// counted as a refusal at stage `data` (the caller tempfails and ends the
    /// message, so each refused message counts once).
    pub fn add(&mut self, n: usize, cap: u64, limit: u64) -> bool {
        let n = (n as u64).min(cap.saturating_sub(self.bytes));
        if n == 0 {
            return true;
        }
        if self.budget.try_take(n, limit) {
            self.bytes += n;
            true
        } else {
            metrics::global().in_flight_refusal(in_flight_stage::DATA);
            false
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_bounded_capped_and_returned() {
        let b = Arc::new(ByteBudget::default());
        let mut one = Charge::new(&b);
        assert!(one.add(60, 1000, 100));
        let mut two = Charge::new(&b);
        assert!(!two.add(50, 1000, 100), "would overflow");
        assert!(two.add(40, 1000, 100));
        assert_eq!(b.used(), 100);
        // Past its own cap a message charges nothing more.
        assert!(one.add(500, 60, 100));
        drop(one);
        assert_eq!(b.used(), 40);
        drop(two);
        assert_eq!(b.used(), 0);
    }
}
