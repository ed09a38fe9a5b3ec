//! Order statistics over repeated measurements: median and nearest-rank percentiles.
//!
//! Samples are durations or sizes as `f64`; nothing here measures or sleeps. The harness reports
//! medians (robust on a shared, noisy machine) and p95 where the issue asks for a tail.

use serde::Serialize;

/// What a series of samples came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// How many samples.
    pub n: usize,
    /// The median (mean of the two middle samples for an even count).
    pub median: f64,
    /// The 90th percentile, nearest-rank (issue 17's table).
    pub p90: f64,
    /// The 95th percentile, nearest-rank.
    pub p95: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
}

impl Summary {
    /// The summary of `samples`; `None` when there are none (or one is NaN).
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() || samples.iter().any(|s| s.is_nan()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Summary {
            n: sorted.len(),
            median: median_of_sorted(&sorted),
            p90: percentile_of_sorted(&sorted, 90.0),
            p95: percentile_of_sorted(&sorted, 95.0),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }
}

fn median_of_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile: the smallest sample with at least `p` % of the samples at or below
/// it. Never interpolates, so a reported p95 is a latency that really happened.
fn percentile_of_sorted(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_match_hand_computed_values() {
        // (samples, median, p95, min, max)
        let cases: &[(&[f64], f64, f64, f64, f64)] = &[
            (&[5.0], 5.0, 5.0, 5.0, 5.0),
            (&[3.0, 1.0, 2.0], 2.0, 3.0, 1.0, 3.0),
            (&[4.0, 1.0, 3.0, 2.0], 2.5, 4.0, 1.0, 4.0),
            (
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
                5.5,
                10.0,
                1.0,
                10.0,
            ),
        ];
        for &(samples, median, p95, min, max) in cases {
            let s = Summary::of(samples).expect("non-empty");
            assert_eq!(
                (s.n, s.median, s.p95, s.min, s.max),
                (samples.len(), median, p95, min, max),
                "{samples:?}"
            );
        }
    }

    #[test]
    fn p95_of_twenty_samples_is_the_nineteenth_and_p90_the_eighteenth() {
        let samples: Vec<f64> = (1..=20).rev().map(f64::from).collect();
        assert_eq!(Summary::of(&samples).map(|s| s.p95), Some(19.0));
        assert_eq!(Summary::of(&samples).map(|s| s.p90), Some(18.0));
    }

    #[test]
    fn no_samples_or_a_nan_give_no_summary() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[1.0, f64::NAN]), None);
    }
}
