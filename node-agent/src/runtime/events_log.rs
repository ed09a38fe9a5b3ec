//! podman's file events log read as plain data: which of its lines are this agent's container
//! events, where a bounded reader cuts lines, and what a change of the file means for the reader.
//! Pure and tested with captured lines (`events_log.jsonl`); the inotify tail that feeds it is
//! `events_tail.rs`, and the choice of this log over a `podman events` child is `events_source.rs`.
//!
//! The log (`events_logger = "file"`, podman 4.3.1) is written by every podman process on the
//! machine, for every user's containers, one JSON object a line, in append order. A container
//! line has the fields `podman events --format json` prints (`ID`, `Name`, `Status`, `Time`,
//! `Type`, `Attributes` with the labels, `ContainerExitCode` on a non-zero `died`), so it maps to
//! the same [`ContainerEvent`] as the child's output. It is outside input: any size, any content.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::container_event::{parse_event, ContainerEvent};
use super::labels;

/// What one line of the log is to this agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLine {
    /// A container event of this agent's containers (`Type` container, `ankmq.agent` label).
    Ours(ContainerEvent),
    /// Anything else podman logged (other agents, other users, images, pods, rotations); its
    /// time is kept so a reread after a rotation can skip what was seen.
    Other {
        /// The line's `Time`, as podman wrote it (empty if none).
        time: String,
    },
}

/// The fields every line is classified by; the rest is parsed only for this agent's lines.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(rename = "Time", default)]
    time: String,
    #[serde(rename = "Attributes", default)]
    attributes: Option<BTreeMap<String, String>>,
}

/// Classifies one line (without its newline) of the events log for `agent`. An error is a line
/// that is not podman's JSON; the caller logs it (rate-limited) and drops it.
pub fn classify(line: &str, agent: &str) -> Result<LogLine, serde_json::Error> {
    let head: Head = serde_json::from_str(line)?;
    let ours = head.kind == "container"
        && head
            .attributes
            .as_ref()
            .and_then(|a| a.get(labels::AGENT))
            .is_some_and(|a| a == agent);
    if !ours {
        return Ok(LogLine::Other { time: head.time });
    }
    Ok(LogLine::Ours(parse_event(line)?))
}

impl LogLine {
    /// The line's time as podman wrote it.
    pub fn time(&self) -> &str {
        match self {
            LogLine::Ours(event) => &event.time,
            LogLine::Other { time } => time,
        }
    }
}

/// An RFC 3339 time as nanoseconds since the Unix epoch, for ordering lines; `None` if it is
/// not one. podman writes Go's `RFC3339Nano` in the local zone (`…T14:35:47.0764977Z`, or
/// `+01:00`), whose trailing zeros are cut, so the strings do not sort as text.
pub fn time_nanos(time: &str) -> Option<i128> {
    let b = time.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        part.iter().try_fold(0i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut at = 19;
    let mut nanos: i64 = 0;
    if b[at] == b'.' {
        at += 1;
        let start = at;
        while at < b.len() && b[at].is_ascii_digit() {
            at += 1;
        }
        let fraction = &b[start..at];
        if fraction.is_empty() || fraction.len() > 9 {
            return None;
        }
        nanos = digits(start..at)? * 10i64.pow(9 - fraction.len() as u32);
    }
    let offset_secs = match b.get(at..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let value = digits(at + 1..at + 3)? * 3600 + digits(at + 4..at + 6)? * 60;
            if *sign == b'+' {
                value
            } else {
                -value
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + i128::from(nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Whether a line read again after a rotation or truncation is one seen before: its time is not
/// after `seen`, the newest time read before the file changed. A line without a readable time is
/// news (a repeat is harmless, a lost event is not; the resync listing covers both).
pub fn is_replay(time: &str, seen: Option<i128>) -> bool {
    match (time_nanos(time), seen) {
        (Some(time), Some(seen)) => time <= seen,
        _ => false,
    }
}

/// A piece of the log cut by [`Lines`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// One whole line, without its newline (invalid UTF-8 replaced).
    Line(String),
    /// A line longer than the bound was skipped to its newline; it held this many bytes.
    TooLong(usize),
}

/// Cuts bytes into lines of at most `max` bytes, keeping at most `max` bytes of an unfinished
/// line: a longer line is skipped to its newline and reported as [`Piece::TooLong`].
#[derive(Debug)]
pub struct Lines {
    max: usize,
    partial: Vec<u8>,
    /// Bytes of a too-long line skipped so far; `Some` until its newline.
    skipping: Option<usize>,
}

impl Lines {
    /// A cutter for lines of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        Lines {
            max,
            partial: Vec::new(),
            skipping: None,
        }
    }

    /// Forgets an unfinished line (the file was replaced or truncated under it).
    pub fn reset(&mut self) {
        self.partial.clear();
        self.skipping = None;
    }

    /// Cuts `chunk`, the next bytes of the file, appending whole lines to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<Piece>) {
        while !chunk.is_empty() {
            let newline = chunk.iter().position(|b| *b == b'\n');
            let (part, rest) = match newline {
                Some(at) => (&chunk[..at], Some(&chunk[at + 1..])),
                None => (chunk, None),
            };
            if let Some(skipped) = &mut self.skipping {
                *skipped += part.len();
            } else if self.partial.len() + part.len() > self.max {
                self.skipping = Some(self.partial.len() + part.len());
                self.partial = Vec::new();
            } else {
                self.partial.extend_from_slice(part);
            }
            let Some(rest) = rest else { return };
            chunk = rest;
            if let Some(skipped) = self.skipping.take() {
                out.push(Piece::TooLong(skipped));
            } else {
                let line = std::mem::take(&mut self.partial);
                if !line.is_empty() {
                    out.push(Piece::Line(String::from_utf8_lossy(&line).into_owned()));
                }
            }
        }
    }
}

/// What the file at the log's path is, next to the one the reader has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    /// The device and inode: another pair is another file.
    pub dev: u64,
    /// See `dev`.
    pub ino: u64,
    /// Its size in bytes.
    pub len: u64,
}

/// What the reader does after the log changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The same file: read from the offset to its end (nothing new if it did not grow).
    Read,
    /// The same file, shorter than the offset: it was truncated. Read it again from the start.
    Truncated,
    /// Another file is at the path (podman's rotation writes a new file and renames it over the
    /// log): finish the open one, then read the new one from the start.
    Replaced,
    /// Nothing is at the path: keep the open file and wait for one to appear.
    Missing,
    /// No file was open and one appeared: read it from the start (it is newer than the reader).
    Appeared,
}

/// The decision for a reader that has `open` (if any) read up to `offset`, when the path now
/// shows `now` (if anything).
pub fn change(open: Option<FileIdentity>, offset: u64, now: Option<FileIdentity>) -> Change {
    match (open, now) {
        (_, None) => Change::Missing,
        (None, Some(_)) => Change::Appeared,
        (Some(open), Some(now)) if (open.dev, open.ino) != (now.dev, now.ino) => Change::Replaced,
        (Some(_), Some(now)) if now.len < offset => Change::Truncated,
        (Some(_), Some(_)) => Change::Read,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines captured from `/run/libpod/events/events.log` (podman 4.3.1): a container of agent
    /// `fixture` with labels, another agent's, one without labels, an image, a rotation.
    const LOG: &str = include_str!("../../tests/fixtures/events_log.jsonl");

    fn ours(agent: &str) -> Vec<ContainerEvent> {
        LOG.lines()
            .filter_map(|l| match classify(l, agent).expect("fixture line parses") {
                LogLine::Ours(event) => Some(event),
                LogLine::Other { .. } => None,
            })
            .collect()
    }

    #[test]
    fn issue_17_only_this_agents_container_lines_are_its_events() {
        let life: Vec<(String, Option<i32>)> = ours("fixture")
            .into_iter()
            .map(|e| (e.status, e.exit_code))
            .collect();
        assert_eq!(
            life,
            [
                ("create".to_owned(), None),
                ("init".to_owned(), None),
                ("start".to_owned(), None),
                ("died".to_owned(), Some(3)),
                ("cleanup".to_owned(), None),
                ("remove".to_owned(), None),
            ]
        );
        // Every line parses; a prefix of the agent's name is not the agent.
        assert!(ours("fixtur").is_empty());
        assert!(ours("nobody").is_empty());
        assert_eq!(ours("other-agent").len(), 6);
    }

    #[test]
    fn a_log_line_maps_to_what_podman_events_prints() {
        // The same fields as `podman events --format json` (events_podman.jsonl).
        let event = ours("fixture").remove(0);
        let again = parse_event(
            LOG.lines()
                .find(|l| l.contains(r#""Status":"create""#) && l.contains("fixture"))
                .expect("in the fixture"),
        )
        .expect("parses as a podman event");
        assert_eq!(event, again);
        assert_eq!(event.id.len(), 64);
        assert_eq!(event.instance(), Some("fixture-exit.def.fixture"));
        assert!(event.time.starts_with("2026-12-02T"));
    }

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        for line in [
            "",
            "not json",
            "{\"Type\":\"container\"",
            r#"{"Type":"container","Attributes":{"ankmq.agent":"fixture"}}"#,
            r#"{"Type":"container","Attributes":{"ankmq.agent":7}}"#,
            "[1,2]",
        ] {
            assert!(classify(line, "fixture").is_err(), "{line:?}");
        }
        // Not ours, so not parsed further.
        assert_eq!(
            classify(r#"{"Type":"image","Attributes":null}"#, "fixture").ok(),
            Some(LogLine::Other {
                time: String::new()
            })
        );
    }

    #[test]
    fn times_order_across_cut_zeros_and_zones() {
        let a = time_nanos("2026-12-02T14:34:30.74354397Z").expect("a time");
        let b = time_nanos("2026-12-02T14:34:30.743543969Z").expect("a time");
        assert!(a > b, "…970 > …969 although the text sorts the other way");
        assert_eq!(
            time_nanos("2026-12-02T15:34:30.74354397+01:00"),
            Some(a),
            "local zone"
        );
        assert_eq!(time_nanos("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(
            time_nanos("2000-03-01T00:00:00Z"),
            Some(951_868_800 * 1_000_000_000)
        );
        for bad in [
            "",
            "2026-12-02",
            "2026-12-02T14:34:30",
            "2026-13-02T14:34:30Z",
            "2026-12-02T14:34:30.Z",
            "2026-12-02T14:34:30.1234567890Z",
            "2026-12-02T14:34:30+0100",
            "2026-12-02T14:34:30Zjunk",
            "２026-12-02T14:34:30Z",
        ] {
            assert_eq!(time_nanos(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_replay_is_a_line_not_newer_than_what_was_seen() {
        let seen = time_nanos("2026-12-02T14:34:30.5Z");
        assert!(is_replay("2026-12-02T14:34:30.5Z", seen));
        assert!(is_replay("2026-12-02T14:34:29Z", seen));
        assert!(!is_replay("2026-12-02T14:34:30.500000001Z", seen));
        assert!(!is_replay("garbage", seen));
        assert!(!is_replay("2026-12-02T14:34:29Z", None));
    }

    #[test]
    fn lines_are_cut_across_chunks_and_bounded() {
        let mut lines = Lines::new(8);
        let mut out = Vec::new();
        lines.feed(b"ab", &mut out);
        lines.feed(b"c\n\nde", &mut out);
        assert_eq!(out, [Piece::Line("abc".into())]);
        lines.feed(b"fgh\n", &mut out);
        assert_eq!(out[1], Piece::Line("defgh".into()));
        out.clear();
        // A line over the bound, in pieces: skipped to its newline, then reading goes on.
        lines.feed(b"0123456", &mut out);
        lines.feed(b"789abc", &mut out);
        lines.feed(b"def\nok\n", &mut out);
        assert_eq!(out, [Piece::TooLong(16), Piece::Line("ok".into())]);
        out.clear();
        // Exactly at the bound is a line.
        lines.feed(b"12345678\n", &mut out);
        assert_eq!(out, [Piece::Line("12345678".into())]);
        out.clear();
        // A reset drops an unfinished line.
        lines.feed(b"half", &mut out);
        lines.reset();
        lines.feed(b"new\n", &mut out);
        assert_eq!(out, [Piece::Line("new".into())]);
        out.clear();
        // Invalid UTF-8 does not stop it.
        lines.feed(b"\xff\xfe\n", &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_change_of_the_file_is_read_truncated_replaced_missing_or_new() {
        let file = |ino, len| FileIdentity { dev: 1, ino, len };
        assert_eq!(
            change(Some(file(5, 100)), 100, Some(file(5, 100))),
            Change::Read
        );
        assert_eq!(
            change(Some(file(5, 100)), 100, Some(file(5, 150))),
            Change::Read
        );
        assert_eq!(
            change(Some(file(5, 100)), 100, Some(file(5, 10))),
            Change::Truncated
        );
        // A rotation keeps half the lines: a new inode, whatever its size.
        assert_eq!(
            change(Some(file(5, 100)), 100, Some(file(6, 500))),
            Change::Replaced
        );
        assert_eq!(
            change(
                Some(file(5, 100)),
                100,
                Some(FileIdentity {
                    dev: 2,
                    ..file(5, 500)
                })
            ),
            Change::Replaced
        );
        assert_eq!(change(Some(file(5, 100)), 100, None), Change::Missing);
        assert_eq!(change(None, 0, None), Change::Missing);
        assert_eq!(change(None, 0, Some(file(7, 3))), Change::Appeared);
    }
}
