//! Watches podman's events for the agent's containers: the fast path for state changes, so a
//! container exit is known in milliseconds instead of after a poll interval.
//!
//! The events come from podman's file events log, tailed with inotify, when podman logs to a
//! file whose path is certain; otherwise from a `podman events --format json --filter
//! type=container --filter label=ankmq.agent=<agent> --since <t>` child (podman 4.3.1 ANDs the
//! two filters). `events_source.rs` chooses, at every (re)start. The tail starts at the end of
//! the log; the child's `--since` is the time of the last event seen, so a gap is replayed (an
//! event can then arrive twice, which is harmless because events are facts, not commands). If
//! the source ends (podman killed, the log's directory gone) it is started again after a delay.
//! Every (re)start, the first included, and every rotation or truncation of the log is
//! announced as [`WatchItem::ResyncNeeded`]: the consumer re-lists with `ps` then, because
//! events may have been missed, and events are hints, never the whole truth.
//!
//! The watcher uses podman's default options (no `generalOptions`): workloads that point podman
//! at another store are seen only by the periodic `ps`.
//!
//! An exit is learnt earlier than podman's `died` event from conmon's exit file
//! (`exit_files.rs`, issue 17): the watcher remembers the labels of every container of this agent
//! from its events (create, init, start: bounded by [`MAX_KNOWN_CONTAINERS`], forgotten on
//! `remove`), and turns an exit file of one of them into the `died` event podman sends later,
//! which is then not passed on a second time. Containers the stream has not seen since the agent
//! started (adopted ones) wait for podman's own event.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use super::container_event::{events_args, parse_event, ContainerEvent};
use super::events_source::detect;
use super::events_stream::{EventStream, StreamItem};
use super::exit_files::{ExitDirWatch, ExitFile};
use super::podman_cli::PodmanCli;

/// What the watcher yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchItem {
    /// A container of this agent changed.
    Event(ContainerEvent),
    /// The source (re)started or the log was rotated; events may have been missed, so re-list.
    ResyncNeeded,
}

/// How many containers' labels the watcher remembers to map exit files to; past it, exit files
/// of further containers wait for podman's `died` event. An agent runs far fewer.
pub const MAX_KNOWN_CONTAINERS: usize = 4_096;

/// A background events watcher. Dropping it stops the task (and kills a `podman events` child).
pub struct EventWatcher {
    items: mpsc::Receiver<WatchItem>,
    task: JoinHandle<()>,
}

impl EventWatcher {
    /// Starts watching the containers labelled with `agent`, restarting the stream
    /// `retry_delay` after it ends.
    ///
    /// It also watches podman's exit directory ([`PodmanCli::exit_dir`]) when there is one.
    pub fn spawn(cli: PodmanCli, agent: impl Into<String>, retry_delay: Duration) -> Self {
        let (tx, items) = mpsc::channel(256);
        let exit_dir = cli.exit_dir();
        let task = tokio::spawn(watch(cli, agent.into(), retry_delay, exit_dir, tx));
        Self { items, task }
    }

    /// The next item; `None` only if the watcher task ended (which it does not on its own).
    pub async fn next(&mut self) -> Option<WatchItem> {
        self.items.recv().await
    }
}

impl Drop for EventWatcher {
    fn drop(&mut self) {
        // Aborting drops the EventStream inside the task: a child is killed on drop.
        self.task.abort();
    }
}

/// What the watcher knows of the agent's containers, to turn exit files into `died` events.
#[derive(Default)]
struct Known {
    containers: HashMap<String, ContainerEvent>,
    /// Containers whose exit was reported from their exit file: podman's `died` is then a repeat.
    exited: HashSet<String>,
}

impl Known {
    /// Learns from an event; `false` when it is a repeat of an exit already reported.
    fn learn(&mut self, event: &ContainerEvent) -> bool {
        match event.status.as_str() {
            "remove" => {
                self.containers.remove(&event.id);
                self.exited.remove(&event.id);
            }
            "died" => return !self.exited.remove(&event.id),
            "start" => {
                // A restarted container exits again: its next exit file is news.
                self.exited.remove(&event.id);
            }
            _ => {}
        }
        if event.status != "remove"
            && event.instance().is_some()
            && (self.containers.contains_key(&event.id)
                || self.containers.len() < MAX_KNOWN_CONTAINERS)
        {
            self.containers.insert(event.id.clone(), event.clone());
        }
        true
    }

    /// The `died` event an exit file stands for, if the container is one of the agent's.
    fn died(&mut self, exit: &ExitFile) -> Option<ContainerEvent> {
        let known = self.containers.get(&exit.id)?;
        if !self.exited.insert(exit.id.clone()) {
            return None;
        }
        Some(ContainerEvent {
            status: "died".into(),
            exit_code: Some(exit.code),
            // No time: `--since` must stay at the last time podman itself printed.
            time: String::new(),
            ..known.clone()
        })
    }
}

async fn watch(
    cli: PodmanCli,
    agent: String,
    retry_delay: Duration,
    exit_dir: Option<PathBuf>,
    tx: mpsc::Sender<WatchItem>,
) {
    // Whole seconds, one early: a duplicate event is harmless, a missed one is not.
    let mut since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs().saturating_sub(1).to_string())
        .unwrap_or_else(|_| "0".into());
    let mut exits = exit_dir.and_then(|dir| match ExitDirWatch::open(&dir) {
        Ok(watch) => Some(watch),
        Err(error) => {
            tracing::info!(dir = %dir.display(), %error, "no exit-file watch: exits are learnt from podman events");
            None
        }
    });
    let mut known = Known::default();
    loop {
        // Chosen at every (re)start: a tail that broke may have a reason to be a child now.
        let choice = detect(&cli).await;
        match EventStream::start(&cli, &choice, &agent, &since) {
            Err(error) => tracing::warn!(%error, "cannot start podman events"),
            Ok(mut stream) => {
                if tx.send(WatchItem::ResyncNeeded).await.is_err() {
                    return;
                }
                loop {
                    let item = tokio::select! {
                        item = stream.next() => match item {
                            Some(StreamItem::Event(event)) => {
                                if !event.time.is_empty() {
                                    since = event.time.clone();
                                }
                                known.learn(&event).then_some(WatchItem::Event(event))
                            }
                            Some(StreamItem::Gap) => Some(WatchItem::ResyncNeeded),
                            Some(StreamItem::Unreadable { error, line }) => {
                                ank_bus::warn_limited!(
                                    "podman event",
                                    error = %ank_bus::excerpt(&error),
                                    line = %ank_bus::excerpt(&line),
                                    "unreadable podman event",
                                );
                                None
                            }
                            None => break,
                        },
                        exit = next_exit(&mut exits) => match exit {
                            Ok(exit) => known.died(&exit).map(WatchItem::Event),
                            Err(error) => {
                                tracing::warn!(%error, "the exit-file watch broke: exits are learnt from podman events");
                                exits = None;
                                None
                            }
                        },
                    };
                    if let Some(item) = item {
                        if tx.send(item).await.is_err() {
                            return;
                        }
                    }
                }
                stream.finish().await;
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(retry_delay).await;
    }
}

/// The next exit file, or never without a watch.
async fn next_exit(exits: &mut Option<ExitDirWatch>) -> std::io::Result<ExitFile> {
    match exits {
        Some(watch) => watch.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::runtime::container_event::tests::events;

    fn exit(id: &str, code: i32) -> ExitFile {
        ExitFile {
            id: id.into(),
            code,
        }
    }

    #[test]
    fn issue_17_an_exit_file_of_a_known_container_stands_for_its_died_event_once() {
        let mut known = Known::default();
        let life = events();
        let of = |name: &str, status: &str| {
            life.iter()
                .find(|e| e.name == name && e.status == status)
                .cloned()
                .expect("in the fixture")
        };
        let start = of("fixture-exit", "start");
        assert!(known.learn(&start));
        // Unknown containers (not ours, or adopted before the stream) wait for podman.
        assert_eq!(known.died(&exit(&"0".repeat(64), 1)), None);
        let died = known.died(&exit(&start.id, 3)).expect("a known container");
        assert_eq!(
            (
                died.status.as_str(),
                died.exit_code,
                died.instance(),
                died.time.as_str()
            ),
            ("died", Some(3), start.instance(), "")
        );
        // The file is written once, but inotify may report it twice (close, then a move).
        assert_eq!(known.died(&exit(&start.id, 3)), None);
        // podman's own `died` comes later: a repeat, not passed on.
        assert!(!known.learn(&of("fixture-exit", "died")));
        // Restarted, it can exit again.
        assert!(known.learn(&start));
        assert!(known.died(&exit(&start.id, 4)).is_some());
        // Removed, it is forgotten.
        assert!(known.learn(&of("fixture-exit", "remove")));
        assert_eq!(known.died(&exit(&start.id, 5)), None);
    }

    #[test]
    fn known_containers_are_bounded() {
        let mut known = Known::default();
        let template = events()
            .into_iter()
            .find(|e| e.status == "start")
            .expect("in the fixture");
        for i in 0..MAX_KNOWN_CONTAINERS + 10 {
            known.learn(&ContainerEvent {
                id: format!("{i:064x}"),
                ..template.clone()
            });
        }
        assert_eq!(known.containers.len(), MAX_KNOWN_CONTAINERS);
    }

    #[tokio::test]
    async fn a_dead_stream_is_restarted_and_announced() {
        // `false` exits at once, like a podman that keeps crashing.
        let mut watcher =
            EventWatcher::spawn(PodmanCli::new("false"), "agent", Duration::from_millis(10));
        for _ in 0..3 {
            let item = tokio::time::timeout(Duration::from_secs(5), watcher.next()).await;
            assert_eq!(item.ok().flatten(), Some(WatchItem::ResyncNeeded));
        }
    }
}
