//! Waiting in system tests: poll a condition against a deadline, never a bare sleep.
//!
//! A probe returns `Ok(Some(value))` when the condition holds, `Ok(None)` when not yet, and
//! `Err` when it could not look (a CLI call failed while a broker restarts, say); errors are
//! retried like "not yet", and the last one is part of the timeout message.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// How often a condition is probed.
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
/// "nothing happens" half of a scenario, e.g. a workload that must keep waiting.
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
