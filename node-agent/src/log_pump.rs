//! One log stream: `podman logs` of one instance turned into `line` events, ending with one
//! `stopped` that says why.
//!
//! It exists apart from `log_streams.rs` (who may stream, until when) because it is the part
//! that touches podman and the bus. It stops when told (a oneshot from the owner) by dropping
//! the podman stream, which kills podman (`runtime/command.rs`). podman's own failure is not a
//! log line (issue 14 point 8): the latest stderr line is held back briefly, and if podman then
//! exits non-zero it becomes the `error` event instead.

use std::sync::Arc;
use std::time::Duration;

use ank_schemas::{ClientId, InstanceId, LogEvent, StopReason};
use tokio::sync::oneshot;
use tokio::time::{sleep_until, Instant};

use crate::dispatch::Runtimes;
use crate::observed::InstanceTarget;
use crate::publish::LogPublisher;
use crate::runtime::{CommandError, LogOptions, Source};

/// The longest line published; longer ones are cut (a car's broker has payload limits).
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// The most lines a stream without `follow` publishes.
pub const NON_FOLLOW_MAX_LINES: u64 = 100_000;
/// The most bytes of lines a stream without `follow` publishes.
pub const NON_FOLLOW_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// How long a stderr line is held back to see whether podman fails right after it.
const STDERR_HOLD: Duration = Duration::from_millis(250);

/// Everything one stream task needs.
pub struct StreamJob {
    /// The connectors, to run `podman logs`.
    pub runtimes: Arc<Runtimes>,
    /// Where events go.
    pub publisher: LogPublisher,
    /// The requester: its topic receives the events.
    pub client: ClientId,
    /// The request the stream belongs to, repeated in `stopped` and `error`.
    pub request_id: String,
    /// The instance streamed.
    pub instance_id: InstanceId,
    /// How to reach it, or `None` when this agent does not have it.
    pub target: Option<InstanceTarget>,
    /// Which lines.
    pub options: LogOptions,
}

/// Streams until podman's output ends or `stop` says otherwise, then publishes `stopped`.
pub async fn run(job: StreamJob, mut stop: oneshot::Receiver<StopReason>) {
    let reason = tokio::select! {
        biased;
        // A dropped sender means the owner is gone: the agent is going down.
        told = &mut stop => told.unwrap_or(StopReason::Shutdown),
        ended = pump(&job) => ended,
    };
    // Leaving `select!` dropped `pump`, and with it podman's stream: podman is killed.
    let event = LogEvent::Stopped {
        instance_id: job.instance_id.clone(),
        request_id: Some(job.request_id.clone()),
        reason: Some(reason),
    };
    job.publisher.event(&job.client, &event).await;
}

/// Counts what a stream without `follow` published against its bounds.
#[derive(Debug, Default)]
struct Budget {
    bounded: bool,
    lines: u64,
    bytes: u64,
}

impl Budget {
    /// Books one line; false once a bound is passed.
    fn take(&mut self, len: usize) -> bool {
        self.lines += 1;
        self.bytes += len as u64;
        !self.bounded || (self.lines <= NON_FOLLOW_MAX_LINES && self.bytes <= NON_FOLLOW_MAX_BYTES)
    }
}

async fn pump(job: &StreamJob) -> StopReason {
    let Some(target) = &job.target else {
        return StopReason::InstanceGone;
    };
    let mut stream = match job.runtimes.logs(target, &job.options).await {
        Ok(stream) => stream,
        Err(error) if error.is_gone() => return StopReason::InstanceGone,
        Err(error) => {
            tracing::warn!(instance = %target.instance, %error, "logs unavailable");
            job.error(error.to_string()).await;
            return StopReason::Failed;
        }
    };
    let mut budget = Budget {
        bounded: !job.options.follow,
        ..Budget::default()
    };
    let mut held: Option<(String, Instant)> = None;
    let mut last_stderr: Option<String> = None;
    loop {
        let hold_until = held.as_ref().map(|(_, at)| *at);
        tokio::select! {
            line = stream.next_line() => {
                let Some(line) = line else { break };
                match line.source {
                    Source::Stderr => {
                        // Only a newer stderr line releases the held one: stdout and stderr are
                        // two pipes, so a stdout line can arrive after a stderr line podman
                        // wrote later (seen: podman's error shown as a log line).
                        if let Some((text, _)) = held.take() {
                            if !job.line(text, &mut budget).await {
                                return StopReason::Limit;
                            }
                        }
                        last_stderr = Some(cut(&line.text));
                        held = Some((line.text, Instant::now() + STDERR_HOLD));
                    }
                    Source::Stdout => {
                        if !job.line(line.text, &mut budget).await {
                            return StopReason::Limit;
                        }
                    }
                }
            }
            () = sleep_until(hold_until.unwrap_or_else(Instant::now)), if hold_until.is_some() => {
                if let Some((text, _)) = held.take() {
                    if !job.line(text, &mut budget).await {
                        return StopReason::Limit;
                    }
                }
            }
        }
    }
    match stream.finish().await {
        Ok(()) => {
            if let Some((text, _)) = held {
                if !job.line(text, &mut budget).await {
                    return StopReason::Limit;
                }
            }
            StopReason::Ended
        }
        Err(error) => {
            let message = match (&last_stderr, &error) {
                (Some(line), _) => line.clone(),
                (None, CommandError::Failed { status, .. }) => {
                    format!("podman logs failed ({status}) without saying why")
                }
                (None, other) => other.to_string(),
            };
            tracing::warn!(instance = %target.instance, %message, "podman logs failed");
            job.error(message).await;
            StopReason::Failed
        }
    }
}

impl StreamJob {
    /// Publishes one line, cut to [`MAX_LINE_BYTES`]; false when the budget is exhausted.
    async fn line(&self, text: String, budget: &mut Budget) -> bool {
        if !budget.take(text.len()) {
            return false;
        }
        let line = if text.len() > MAX_LINE_BYTES {
            cut(&text)
        } else {
            text
        };
        let event = LogEvent::Line {
            instance_id: self.instance_id.clone(),
            line,
        };
        self.publisher.event(&self.client, &event).await;
        true
    }

    async fn error(&self, message: String) {
        let event = LogEvent::Error {
            instance_id: self.instance_id.clone(),
            request_id: Some(self.request_id.clone()),
            message: cut(&message),
        };
        self.publisher.event(&self.client, &event).await;
    }
}

/// `text` cut to [`MAX_LINE_BYTES`] on a character boundary, marked with `…`.
fn cut(text: &str) -> String {
    if text.len() <= MAX_LINE_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_LINE_BYTES - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_LINE_BYTES);
        let cut = cut(&long);
        assert!(cut.len() <= MAX_LINE_BYTES, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(super::cut("short"), "short");
    }

    #[test]
    fn only_streams_without_follow_have_a_budget() {
        let mut bounded = Budget {
            bounded: true,
            ..Budget::default()
        };
        for _ in 0..NON_FOLLOW_MAX_LINES {
            assert!(bounded.take(1));
        }
        assert!(!bounded.take(1), "one line more than the bound");
        let mut big = Budget {
            bounded: true,
            ..Budget::default()
        };
        assert!(big.take(NON_FOLLOW_MAX_BYTES as usize));
        assert!(!big.take(1), "one byte more than the bound");
        let mut follow = Budget::default();
        for _ in 0..=NON_FOLLOW_MAX_LINES {
            assert!(follow.take(1));
        }
    }
}
