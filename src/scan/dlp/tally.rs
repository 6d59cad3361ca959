//! Per-message counts of hits by detector and confidence, with a few masked samples,
//! and the distinct valid values that make a bulk list.

use super::identify::Confidence;

/// Masked samples kept per detector and confidence.
pub const MAX_SAMPLES: usize = 3;

#[derive(Clone, Debug, Default)]
pub struct DetectorTally {
    pub counts: [u64; 3],
    pub samples: [Vec<String>; 3],
    /// Distinct values with a valid check digit (sorted), up to the bulk count:
    /// never more than `bulk_min_count` numbers, whatever the message holds.
    valid: Vec<u64>,
    /// The message holds a bulk list of this detector's identifiers.
    pub bulk: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub by_detector: Vec<DetectorTally>,
}

impl Tally {
    pub fn new(detectors: usize) -> Self {
        Tally {
            by_detector: vec![DetectorTally::default(); detectors],
        }
    }

    /// Whether another sample would be kept (so callers mask only when it would).
    pub fn wants_sample(&self, det: usize, conf: Confidence) -> bool {
        self.by_detector[det].samples[conf as usize].len() < MAX_SAMPLES
    }

    pub fn add(&mut self, det: usize, conf: Confidence, sample: Option<String>) {
        let t = &mut self.by_detector[det];
        t.counts[conf as usize] += 1;
        let samples = &mut t.samples[conf as usize];
        if let Some(s) = sample.filter(|_| samples.len() < MAX_SAMPLES) {
            samples.push(s);
        }
    }

    /// Records a value of detector `det` with a valid check digit, until `bulk`
    /// distinct ones are known (0: bulk lists are off).
    pub fn note_valid(&mut self, det: usize, key: u64, bulk: usize) {
        let valid = &mut self.by_detector[det].valid;
        if valid.len() >= bulk {
            return;
        }
        if let Err(at) = valid.binary_search(&key) {
            valid.insert(at, key);
        }
    }

    /// End of the message: a detector with `bulk` or more distinct valid values
    /// holds a list, not an accident, so its medium hits count as high (with or
    /// without a keyword nearby). Identifiers without a check digit never get here.
    pub fn promote_bulk(&mut self, bulk: usize) {
        if bulk == 0 {
            return;
        }
        let (medium, high) = (Confidence::Medium as usize, Confidence::High as usize);
        for t in &mut self.by_detector {
            if t.valid.len() < bulk {
                continue;
            }
            t.bulk = true;
            t.counts[high] += std::mem::take(&mut t.counts[medium]);
            let moved = std::mem::take(&mut t.samples[medium]);
            let room = MAX_SAMPLES.saturating_sub(t.samples[high].len());
            t.samples[high].extend(moved.into_iter().take(room));
        }
    }

    /// Hits of detector `det` at `min` confidence or above.
    pub fn at_least(&self, det: usize, min: Confidence) -> u64 {
        self.by_detector[det].counts[min as usize..].iter().sum()
    }
}
