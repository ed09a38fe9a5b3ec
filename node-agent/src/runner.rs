//! The agent's state without the bus: the typed snapshot, [`Observed`], the runtime operations
//! and listings in flight, and the retry timer. The select loop (`agent_loop.rs`) feeds it
//! what arrives and publishes what it reports; here the planner's actions are carried out
//! through [`Runtimes`]. Generic over the connectors, so its decisions (listing merge,
//! provisional exits, restarts, pruning) are unit-tested with a fake runtime
//! (`runner_tests.rs`) and never need podman or a broker.
//!
//! Until the first snapshot arrives and podman was listed once, nothing is changed: a broker
//! that lost its retained messages must not stop workloads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use ank_schemas::{AgentSnapshot, ExecutionState, PendingSubstate, RuntimeKind};

use crate::desired::DesiredSet;
use crate::dispatch::Runtimes;
use crate::execute::{self, CreateStarted, OpOutcome, StartedSender};
use crate::listing::{Lister, Listing};
use crate::observed::{InstanceTarget, Observed, Operation, RuntimeInstance, WorkloadReport};
use crate::reconcile::{plan, Action, TRIGGERED_INFO};
#[cfg(test)]
use crate::runtime::RuntimeError;
use crate::runtime::{
    ContainerEvent, KubeSpec, PodmanKubeRuntime, PodmanRunSpec, PodmanRuntime, RuntimeConnector,
};

/// How long podman events are gathered before one listing reads them all.
pub const EVENT_DEBOUNCE: Duration = Duration::from_millis(50);

/// The agent's workloads and what is under way for them.
pub struct Runner<P = PodmanRuntime, K = PodmanKubeRuntime> {
    /// The planner's view besides the snapshot.
    pub observed: Observed,
    /// The last valid snapshot; `None` until one arrived.
    pub snapshot: Option<DesiredSet>,
    /// When to list and how listings merge.
    pub lister: Lister,
    /// Runtime operations in flight, at most one per workload.
    pub ops: JoinSet<OpOutcome>,
    /// The listing in flight (at most one).
    pub listings: JoinSet<Listing>,
    /// When a backoff or retry is due, so the loop plans again then.
    pub retry_at: Option<Instant>,
    /// Replaces whose old instance is gone (see [`Runner::on_create_started`]).
    pub started: mpsc::UnboundedReceiver<CreateStarted>,
    started_tx: StartedSender,
    /// Reports made outside the planner (a replace's `Pending(Starting)`), published with the
    /// next plan's, before them.
    pending: Vec<WorkloadReport>,
    runtimes: Arc<Runtimes<P, K>>,
}

impl<P, K> Runner<P, K>
where
    P: RuntimeConnector<Spec = PodmanRunSpec> + 'static,
    K: RuntimeConnector<Spec = KubeSpec> + 'static,
{
    /// A runner for `agent` running `enabled` through `runtimes`; it lists at once.
    pub fn new(agent: &str, enabled: Vec<RuntimeKind>, runtimes: Arc<Runtimes<P, K>>) -> Self {
        let (started_tx, started) = mpsc::unbounded_channel();
        Self {
            observed: Observed::new(agent, enabled),
            snapshot: None,
            lister: Lister::new(Instant::now()),
            ops: JoinSet::new(),
            listings: JoinSet::new(),
            retry_at: None,
            started,
            started_tx,
            pending: Vec::new(),
            runtimes,
        }
    }

    /// Takes a new snapshot (decoded and checked by `inbox.rs`); each workload is read once here.
    pub fn on_snapshot(&mut self, snapshot: AgentSnapshot) {
        tracing::info!(
            generation = snapshot.generation,
            workloads = snapshot.workloads.len(),
            "snapshot"
        );
        let snapshot = DesiredSet::new(snapshot);
        self.observed.remember_snapshot(&snapshot);
        self.snapshot = Some(snapshot);
    }

    /// When the next listing should start, if none is running.
    pub fn listing_due(&self) -> Option<Instant> {
        self.lister.due.filter(|_| self.listings.is_empty())
    }

    /// Starts a listing of every enabled runtime.
    pub fn start_listing(&mut self) {
        let seq = self.lister.begin();
        let runtimes = Arc::clone(&self.runtimes);
        let extra: Vec<InstanceTarget> = self
            .observed
            .instances
            .values()
            .filter(|i| !i.general_options.is_empty())
            .map(RuntimeInstance::target)
            .collect();
        let enabled = self.observed.runtimes.clone();
        let started = Instant::now();
        self.listings.spawn(async move {
            let mut by_runtime = Vec::new();
            for runtime in enabled {
                let found = runtimes.list(&runtime, &extra).await;
                by_runtime.push((runtime, found));
            }
            Listing {
                seq,
                started,
                by_runtime,
            }
        });
    }

    /// Merges a finished listing.
    pub fn on_listing(&mut self, listing: Listing) {
        self.lister
            .merge(&mut self.observed, listing, Instant::now());
    }

    /// A podman event: a `died` exit is taken at once, provisionally, and a listing confirms it
    /// (the rules are `Lister::on_container_event`'s).
    pub fn on_container_event(&mut self, event: &ContainerEvent) {
        if self
            .lister
            .on_container_event(&mut self.observed, event, unix_now())
        {
            self.lister.schedule(Instant::now() + EVENT_DEBOUNCE);
        }
    }

    /// A replace removed its old instance and now creates the new one: report the new one
    /// `Pending(Starting)` "Triggered at runtime.", as Ankaios does between an update's
    /// `Removed` and its create (§2.2, §4.1), so a watcher sees the same sequence. Only while
    /// that replace is still in flight: a late message must not undo a newer state.
    pub fn on_create_started(&mut self, started: CreateStarted) {
        let Some(book) = self.observed.books.get(&started.workload) else {
            return;
        };
        if book.in_flight != Some(Operation::Replace) {
            return;
        }
        let restart_count = if book.instance == started.instance {
            book.restart_count
        } else {
            0
        };
        let report = WorkloadReport {
            workload: started.workload,
            instance: started.instance,
            state: ExecutionState::Pending(PendingSubstate::Starting),
            info: TRIGGERED_INFO.to_owned(),
            restart_count,
            exit_code: None,
            observed_generation: self.snapshot.as_ref().map_or(0, |s| s.generation),
        };
        self.observed.record_report(report.clone());
        self.pending.push(report);
    }

    /// Records how an operation ended, with the fresh look it took, then any exit that arrived
    /// while it ran (newer than that look).
    pub fn on_op_done(&mut self, outcome: OpOutcome) {
        // An operation says it started creating before it ends, so its message is here by now,
        // whichever the loop's select took first.
        while let Ok(started) = self.started.try_recv() {
            self.on_create_started(started);
        }
        for refreshed in &outcome.refreshed {
            self.lister.looked_at(&refreshed.instance);
            self.observed.set_instance(
                &refreshed.instance,
                &refreshed.runtime,
                refreshed.found.as_ref(),
            );
        }
        if self
            .lister
            .release_held(&mut self.observed, &outcome.workload)
        {
            self.lister.schedule(Instant::now() + EVENT_DEBOUNCE);
        }
        execute::finish(
            &mut self.observed,
            &outcome,
            Instant::now(),
            rand::random::<f64>(),
        );
    }

    /// Plans at `now` and starts the operations; returns the reports to publish, in order
    /// (already recorded as said), or `None` while the agent is not ready to act.
    pub fn plan(&mut self, now: Instant) -> Option<Vec<WorkloadReport>> {
        if !self.lister.listed_once && self.observed.listing_error.is_none() {
            return None;
        }
        let snapshot = self.snapshot.as_ref()?;
        let mut reports = std::mem::take(&mut self.pending);
        for action in plan(snapshot, &self.observed, now) {
            match action {
                Action::Report(report) => {
                    self.observed.record_report(report.clone());
                    reports.push(report);
                }
                Action::RetryAt(at) => {
                    self.retry_at = Some(self.retry_at.map_or(at, |t| t.min(at)));
                }
                action => {
                    tracing::debug!(?action, "acting");
                    if let Some(op) =
                        execute::begin(&self.runtimes, &mut self.observed, action, &self.started_tx)
                    {
                        self.ops.spawn(op);
                    }
                }
            }
        }
        // Books made by this round's actions learn their delete conditions now, so a workload
        // removed by the next snapshot still waits for its dependents.
        self.observed.remember_snapshot(snapshot);
        Some(reports)
    }

    /// Whether the agent has acted on a snapshot after its first listing and nothing is under
    /// way: what it found at start is adopted or replaced by now.
    pub fn settled(&self) -> bool {
        self.lister.listed_once && self.snapshot.is_some() && self.ops.is_empty()
    }

    /// The generation of the snapshot acted on, if any.
    pub fn generation(&self) -> Option<u64> {
        self.snapshot.as_ref().map(|s| s.generation)
    }

    /// Drops the `Removed` memory of topics whose echo already cleared: it stays small.
    pub fn prune(&mut self) {
        let agent = &self.observed.agent;
        let peers = &self.observed.peer_states;
        self.observed.reported.retain(|name, report| {
            report.state != ExecutionState::Removed
                || peers
                    .get(name)
                    .is_some_and(|by_agent| by_agent.contains_key(agent))
        });
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
