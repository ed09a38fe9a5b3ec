//! Everything the planner knows besides the desired snapshot, as plain data: what the runtimes
//! show, what the agent itself remembers per workload (its bookkeeping), what it last reported,
//! and the latest states of workloads on every agent (for dependencies).
//!
//! The run loop owns one [`Observed`] and updates it from podman, from the bus and from the
//! outcome of each runtime operation, through the small methods here; `reconcile::plan` only
//! reads it. Nothing here does I/O, reads a clock or draws a random number: instants and jitter
//! are passed in.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ank_schemas::{ExecutionState, InstanceId, RuntimeKind};

pub use crate::book::{Failure, Operation, WorkloadBook};
use crate::desired::DesiredSet;

use crate::runtime::{labels, InstanceRef, ObservedInstance, RawState};

/// The planner's view of the world apart from the desired snapshot.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// This agent's name.
    pub agent: String,
    /// The runtimes this agent runs.
    pub runtimes: Vec<RuntimeKind>,
    /// The runtimes' instances owned by this agent, by full instance id text.
    pub instances: BTreeMap<String, RuntimeInstance>,
    /// The agent's memory per workload name.
    pub books: BTreeMap<String, WorkloadBook>,
    /// What the agent last published per workload name (`Removed` once the topic was cleared).
    pub reported: BTreeMap<String, WorkloadReport>,
    /// The latest retained state of every workload on every agent: workload → agent → state.
    /// Includes this agent's own echoes, which the planner uses only to clear stale topics.
    pub peer_states: BTreeMap<String, BTreeMap<String, PeerState>>,
    /// Agents whose status is not `online`: their workloads count as `AgentDisconnected`.
    pub offline_agents: BTreeSet<String>,
    /// The device restarted since the agent last ran (`boot.rs`): an ended instance found
    /// without a book is replaced, not adopted, so services run again after a reboot.
    pub rebooted: bool,
    /// The containers whose end the agent had reported before this start
    /// (`reported_ends.rs`); `None` once it settled, when an ended instance found without a book
    /// counts as reported. An ended container not among them runs again.
    pub reported_ends: Option<BTreeSet<String>>,
    /// Why the runtimes could not be listed, while no listing has succeeded since the agent
    /// started. The agent then knows nothing of existing containers, so it only reports.
    pub listing_error: Option<String>,
}

/// One instance as a runtime shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInstance {
    /// The full instance id text from the `ankmq.instance` label.
    pub instance: String,
    /// The parsed instance id, `None` if the label is not one (such an instance is an orphan).
    pub id: Option<InstanceId>,
    /// The runtime that runs it.
    pub runtime: RuntimeKind,
    /// Its state (for several containers, the worst).
    pub state: RawState,
    /// Its container ids.
    pub container_ids: Vec<String>,
    /// podman's `generalOptions` from its label, needed to address it.
    pub general_options: Vec<String>,
    /// How long it ran before it exited, when it did (the longest of its containers).
    pub ran_for: Option<Duration>,
    /// When its (latest started) container started, in unix seconds, if it ever did.
    pub started_at: Option<i64>,
    /// The state comes from a podman event that no listing has confirmed yet: it is reported at
    /// once, but nothing is done about it until a listing agrees (see [`Self::record_exit`]).
    pub provisional: bool,
}

impl RuntimeInstance {
    /// The planner's view of an instance a connector found.
    pub fn from_observed(found: &ObservedInstance, runtime: &RuntimeKind) -> Self {
        let ran_for = found
            .containers
            .iter()
            .filter_map(|c| match (c.started_at, c.exited_at) {
                (Some(start), Some(exit)) if exit >= start => {
                    Some(Duration::from_secs((exit - start).unsigned_abs()))
                }
                _ => None,
            })
            .max();
        // The label names the connector that made it; one that does not read as a runtime
        // (edited by hand) leaves the lister's.
        let runtime = found
            .containers
            .iter()
            .find_map(|c| c.label(labels::RUNTIME))
            .and_then(|label| RuntimeKind::parse(label).ok())
            .unwrap_or_else(|| runtime.clone());
        Self {
            instance: found.instance.clone(),
            id: found.instance.parse().ok(),
            runtime,
            state: found.state(),
            container_ids: found.containers.iter().map(|c| c.id.clone()).collect(),
            general_options: found.general_options.clone(),
            ran_for,
            started_at: found.containers.iter().filter_map(|c| c.started_at).max(),
            provisional: false,
        }
    }

    /// What a `died` event of its only container says without asking podman: it exited with
    /// `code` at `now_unix` (unix seconds). The state reaches the bus within the event's latency
    /// instead of after a `podman ps` (hundreds of milliseconds, docs/performance.md). It stays
    /// provisional: `podman rm -f` also sends `died` before the container is gone, and acting on
    /// it (a restart) would hide a Failed(Lost). Returns `false`, changing nothing, for another
    /// container or an instance of several containers, whose state is the worst of all of them.
    pub fn record_exit(&mut self, container_id: &str, code: i32, now_unix: i64) -> bool {
        let [only] = self.container_ids.as_slice() else {
            return false;
        };
        if only != container_id {
            return false;
        }
        self.state = RawState::Exited { code };
        self.ran_for = self
            .started_at
            .filter(|start| now_unix >= *start)
            .map(|start| Duration::from_secs((now_unix - start).unsigned_abs()));
        self.provisional = true;
        true
    }

    /// The workload name the books use for it: the id's workload, or the raw text if the label
    /// is not an instance id.
    pub fn workload_key(&self) -> String {
        match &self.id {
            Some(id) => id.workload.clone(),
            None => self.instance.clone(),
        }
    }

    /// How to address it in a runtime operation.
    pub fn target(&self) -> InstanceTarget {
        InstanceTarget {
            instance: self.instance.clone(),
            runtime: self.runtime.clone(),
            general_options: self.general_options.clone(),
        }
    }
}

/// An existing instance an action removes: which connector and how to address it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceTarget {
    /// The full instance id text.
    pub instance: String,
    /// The runtime that runs it.
    pub runtime: RuntimeKind,
    /// podman's `generalOptions` for it.
    pub general_options: Vec<String>,
}

impl InstanceTarget {
    /// The runtime layer's address of the instance.
    pub fn to_ref(&self) -> InstanceRef {
        InstanceRef {
            instance: self.instance.clone(),
            general_options: self.general_options.clone(),
        }
    }
}

/// Another (or this) agent's retained state of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerState {
    /// The instance the state is about.
    pub instance: InstanceId,
    /// Its state.
    pub state: ExecutionState,
}

/// One state report, as the agent publishes it (without the publisher's timestamp).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadReport {
    /// The workload's name.
    pub workload: String,
    /// The instance the state is about.
    pub instance: InstanceId,
    /// The state; `Removed` clears the topic.
    pub state: ExecutionState,
    /// The `additionalInfo` text.
    pub info: String,
    /// How often the restart policy restarted the instance.
    pub restart_count: u32,
    /// The exit code, once it exited.
    pub exit_code: Option<i32>,
    /// The snapshot generation the agent acted on.
    pub observed_generation: u64,
}

impl Observed {
    /// An empty view for `agent` running `runtimes`.
    pub fn new(agent: impl Into<String>, runtimes: Vec<RuntimeKind>) -> Self {
        Self {
            agent: agent.into(),
            runtimes,
            ..Self::default()
        }
    }

    /// The runtime instances of workload `name` (by [`RuntimeInstance::workload_key`]).
    pub fn instances_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a RuntimeInstance> {
        self.instances
            .values()
            .filter(move |i| i.workload_key() == name)
    }

    /// Replaces every instance of `runtime` with a fresh listing.
    pub fn set_runtime_listing(&mut self, runtime: &RuntimeKind, found: &[ObservedInstance]) {
        self.instances.retain(|_, i| i.runtime != *runtime);
        for instance in found {
            let instance = RuntimeInstance::from_observed(instance, runtime);
            self.instances.insert(instance.instance.clone(), instance);
        }
    }

    /// Records a fresh look at one instance; `None` means it no longer exists.
    pub fn set_instance(
        &mut self,
        instance: &str,
        runtime: &RuntimeKind,
        found: Option<&ObservedInstance>,
    ) {
        match found {
            Some(found) => {
                let fresh = RuntimeInstance::from_observed(found, runtime);
                self.instances.insert(instance.to_owned(), fresh);
            }
            None => {
                self.instances.remove(instance);
            }
        }
    }

    /// Keeps each workload's latest delete conditions in its book (see
    /// [`WorkloadBook::delete_conditions`]).
    pub fn remember_snapshot(&mut self, snapshot: &DesiredSet) {
        for (name, workload) in &snapshot.workloads {
            let desired = &workload.desired;
            if let Some(book) = self.books.get_mut(name) {
                book.delete_conditions = desired.delete_conditions.clone();
                book.expected_instances = desired.expected_instances.clone();
            }
        }
    }

    /// Records a published report; a `Removed` also forgets the workload's book.
    pub fn record_report(&mut self, report: WorkloadReport) {
        let idle = self
            .books
            .get(&report.workload)
            .is_some_and(|b| b.in_flight.is_none());
        if report.state == ExecutionState::Removed && idle {
            self.books.remove(&report.workload);
        }
        self.reported.insert(report.workload.clone(), report);
    }

    /// Records a retained state from the bus; `None` (an empty payload) clears it.
    pub fn set_peer_state(&mut self, workload: &str, agent: &str, state: Option<PeerState>) {
        match state {
            Some(state) => {
                self.peer_states
                    .entry(workload.to_owned())
                    .or_default()
                    .insert(agent.to_owned(), state);
            }
            None => {
                if let Some(by_agent) = self.peer_states.get_mut(workload) {
                    by_agent.remove(agent);
                    if by_agent.is_empty() {
                        self.peer_states.remove(workload);
                    }
                }
                // Our own topic is clear: the `Removed` memory has done its job.
                if agent == self.agent
                    && self
                        .reported
                        .get(workload)
                        .is_some_and(|r| r.state == ExecutionState::Removed)
                {
                    self.reported.remove(workload);
                }
            }
        }
    }

    /// The state that counts for workload `name` in a dependency check, whose `expected`
    /// instance the controller named: only what the agent of that instance published (this
    /// agent's own report, or the retained state on that agent's topic; `AgentDisconnected` when
    /// that agent is not online). A state of `name` from any other agent is ignored, so no
    /// participant can satisfy or block a condition by publishing a state for a workload it does
    /// not run (issue 13). With `same_instance`, a state of another instance of `name` (an old
    /// one still reported) does not count either.
    pub fn answer_for(
        &self,
        name: &str,
        expected: &InstanceId,
        same_instance: bool,
    ) -> Option<ExecutionState> {
        let fits = |instance: &InstanceId| !same_instance || instance == expected;
        if expected.agent == self.agent {
            return self
                .reported
                .get(name)
                .filter(|own| own.state != ExecutionState::Removed && fits(&own.instance))
                .map(|own| own.state);
        }
        let peer = self.peer_states.get(name)?.get(&expected.agent)?;
        if !fits(&peer.instance) {
            return None;
        }
        if self.offline_agents.contains(&expected.agent) {
            return Some(ExecutionState::AgentDisconnected);
        }
        Some(peer.state)
    }
}

#[cfg(test)]
#[path = "observed_tests.rs"]
mod tests;
