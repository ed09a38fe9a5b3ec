//! The two waiting rules of the agent, as pure arithmetic: how long before a failed create is
//! retried (Ankaios §3.2) and how long before a crashed workload is restarted (our improvement on
//! Ankaios §3.1, which restarts a crash loop immediately and forever).
//!
//! No clocks and no random numbers here: callers pass the attempt number and a pre-drawn jitter,
//! so `reconcile::plan` stays deterministic and its tests need no time control. The doubling is
//! `ank_bus::doubled`, shared with the bus's reconnect [`ank_bus::Backoff`].

use std::time::Duration;

/// The first create retry waits up to this long.
pub const CREATE_RETRY_BASE: Duration = Duration::from_millis(500);

/// No create retry waits longer than this (Ankaios' 5 minutes).
pub const CREATE_RETRY_CAP: Duration = Duration::from_secs(300);

/// The second restart of a crash loop waits this long; the first is immediate.
pub const RESTART_BASE: Duration = Duration::from_secs(1);

/// No restart waits longer than this.
pub const RESTART_CAP: Duration = Duration::from_secs(300);

/// A workload that ran at least this long before it ended is not crash-looping: its next restart
/// is immediate again.
pub const RESTART_RESET_AFTER: Duration = Duration::from_secs(60);

// The doubling is the workspace's one backoff arithmetic (`ank_bus::backoff`).
use ank_bus::doubled;

/// The delay before create retry number `retry` (0 for the first retry): full jitter, uniform in
/// `[0, min(500 ms · 2^retry, 5 min)]`. `jitter` is a pre-drawn value in `[0, 1]`, clamped.
pub fn create_retry_delay(retry: u32, jitter: f64) -> Duration {
    let ceiling = doubled(CREATE_RETRY_BASE, retry, CREATE_RETRY_CAP);
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    ceiling.mul_f64(jitter)
}

/// The delay before the next restart of a workload that has been restarted `streak` times in a
/// row without running long: 0 for the first, then 1 s, 2 s, 4 s, ... capped at 5 minutes.
pub fn restart_delay(streak: u32) -> Duration {
    match streak {
        0 => Duration::ZERO,
        n => doubled(RESTART_BASE, n - 1, RESTART_CAP),
    }
}

/// The crash streak that counts for the next restart: a run of at least
/// [`RESTART_RESET_AFTER`] forgives the earlier crashes.
pub fn effective_streak(streak: u32, ran_for: Option<Duration>) -> u32 {
    match ran_for {
        Some(ran) if ran >= RESTART_RESET_AFTER => 0,
        _ => streak,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn create_retry_ceiling_doubles_from_500_ms_and_caps_at_5_minutes() {
        let table = [
            (0, MS(500)),
            (1, MS(1_000)),
            (2, MS(2_000)),
            (9, MS(256_000)),
            (10, MS(300_000)),
            (40, MS(300_000)),
            (u32::MAX, MS(300_000)),
        ];
        for (retry, ceiling) in table {
            assert_eq!(create_retry_delay(retry, 1.0), ceiling, "retry {retry}");
        }
    }

    #[test]
    fn create_retry_delay_is_the_jitter_share_of_the_ceiling() {
        let table = [
            (0.0, MS(0)),
            (0.5, MS(1_000)),
            (0.25, MS(500)),
            (-3.0, MS(0)),
            (7.0, MS(2_000)),
            (f64::NAN, MS(0)),
        ];
        for (jitter, delay) in table {
            assert_eq!(create_retry_delay(2, jitter), delay, "jitter {jitter}");
        }
    }

    #[test]
    fn the_first_restart_is_immediate_and_later_ones_double_up_to_the_cap() {
        let table = [
            (0, MS(0)),
            (1, MS(1_000)),
            (2, MS(2_000)),
            (3, MS(4_000)),
            (9, MS(256_000)),
            (10, MS(300_000)),
            (1_000, MS(300_000)),
        ];
        for (streak, delay) in table {
            assert_eq!(restart_delay(streak), delay, "streak {streak}");
        }
    }

    #[test]
    fn a_long_run_forgives_the_crash_streak() {
        let table = [
            (5, None, 5),
            (5, Some(MS(59_999)), 5),
            (5, Some(MS(60_000)), 0),
            (0, Some(MS(1)), 0),
        ];
        for (streak, ran, expected) in table {
            assert_eq!(effective_streak(streak, ran), expected, "{streak} {ran:?}");
        }
    }
}
