//! The workspace's one backoff: delays exponential with jitter, so that a fleet of clients that
//! lost the same broker does not reconnect in one burst (brokers drop many of thousands of
//! simultaneous connects, see reference/mqtt-brokers.md). The session's reconnects and the
//! agent's first connect use [`Backoff`]; the agent's retry and restart policies use
//! [`doubled`], the same arithmetic without a random number generator (issue 12). Pure: the
//! caller sleeps.

use std::time::Duration;

use rand::Rng;

/// `base · 2^exponent`, saturating at `cap`.
pub fn doubled(base: Duration, exponent: u32, cap: Duration) -> Duration {
    // 2^64 · 5 min still fits in u128 millis; the cap bounds the result anyway.
    let factor = 1u128.checked_shl(exponent.min(64)).unwrap_or(u128::MAX);
    let millis = base.as_millis().saturating_mul(factor);
    if millis >= cap.as_millis() {
        cap
    } else {
        // Below the cap, so it fits in u64.
        Duration::from_millis(millis as u64)
    }
}

/// The delay before each reconnect attempt: uniformly random between `min` and a ceiling that
/// starts at twice `min`, doubles per failed attempt and stops at `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Delays from `min` up to `max` (at least `min`).
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The ceiling of the next delay; grows with each call to [`Backoff::next_delay`].
    pub fn ceiling(&self) -> Duration {
        doubled(self.min, self.attempt.saturating_add(1), self.max)
    }

    /// The next delay, drawn from `rng`.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        if ceiling <= self.min {
            return self.min;
        }
        rng.random_range(self.min..=ceiling)
    }

    /// Back to the shortest delays, after a successful connect.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    #[test]
    fn ceilings_double_from_twice_min_and_stop_at_max() {
        let mut backoff = Backoff::new(MIN, MAX);
        let mut rng = StdRng::seed_from_u64(1);
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            ceilings.push(backoff.ceiling().as_millis());
            backoff.next_delay(&mut rng);
        }
        assert_eq!(
            ceilings,
            [200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000, 5000]
        );
    }

    #[test]
    fn delays_stay_between_min_and_ceiling_and_are_jittered() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut firsts = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let mut backoff = Backoff::new(MIN, MAX);
            for _ in 0..12 {
                let ceiling = backoff.ceiling();
                let delay = backoff.next_delay(&mut rng);
                assert!(delay >= MIN && delay <= ceiling, "{delay:?} > {ceiling:?}");
            }
            let mut fresh = Backoff::new(MIN, MAX);
            firsts.insert(fresh.next_delay(&mut rng));
        }
        // 200 clients starting together must not pick a handful of identical delays.
        assert!(
            firsts.len() > 150,
            "only {} distinct first delays",
            firsts.len()
        );
    }

    #[test]
    fn reset_returns_to_the_shortest_delays() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut backoff = Backoff::new(MIN, MAX);
        for _ in 0..8 {
            backoff.next_delay(&mut rng);
        }
        backoff.reset();
        assert_eq!(backoff.ceiling(), MIN * 2);
    }

    #[test]
    fn a_max_below_min_never_busy_loops() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut backoff = Backoff::new(MIN, Duration::ZERO);
        assert_eq!(backoff.next_delay(&mut rng), MIN);
    }
}
