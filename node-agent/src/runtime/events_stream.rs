//! The agent's events as one stream, whichever source `events_source.rs` chose: the tail of
//! podman's file events log (`events_tail.rs`), filtered here to this agent's container lines
//! (`events_log.rs`) with repeats after a rotation skipped, or a `podman events` child, which
//! podman filters itself. The watcher (`events.rs`) owns the restarts and the exit files.

use super::command::{CommandError, LineStream, StderrMode};
use super::container_event::{events_args, parse_event, ContainerEvent};
use super::events_log::{classify, is_replay, time_nanos, LogLine};
use super::events_source::Choice;
use super::events_tail::{EventsTail, TailItem};
use super::podman_cli::PodmanCli;

/// What an [`EventStream`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// A container event of this agent.
    Event(ContainerEvent),
    /// Events may have been missed (the log was rotated or truncated): re-list.
    Gap,
    /// A line that is not an event, for a rate-limited warning.
    Unreadable {
        /// Why it is not.
        error: String,
        /// The line (for an excerpt).
        line: String,
    },
}

/// The agent's events, from the log or from a `podman events` child. Dropping it stops either.
pub enum EventStream {
    /// A `podman events` child, already filtered by podman.
    Child(LineStream),
    /// The tail of the file log, filtered here.
    Tail(TailState),
}

/// The tail with what it needs to filter the log.
pub struct TailState {
    tail: EventsTail,
    agent: String,
    /// The newest time of any line read, to skip repeats after a [`TailItem::Gap`].
    newest: Option<i128>,
    /// Lines not newer than this are repeats of what was read before the last gap.
    replay_before: Option<i128>,
}

impl EventStream {
    /// Starts the source `choice` for `agent`: the tail, or the child with `--since since`. A
    /// tail that cannot start falls back to the child.
    pub fn start(
        cli: &PodmanCli,
        choice: &Choice,
        agent: &str,
        since: &str,
    ) -> Result<EventStream, CommandError> {
        if let Choice::Tail(path) = choice {
            match EventsTail::open(path) {
                Ok(tail) => {
                    return Ok(EventStream::Tail(TailState {
                        tail,
                        agent: agent.to_owned(),
                        newest: None,
                        replay_before: None,
                    }))
                }
                Err(error) => {
                    tracing::info!(path = %path.display(), %error, "cannot tail podman's events log: running podman events");
                }
            }
        }
        cli.stream(&[], &events_args(agent, since), StderrMode::Collect)
            .map(EventStream::Child)
    }

    /// Whether this is the tail of the log (no podman process).
    pub fn is_tail(&self) -> bool {
        matches!(self, EventStream::Tail(_))
    }

    /// The next item; `None` when the source ended (the child exited, the tail broke).
    pub async fn next(&mut self) -> Option<StreamItem> {
        match self {
            EventStream::Child(stream) => {
                let line = stream.next_line().await?;
                Some(match parse_event(&line.text) {
                    Ok(event) => StreamItem::Event(event),
                    Err(error) => StreamItem::Unreadable {
                        error: error.to_string(),
                        line: line.text,
                    },
                })
            }
            EventStream::Tail(state) => state.next().await,
        }
    }

    /// Ends the stream, logging why it ended.
    pub async fn finish(self) {
        match self {
            EventStream::Child(stream) => match stream.finish().await {
                Ok(()) => tracing::warn!("podman events ended"),
                Err(error) => tracing::warn!(%error, "podman events failed"),
            },
            EventStream::Tail(_) => {}
        }
    }
}

impl TailState {
    async fn next(&mut self) -> Option<StreamItem> {
        loop {
            let line = match self.tail.next().await {
                Ok(TailItem::Line(line)) => line,
                Ok(TailItem::Gap) => {
                    tracing::info!(path = %self.tail.path().display(), "podman's events log was rotated or truncated");
                    self.replay_before = self.newest;
                    return Some(StreamItem::Gap);
                }
                Ok(TailItem::TooLong(len)) => {
                    ank_bus::warn_limited!(
                        "podman event",
                        len,
                        "skipped a line of podman's events log longer than the bound"
                    );
                    continue;
                }
                Err(error) => {
                    tracing::warn!(path = %self.tail.path().display(), %error, "the tail of podman's events log broke");
                    return None;
                }
            };
            let classified = match classify(&line, &self.agent) {
                Ok(classified) => classified,
                Err(error) => {
                    return Some(StreamItem::Unreadable {
                        error: error.to_string(),
                        line,
                    })
                }
            };
            let time = classified.time();
            if is_replay(time, self.replay_before) {
                continue;
            }
            if let Some(time) = time_nanos(time) {
                self.newest = Some(self.newest.map_or(time, |newest| newest.max(time)));
            }
            if let LogLine::Ours(event) = classified {
                return Some(StreamItem::Event(event));
            }
        }
    }
}
