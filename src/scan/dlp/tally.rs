//! Per-message counts of hits by detector and confidence, with a few masked samples.

use super::identify::Confidence;

/// Masked samples kept per detector and confidence.
pub const MAX_SAMPLES: usize = 3;

#[derive(Clone, Debug, Default)]
pub struct DetectorTally {
    pub counts: [u64; 3],
    pub samples: [Vec<String>; 3],
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

    /// Hits of detector `det` at `min` confidence or above.
    pub fn at_least(&self, det: usize, min: Confidence) -> u64 {
        self.by_detector[det].counts[min as usize..].iter().sum()
    }
}
