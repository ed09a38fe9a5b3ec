//! The listing scheduler and merge: when the agent asks the runtimes for everything it owns
//! (`podman ps`), and how an answer is merged into [`Observed`] without overwriting a fresher
//! look. Two rules keep the view right while operations and events race with a listing:
//! - **A newer look wins**: an operation that re-read an instance, or a podman event, after a
//!   listing started is newer than that listing, so the listing leaves the instance alone.
//! - **A busy instance is left alone**: while an operation runs on a workload, its instances
//!   are the operation's to report.
//!
//! A first listing that keeps failing is reported (`Failed(Unknown)` on every workload) only
//! after [`LISTING_GRACE`]: podman may fail once while it starts (issue 14). No I/O here: the
//! listing itself runs in `runner.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ank_schemas::RuntimeKind;

use crate::dispatch::OpError;
use crate::observed::{Observed, RuntimeInstance};
use crate::runtime::{ContainerEvent, ObservedInstance};

/// How long the runtime may stay unlistable, from the start of the first failed listing, before
/// the agent reports its workloads `Failed(Unknown)`: a podman that fails once while starting up
/// must not end `ank apply` with exit 3 a moment before it recovers (issue 14). A hung podman is
/// killed after [`crate::runtime::ps::LISTING_TIMEOUT`], past this grace, so it is reported at
/// once.
pub const LISTING_GRACE: Duration = Duration::from_secs(5);

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

    /// The fast path for a container that exited: its `died` event carries the exit code, so
    /// the state is reported at once, provisionally; the listing scheduled anyway confirms it.
    pub fn on_container_event(
        &mut self,
        observed: &mut Observed,
        event: &ContainerEvent,
        now_unix: i64,
    ) {
        if event.status != "died" {
            return;
        }
        let (Some(instance), Some(code)) = (event.instance(), event.exit_code) else {
            return;
        };
        let Some(current) = observed.instances.get_mut(instance) else {
            return;
        };
        let busy = observed
            .books
            .get(&current.workload_key())
            .is_some_and(|b| b.in_flight.is_some());
        if busy {
            // The operation under way (a delete, a restart) looks at the instance itself.
            return;
        }
        if current.record_exit(&event.id, code, now_unix) {
            // A listing that started before this event must not overwrite it with `running`.
            self.looked_at(instance);
        }
    }
}
