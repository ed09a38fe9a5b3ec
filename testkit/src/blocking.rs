//! The blocking flavour, for the system tests: their probes run the CLI or podman from a plain
//! `#[test]` thread, and a probe that could not look (a CLI call failing while a broker
//! restarts) is retried like "not yet", its last error part of the timeout message. Errors are
//! returned (`anyhow`, as the scenarios use), not panicked, so a scenario can add context.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// How often a condition is probed (a probe here is often a process, so less often than
/// [`crate::INTERVAL`]).
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Probes `probe` every [`INTERVAL`] until it yields a value or `timeout` passes. The error names
/// `what`, how long was waited and the last probe error.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    let mut last_error = None;
    loop {
        match probe() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = Some(format!("{e:#}")),
        }
        if start.elapsed() >= timeout {
            match last_error {
                Some(e) => bail!("timed out after {timeout:?} waiting for {what}; last error: {e}"),
                None => bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
        std::thread::sleep(INTERVAL);
    }
}

/// Like [`wait_for`], but the probe returns what it saw; the timeout message shows the last
/// observation, which is what one needs to see when a scenario fails.
pub fn wait_until<O: Debug>(
    what: &str,
    timeout: Duration,
    mut observe: impl FnMut() -> Result<O>,
    mut holds: impl FnMut(&O) -> bool,
) -> Result<O> {
    let mut last = None;
    let result = wait_for(what, timeout, || {
        let seen = observe()?;
        if holds(&seen) {
            return Ok(Some(seen));
        }
        last = Some(seen);
        Ok(None)
    });
    match result {
        Ok(seen) => Ok(seen),
        Err(e) => bail!("{e:#}\nlast observed: {last:#?}"),
    }
}

/// Checks that `holds` stays true for the whole `period` (probing every [`INTERVAL`]): the
/// "nothing happens" half of a scenario, e.g. a workload that must keep waiting. A probe error
/// ends the wait at once.
pub fn stays<O: Debug>(
    what: &str,
    period: Duration,
    mut observe: impl FnMut() -> Result<O>,
    mut holds: impl FnMut(&O) -> bool,
) -> Result<O> {
    let start = Instant::now();
    loop {
        let seen = observe()?;
        if !holds(&seen) {
            bail!(
                "{what} stopped holding after {:?}: {seen:#?}",
                start.elapsed()
            );
        }
        if start.elapsed() >= period {
            return Ok(seen);
        }
        std::thread::sleep(INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_for_names_what_and_the_last_error() {
        let error = wait_for("a broker", Duration::from_millis(150), || {
            Err::<Option<()>, _>(anyhow::anyhow!("connection refused"))
        })
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "timed out after 150ms waiting for a broker; last error: connection refused"
        );
    }

    #[test]
    fn wait_until_shows_the_last_observation() {
        let error =
            wait_until("two", Duration::from_millis(150), || Ok(1), |n| *n == 2).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("last observed: Some(\n    1,\n)"),
            "{error}"
        );
    }

    #[test]
    fn stays_fails_when_the_condition_stops_holding() {
        let mut looks = 0;
        let error = stays(
            "quiet",
            Duration::from_secs(60),
            || {
                looks += 1;
                Ok(looks)
            },
            |n| *n < 2,
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with("quiet stopped holding after"),
            "{error}"
        );
    }
}
