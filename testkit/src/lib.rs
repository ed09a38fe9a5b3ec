//! Waiting in tests: poll a condition against a deadline, never sleep and then look once
//! (issue 12: one `eventually`/`stays` for every test crate).
//!
//! - [`eventually`]: waits until a check is done, or panics naming what was awaited and what was
//!   last seen.
//! - [`stays`]: the "nothing happens" half of a test: a check must hold at every look for a
//!   whole period, so a deliberate wait is written as one.
//! - [`blocking`]: the flavour for the system tests, whose probes run CLI commands that may fail
//!   while a broker restarts; it returns `anyhow` errors instead of panicking.
//!
//! A check answers with an [`Outcome`]: `Some`/`Ok`/`true` is done, `None`/`Err(seen)`/`false`
//! is not yet. Only tests depend on this crate; it knows nothing of ankmq, only of time (tokio and
//! anyhow are its only dependencies).

#![warn(missing_docs)]

pub mod blocking;
mod outcome;

use std::future::Future;
use std::time::{Duration, Instant};

pub use outcome::Outcome;

/// How often a condition is looked at.
pub const INTERVAL: Duration = Duration::from_millis(50);

/// Runs `check` every [`INTERVAL`] until its outcome is done and returns the value; panics after
/// `within` with `what` and the last thing it saw.
///
/// The deadline is on the wall clock, so a test that pauses tokio's clock still ends.
pub async fn eventually<O, Fut>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> Fut,
) -> O::Value
where
    O: Outcome,
    Fut: Future<Output = O>,
{
    let start = Instant::now();
    loop {
        let seen = match check().await.done() {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for {what}; last seen: {seen}"
        );
        tokio::time::sleep(INTERVAL).await;
    }
}

/// Runs `check` every [`INTERVAL`] for the whole of `period` and panics at the first look where
/// it is not done, with `what`, when and what it saw. Returns the last value.
pub async fn stays<O, Fut>(what: &str, period: Duration, mut check: impl FnMut() -> Fut) -> O::Value
where
    O: Outcome,
    Fut: Future<Output = O>,
{
    let start = Instant::now();
    loop {
        let value = match check().await.done() {
            Ok(value) => value,
            Err(seen) => panic!("{what} stopped holding after {:?}: {seen}", start.elapsed()),
        };
        if start.elapsed() >= period {
            return value;
        }
        tokio::time::sleep(INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[tokio::test]
    async fn eventually_returns_the_value_once_the_check_is_done() {
        let looks = Cell::new(0);
        let value = eventually("the third look", Duration::from_secs(5), || {
            looks.set(looks.get() + 1);
            std::future::ready((looks.get() >= 3).then_some(looks.get()))
        })
        .await;
        assert_eq!(value, 3);
    }

    #[tokio::test]
    #[should_panic(
        expected = "timed out after 100ms waiting for the impossible; last seen: \"still 1\""
    )]
    async fn eventually_names_what_was_awaited_and_the_last_look() {
        eventually("the impossible", Duration::from_millis(100), || {
            std::future::ready(Err::<(), _>("still 1"))
        })
        .await;
    }

    #[tokio::test]
    async fn stays_looks_for_the_whole_period() {
        let looks = Cell::new(0);
        stays("a quiet check", Duration::from_millis(200), || {
            looks.set(looks.get() + 1);
            std::future::ready(true)
        })
        .await;
        assert!(looks.get() >= 3, "looked {} times", looks.get());
    }

    #[tokio::test]
    #[should_panic(expected = "a check stopped holding after")]
    async fn stays_panics_at_the_first_look_that_fails() {
        let looks = Cell::new(0);
        stays("a check", Duration::from_secs(60), || {
            looks.set(looks.get() + 1);
            std::future::ready(looks.get() < 2)
        })
        .await;
    }
}
