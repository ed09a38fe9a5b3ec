//! The one rule for `since` and `until` of a log request, shared by `ank logs` (a usage error)
//! and the agent (a refused request), so podman is never handed a time it would refuse.
//!
//! podman accepts more forms than we do (Unix seconds, dates without a time); we accept the two
//! that `ank logs --help` documents, an RFC 3339 timestamp or a duration, and bound the
//! duration so a typo like `1e9s` or `99999999h` is an error, not a podman failure printed as a
//! log line (issue 14 point 8). No I/O, no clock: "how long ago" is podman's business.

use std::time::Duration;

/// The longest duration accepted for `since`/`until`: ten years.
pub const MAX_LOG_DURATION: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

/// The longest `since`/`until` text accepted, in bytes.
pub const MAX_LOG_TIME_LEN: usize = 64;

/// A valid `since`/`until` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTime {
    /// An RFC 3339 timestamp such as `2026-12-01T20:43:00Z` or `…T20:43:00.5+01:00`.
    Timestamp,
    /// A duration back from now, such as `10m` or `1h30m` (units `h`, `m`, `s`, `ms`).
    Ago(Duration),
}

/// Why a `since`/`until` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogTimeError {
    /// Empty text.
    #[error("is empty")]
    Empty,
    /// More than [`MAX_LOG_TIME_LEN`] bytes.
    #[error("is {0} bytes long, the maximum is {MAX_LOG_TIME_LEN}")]
    TooLong(usize),
    /// Neither an RFC 3339 timestamp nor a duration.
    #[error("is neither an RFC 3339 timestamp (2026-12-01T20:43:00Z) nor a duration (10m, 1h30m)")]
    Unrecognised,
    /// A duration of zero or longer than [`MAX_LOG_DURATION`].
    #[error("is a duration outside 1ms..=87840h (ten years)")]
    OutOfRange,
}

/// Checks a `since`/`until` value: an RFC 3339 timestamp, or a duration `N<unit>[N<unit>…]`
/// (units `h`, `m`, `s`, `ms`; whole numbers) between 1 ms and ten years.
pub fn parse_log_time(text: &str) -> Result<LogTime, LogTimeError> {
    if text.is_empty() {
        return Err(LogTimeError::Empty);
    }
    if text.len() > MAX_LOG_TIME_LEN {
        return Err(LogTimeError::TooLong(text.len()));
    }
    if is_rfc3339(text) {
        return Ok(LogTime::Timestamp);
    }
    parse_duration(text).map(LogTime::Ago)
}

fn parse_duration(text: &str) -> Result<Duration, LogTimeError> {
    let bytes = text.as_bytes();
    let mut total: u128 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(LogTimeError::Unrecognised);
        }
        // At most 64 bytes of text, so the number fits u128 if it has ≤ 38 digits; more digits
        // than that are out of range anyway.
        let number: u128 = text[start..i]
            .parse()
            .map_err(|_| LogTimeError::OutOfRange)?;
        let unit_ms: u128 = if text[i..].starts_with("ms") {
            i += 2;
            1
        } else {
            let unit = match bytes.get(i) {
                Some(b'h') => 3_600_000,
                Some(b'm') => 60_000,
                Some(b's') => 1_000,
                _ => return Err(LogTimeError::Unrecognised),
            };
            i += 1;
            unit
        };
        total = total.saturating_add(number.saturating_mul(unit_ms));
    }
    if total == 0 || total > MAX_LOG_DURATION.as_millis() {
        return Err(LogTimeError::OutOfRange);
    }
    // In range, so at most ten years of milliseconds: fits u64.
    Ok(Duration::from_millis(
        u64::try_from(total).map_err(|_| LogTimeError::OutOfRange)?,
    ))
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` with each field in its range. Upper-case `T` and
/// `Z` only, no space: the subset Go's `time.RFC3339` (podman's parser) reads.
fn is_rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let at = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    let fields = (|| {
        let _year = num(0, 4)?;
        let month = num(5, 2)?;
        let day = num(8, 2)?;
        let hour = num(11, 2)?;
        let minute = num(14, 2)?;
        let second = num(17, 2)?;
        let ok = at(4, b"-")
            && at(7, b"-")
            && at(10, b"T")
            && at(13, b":")
            && at(16, b":")
            && (1..=12).contains(&month)
            && (1..=31).contains(&day)
            && hour <= 23
            && minute <= 59
            && second <= 60;
        ok.then_some(())
    })();
    if fields.is_none() {
        return false;
    }
    let mut i = 19;
    if at(i, b".") {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i + 6 == b.len()
                && at(i + 3, b":")
                && num(i + 1, 2).is_some_and(|h| h <= 23)
                && num(i + 4, 2).is_some_and(|m| m <= 59)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times_are_timestamps_or_bounded_durations() {
        let ok: &[(&str, LogTime)] = &[
            ("2026-12-01T20:43:00Z", LogTime::Timestamp),
            ("2026-12-01T20:43:00.123456789Z", LogTime::Timestamp),
            ("2026-12-01T20:43:00+01:00", LogTime::Timestamp),
            ("2026-12-01T20:43:60-05:30", LogTime::Timestamp),
            ("10m", LogTime::Ago(Duration::from_secs(600))),
            ("1h30m", LogTime::Ago(Duration::from_secs(5400))),
            ("500ms", LogTime::Ago(Duration::from_millis(500))),
            ("2s", LogTime::Ago(Duration::from_secs(2))),
            ("87840h", LogTime::Ago(MAX_LOG_DURATION)),
        ];
        for (text, expected) in ok {
            assert_eq!(parse_log_time(text), Ok(*expected), "{text}");
        }
        let long = "1".repeat(MAX_LOG_TIME_LEN + 1);
        let refused: &[(&str, LogTimeError)] = &[
            ("", LogTimeError::Empty),
            (&long, LogTimeError::TooLong(MAX_LOG_TIME_LEN + 1)),
            ("1e9s", LogTimeError::Unrecognised),
            ("10", LogTimeError::Unrecognised),
            ("-10m", LogTimeError::Unrecognised),
            ("1.5h", LogTimeError::Unrecognised),
            ("10d", LogTimeError::Unrecognised),
            ("yesterday", LogTimeError::Unrecognised),
            ("2026-13-01T00:00:00Z", LogTimeError::Unrecognised),
            ("2026-12-01T24:00:00Z", LogTimeError::Unrecognised),
            ("2026-12-01T20:43:00", LogTimeError::Unrecognised),
            ("2026-12-01T20:43:00Zjunk", LogTimeError::Unrecognised),
            ("2026-12-01T20:43:00.Z", LogTimeError::Unrecognised),
            ("2026-12-01", LogTimeError::Unrecognised),
            ("2026-12-01 20:43:00Z", LogTimeError::Unrecognised),
            ("2026-12-01t20:43:00z", LogTimeError::Unrecognised),
            ("0s", LogTimeError::OutOfRange),
            ("87841h", LogTimeError::OutOfRange),
            ("1000000000s", LogTimeError::OutOfRange),
            (
                "99999999999999999999999999999999999999999h",
                LogTimeError::OutOfRange,
            ),
        ];
        for (text, expected) in refused {
            assert_eq!(parse_log_time(text).as_ref(), Err(expected), "{text}");
        }
    }
}
