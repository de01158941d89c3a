//! Latency samples and their percentiles.
//!
//! Samples are kept whole (a few hundred thousand `u64` at most) and sorted once: exact
//! percentiles, no histogram crate needed.

use serde::Serialize;

/// Latencies in microseconds.
#[derive(Default)]
pub struct Samples(Vec<u64>);

impl Samples {
    pub fn with_capacity(n: usize) -> Samples {
        Samples(Vec::with_capacity(n))
    }

    pub fn push(&mut self, micros: u64) {
        self.0.push(micros);
    }

    pub fn push_duration(&mut self, d: std::time::Duration) {
        self.push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// p50, p99 and the maximum; `None` without samples.
    pub fn summary(mut self) -> Option<Summary> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let at = |p: f64| self.0[nearest_rank(self.0.len(), p)] as f64 / 1000.0;
        Some(Summary {
            count: self.0.len(),
            p50_ms: at(50.0),
            p99_ms: at(99.0),
            max_ms: at(100.0),
        })
    }
}

/// The index of the `p`th percentile by the nearest-rank method.
fn nearest_rank(len: usize, p: f64) -> usize {
    let rank = (p / 100.0 * len as f64).ceil() as usize;
    rank.clamp(1, len) - 1
}

/// Percentiles of a set of latencies, in milliseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_nearest_rank_method() {
        let mut s = Samples::default();
        for v in (1..=100).rev() {
            s.push(v * 1000);
        }
        let summary = s.summary().expect("samples");
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50_ms, 50.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(summary.max_ms, 100.0);
        let mut one = Samples::default();
        one.push(1500);
        let one = one.summary().expect("one sample");
        assert_eq!((one.p50_ms, one.p99_ms), (1.5, 1.5));
        assert!(Samples::default().summary().is_none());
    }
}
