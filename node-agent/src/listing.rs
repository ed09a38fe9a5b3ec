//! The listing scheduler and merge: when the agent asks the runtimes for everything it owns
//! (`podman ps`), and how an answer is merged into [`Observed`] without overwriting a fresher
//! look. Two rules keep the view right while operations and events race with a listing:
//! - **A newer look wins**: an operation that re-read an instance, or a podman event, after a
//!   listing started is newer than that listing, so the listing leaves the instance alone.
//! - **A busy instance is left alone**: while an operation runs on a workload, its instances
//!   are the operation's to report. A `died` that arrives meanwhile is held and applied after the
//!   operation's own look (`podman run -d` returned, the container then ended: the exit is
//!   newer), and events about a busy workload schedule no listing, which would skip it anyway.
//!
//! A first listing that keeps failing is reported (`Failed(Unknown)` on every workload) only
//! after [`LISTING_GRACE`]: podman may fail once while it starts (issue 14). No I/O here: the
//! listing itself runs in `runner.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ank_schemas::{InstanceId, RuntimeKind};

use crate::dispatch::OpError;
use crate::observed::{Observed, RuntimeInstance};
use crate::runtime::{ContainerEvent, ObservedInstance, RawState};

/// How long the runtime may stay unlistable, from the start of the first failed listing, before
/// the agent reports its workloads `Failed(Unknown)`: a podman that fails once while starting up
/// must not end `ank apply` with exit 3 a moment before it recovers (issue 14). A hung podman is
/// killed after [`crate::runtime::ps::LISTING_TIMEOUT`], past this grace, so it is reported at
/// once.
pub const LISTING_GRACE: Duration = Duration::from_secs(5);

/// How many exits of busy workloads are held at once (see [`Lister::on_container_event`]); one
/// operation runs per workload, so an agent holds about one per workload it is starting. Past
/// it an exit is not held: the listing that follows the operation's next event shows it.
pub const MAX_HELD_EXITS: usize = 1_024;

/// How soon a first listing that failed is tried again.
const FIRST_LISTING_RETRY: Duration = Duration::from_secs(1);

/// One full listing of every enabled runtime.
#[derive(Debug)]
pub struct Listing {
    /// Its number (see [`Lister::begin`]).
    pub seq: u64,
    /// When it was started: a failure counts from there.
    pub started: Instant,
    /// What each runtime answered.
    pub by_runtime: Vec<(RuntimeKind, Result<Vec<ObservedInstance>, OpError>)>,
}

/// When to list, and what the listings so far said.
#[derive(Debug)]
pub struct Lister {
    /// Whether a listing succeeded once; the planner waits for it (adoption).
    pub listed_once: bool,
    /// When the next listing should start.
    pub due: Option<Instant>,
    /// When the listings that failed in a row began; `None` after a complete one.
    failing_since: Option<Instant>,
    /// Numbers listings, so an older listing never overwrites a fresher look at an instance.
    seq: u64,
    /// Instance → the listing number after which an operation or event looked at it.
    fresh: BTreeMap<String, u64>,
    /// Container id → an exit that arrived while an operation was busy with its workload.
    held: BTreeMap<String, HeldExit>,
}

/// A `died` event held until the busy operation of its workload ends.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeldExit {
    instance: String,
    workload: String,
    code: i32,
    at_unix: i64,
}

impl Lister {
    /// A lister that wants to list at once.
    pub fn new(now: Instant) -> Self {
        Self {
            listed_once: false,
            due: Some(now),
            failing_since: None,
            seq: 0,
            fresh: BTreeMap::new(),
            held: BTreeMap::new(),
        }
    }

    /// Lists at `at` at the latest (triggers coalesce into the earliest).
    pub fn schedule(&mut self, at: Instant) {
        self.due = Some(self.due.map_or(at, |due| due.min(at)));
    }

    /// A listing starts now; returns its number.
    pub fn begin(&mut self) -> u64 {
        self.due = None;
        self.seq += 1;
        self.seq
    }

    /// Something looked at `instance` now: listings already running are older than that look.
    pub fn looked_at(&mut self, instance: &str) {
        self.fresh.insert(instance.to_owned(), self.seq);
    }

    /// Merges `listing` into `observed` by the rules of the module documentation.
    pub fn merge(&mut self, observed: &mut Observed, listing: Listing, now: Instant) {
        let mut complete = true;
        for (runtime, found) in listing.by_runtime {
            let found = match found {
                Ok(found) => found,
                Err(error) => {
                    tracing::warn!(%runtime, %error, "listing failed; keeping the last view");
                    let since = *self.failing_since.get_or_insert(listing.started);
                    if !self.listed_once && now.saturating_duration_since(since) >= LISTING_GRACE {
                        observed.listing_error = Some(format!("{runtime}: {error}"));
                    }
                    complete = false;
                    continue;
                }
            };
            let fresh: BTreeMap<String, RuntimeInstance> = found
                .iter()
                .map(|i| {
                    (
                        i.instance.clone(),
                        RuntimeInstance::from_observed(i, &runtime),
                    )
                })
                .collect();
            let names: BTreeSet<String> = observed
                .instances
                .iter()
                .filter(|(_, i)| i.runtime == runtime)
                .map(|(name, _)| name.clone())
                .chain(fresh.keys().cloned())
                .collect();
            for name in names {
                let newer = self.fresh.get(&name).is_some_and(|seq| *seq >= listing.seq);
                let busy = observed
                    .instances
                    .get(&name)
                    .or(fresh.get(&name))
                    .map(RuntimeInstance::workload_key)
                    .and_then(|w| observed.books.get(&w))
                    .is_some_and(|b| b.in_flight.is_some());
                if newer || busy {
                    continue;
                }
                match fresh.get(&name) {
                    Some(instance) => {
                        observed.instances.insert(name, instance.clone());
                    }
                    None => {
                        observed.instances.remove(&name);
                    }
                }
            }
        }
        self.fresh.retain(|_, seq| *seq >= listing.seq);
        if complete {
            self.listed_once = true;
            self.failing_since = None;
            observed.listing_error = None;
        } else if !self.listed_once {
            self.schedule(now + FIRST_LISTING_RETRY);
        }
    }

    /// Takes a podman event; returns whether a listing should follow it.
    ///
    /// The fast path for a container that exited: its `died` event carries the exit code, so
    /// the state is reported at once, provisionally; the listing that follows confirms it. While
    /// an operation is busy with the workload, the exit is held for [`Lister::release_held`]
    /// instead, and no listing follows (it would leave the busy workload alone). A `create`,
    /// `init` or `start` of a container already known to run is no news either: the operation
    /// that started it looked at it (issue 17: no `podman ps` per started container).
    pub fn on_container_event(
        &mut self,
        observed: &mut Observed,
        event: &ContainerEvent,
        now_unix: i64,
    ) -> bool {
        let Some(instance) = event.instance() else {
            return true;
        };
        let workload = match observed.instances.get(instance) {
            Some(current) => current.workload_key(),
            None => match instance.parse::<InstanceId>() {
                Ok(id) => id.workload,
                Err(_) => instance.to_owned(),
            },
        };
        let busy = observed
            .books
            .get(&workload)
            .is_some_and(|b| b.in_flight.is_some());
        if busy {
            // The operation under way (a create, a delete, a restart) looks at the instance
            // itself when it ends; an exit that comes meanwhile is newer than what it saw.
            if let (Some(code), "died") = (event.exit_code, event.status.as_str()) {
                if self.held.len() < MAX_HELD_EXITS || self.held.contains_key(&event.id) {
                    let held = HeldExit {
                        instance: instance.to_owned(),
                        workload,
                        code,
                        at_unix: now_unix,
                    };
                    self.held.insert(event.id.clone(), held);
                }
            }
            return false;
        }
        let Some(current) = observed.instances.get_mut(instance) else {
            return true;
        };
        match (event.status.as_str(), event.exit_code) {
            ("create" | "init" | "start", _) => {
                !(current.state == RawState::Running && current.container_ids.contains(&event.id))
            }
            ("died", Some(code)) => {
                if current.record_exit(&event.id, code, now_unix) {
                    // A listing that started before this event must not overwrite it with
                    // `running`.
                    self.looked_at(instance);
                }
                true
            }
            _ => true,
        }
    }

    /// After the operation on `workload` ended and its looks were recorded: applies the exits
    /// held for it to the instances it looked at (they are newer than the look, so they win,
    /// provisionally) and forgets the rest. Returns whether one was applied: a listing should
    /// then confirm it.
    pub fn release_held(&mut self, observed: &mut Observed, workload: &str) -> bool {
        let mine: Vec<(String, HeldExit)> = self
            .held
            .iter()
            .filter(|(_, held)| held.workload == workload)
            .map(|(id, held)| (id.clone(), held.clone()))
            .collect();
        let mut applied = false;
        for (container, held) in mine {
            self.held.remove(&container);
            let recorded = observed
                .instances
                .get_mut(&held.instance)
                .is_some_and(|i| i.record_exit(&container, held.code, held.at_unix));
            if recorded {
                self.looked_at(&held.instance);
                applied = true;
            }
        }
        applied
    }
}
