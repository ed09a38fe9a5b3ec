//! Everything the planner knows besides the desired snapshot, as plain data: what the runtimes
//! show, what the agent itself remembers per workload (its bookkeeping), what it last reported,
//! and the latest states of workloads on every agent (for dependencies).
//!
//! The run loop owns one [`Observed`] and updates it from podman, from the bus and from the
//! outcome of each runtime operation, through the small methods here; `reconcile::plan` only
//! reads it. Nothing here does I/O, reads a clock or draws a random number: instants and jitter
//! are passed in.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ank_schemas::{DeleteCondition, ExecutionState, InstanceId, RuntimeKind};

use crate::desired::DesiredSet;
use crate::dispatch::OpError;

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

/// A runtime operation the agent started and has not finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Creating a new instance.
    Create,
    /// Running an ended instance again.
    Restart,
    /// Removing an old instance, then creating the new one.
    Replace,
    /// Removing an instance.
    Delete,
}

/// A create or delete that failed and will be retried.
#[derive(Debug, Clone)]
pub struct Failure {
    /// How many attempts failed in a row (1 after the first failure).
    pub attempt: u32,
    /// When the last one failed.
    pub failed_at: Instant,
    /// The pre-drawn jitter in `[0, 1]` for the next delay (see `backoff::create_retry_delay`,
    /// which both retries use).
    pub jitter: f64,
    /// The error of the last failure, its kind kept for the additionalInfo.
    pub error: Arc<OpError>,
}

/// What the agent remembers about one workload between plans. Created when the agent first acts
/// on (or adopts) an instance; an instance found in podman without a book was found, not
/// managed, which is what the adoption table (Ankaios §4.2) keys on.
#[derive(Debug, Clone)]
pub struct WorkloadBook {
    /// The instance these facts are about. A desired instance with another id starts afresh,
    /// which is how an update cancels retries and resets the restart count.
    pub instance: InstanceId,
    /// Whether the instance exists in the runtime as far as the agent did it: created, adopted
    /// or restarted, and not deleted since. Absent from podman while `created` means Lost.
    pub created: bool,
    /// How often the restart policy restarted it.
    pub restart_count: u32,
    /// Restarts in a row without a long run (see `backoff::effective_streak`).
    pub crash_streak: u32,
    /// When the restart policy last restarted it.
    pub last_restart_at: Option<Instant>,
    /// The failed create to retry, if any.
    pub create_failure: Option<Failure>,
    /// The failed delete to retry, if any (`Stopping(DeleteFailed)` meanwhile).
    pub delete_failure: Option<Failure>,
    /// A failure retrying cannot fix (`Pending(StartingFailed)`), with its reason.
    pub starting_failed: Option<Arc<OpError>>,
    /// The operation running now; the planner leaves the workload alone until it ends.
    pub in_flight: Option<Operation>,
    /// The workload's delete conditions from the last snapshot that had it, kept so a workload
    /// removed from the snapshot still waits for its dependents.
    pub delete_conditions: BTreeMap<String, DeleteCondition>,
    /// The instances the controller expected of those dependents, from the same snapshot.
    pub expected_instances: BTreeMap<String, InstanceId>,
}

impl WorkloadBook {
    /// A fresh book for `instance`.
    pub fn new(instance: InstanceId) -> Self {
        Self {
            instance,
            created: false,
            restart_count: 0,
            crash_streak: 0,
            last_restart_at: None,
            create_failure: None,
            delete_failure: None,
            starting_failed: None,
            in_flight: None,
            delete_conditions: BTreeMap::new(),
            expected_instances: BTreeMap::new(),
        }
    }

    /// The instance now exists (created, adopted or a replacement created).
    pub fn on_created(&mut self) {
        self.created = true;
        self.create_failure = None;
        self.starting_failed = None;
    }

    /// A create failed. A retryable failure schedules a retry with the pre-drawn `jitter`; any
    /// other makes the workload `Pending(StartingFailed)` for good.
    pub fn on_create_failed(&mut self, error: Arc<OpError>, now: Instant, jitter: f64) {
        let retryable = error.is_retryable();
        self.created = false;
        if !retryable {
            self.create_failure = None;
            self.starting_failed = Some(error);
            return;
        }
        let attempt = self.create_failure.as_ref().map_or(0, |f| f.attempt) + 1;
        self.create_failure = Some(Failure {
            attempt,
            failed_at: now,
            jitter,
            error,
        });
    }

    /// The restart policy restarted it; `streak` is the crash streak the restart counted.
    pub fn on_restarted(&mut self, now: Instant, streak: u32) {
        self.created = true;
        self.restart_count = self.restart_count.saturating_add(1);
        self.crash_streak = streak;
        self.last_restart_at = Some(now);
    }

    /// The instance was removed from the runtime.
    pub fn on_deleted(&mut self) {
        self.created = false;
        self.delete_failure = None;
    }

    /// Removing the instance failed; it is retried after a jittered delay.
    pub fn on_delete_failed(&mut self, error: Arc<OpError>, now: Instant, jitter: f64) {
        let attempt = self.delete_failure.as_ref().map_or(0, |f| f.attempt) + 1;
        self.delete_failure = Some(Failure {
            attempt,
            failed_at: now,
            jitter,
            error,
        });
    }
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
mod tests {
    use super::*;
    use crate::runtime::RuntimeError;
    use ank_schemas::{PendingSubstate, RunningSubstate, RuntimeProblem};

    fn id(name: &str) -> InstanceId {
        InstanceId::compute(name, "agent_A", "podman", "image: x", &[])
    }

    #[test]
    fn create_failures_count_attempts_and_a_non_retryable_one_is_final() {
        let now = Instant::now();
        let mut book = WorkloadBook::new(id("w"));
        let pull = |instance: &str| {
            Arc::new(OpError::Runtime(RuntimeError::NotFound {
                instance: instance.into(),
            }))
        };
        book.on_create_failed(pull("one"), now, 0.5);
        book.on_create_failed(pull("two"), now, 0.25);
        let failure = book.create_failure.clone().expect("retry scheduled");
        assert_eq!((failure.attempt, failure.jitter), (2, 0.25));
        assert_eq!(
            failure.error.to_string(),
            "no container of instance two exists"
        );
        let bad = RuntimeProblem::Unsupported(RuntimeKind::Other("containerd".into()));
        book.on_create_failed(Arc::new(OpError::Unstartable(bad)), now, 0.0);
        assert!(book.create_failure.is_none());
        let final_error = book.starting_failed.as_ref().map(|e| e.to_string());
        assert_eq!(
            final_error.as_deref(),
            Some("Unsupported Runtime 'containerd'")
        );
        book.on_created();
        assert!(book.starting_failed.is_none());
        assert!(book.created);
    }

    #[test]
    fn restarts_count_and_remember_their_streak() {
        let now = Instant::now();
        let mut book = WorkloadBook::new(id("w"));
        book.on_restarted(now, 1);
        book.on_restarted(now, 2);
        assert_eq!((book.restart_count, book.crash_streak), (2, 2));
        assert_eq!(book.last_restart_at, Some(now));
    }

    #[test]
    fn issue_13_only_the_expected_agent_answers_for_a_dependency() {
        let mut observed = Observed::new("agent_A", vec![RuntimeKind::Podman]);
        let running = ExecutionState::Running(RunningSubstate::Ok);
        let succeeded = ExecutionState::Succeeded(ank_schemas::SucceededSubstate::Ok);
        let on_b = InstanceId::compute("db", "agent_B", "podman", "image: x", &[]);
        let forged = InstanceId::compute("db", "agent_C", "podman", "image: x", &[]);
        observed.set_peer_state(
            "db",
            "agent_C",
            Some(PeerState {
                instance: forged,
                state: succeeded,
            }),
        );
        assert_eq!(
            observed.answer_for("db", &on_b, true),
            None,
            "agent_C's state of agent_B's workload is ignored"
        );
        observed.set_peer_state(
            "db",
            "agent_B",
            Some(PeerState {
                instance: on_b.clone(),
                state: running,
            }),
        );
        assert_eq!(observed.answer_for("db", &on_b, true), Some(running));
        observed.offline_agents.insert("agent_B".into());
        assert_eq!(
            observed.answer_for("db", &on_b, true),
            Some(ExecutionState::AgentDisconnected)
        );
        let newer = InstanceId::compute("db", "agent_B", "podman", "image: y", &[]);
        assert_eq!(
            observed.answer_for("db", &newer, true),
            None,
            "the state of an older instance does not count for the expected one"
        );
        assert_eq!(
            observed.answer_for("db", &newer, false),
            Some(ExecutionState::AgentDisconnected),
            "unless any instance of that agent counts (delete conditions)"
        );
    }

    #[test]
    fn own_workloads_answer_from_what_this_agent_reported_not_from_the_bus() {
        let mut observed = Observed::new("agent_A", vec![RuntimeKind::Podman]);
        let waiting = ExecutionState::Pending(PendingSubstate::WaitingToStart);
        observed.set_peer_state(
            "db",
            "agent_A",
            Some(PeerState {
                instance: id("db"),
                state: ExecutionState::Running(RunningSubstate::Ok),
            }),
        );
        assert_eq!(
            observed.answer_for("db", &id("db"), true),
            None,
            "own echo ignored"
        );
        observed.record_report(WorkloadReport {
            workload: "db".into(),
            instance: id("db"),
            state: waiting,
            info: String::new(),
            restart_count: 0,
            exit_code: None,
            observed_generation: 1,
        });
        assert_eq!(observed.answer_for("db", &id("db"), true), Some(waiting));
    }

    #[test]
    fn clearing_our_own_topic_forgets_the_removed_report() {
        let mut observed = Observed::new("agent_A", vec![]);
        observed.record_report(WorkloadReport {
            workload: "w".into(),
            instance: id("w"),
            state: ExecutionState::Removed,
            info: String::new(),
            restart_count: 0,
            exit_code: None,
            observed_generation: 1,
        });
        observed.set_peer_state("w", "agent_A", None);
        assert!(observed.reported.is_empty());
    }

    #[test]
    fn a_died_event_of_the_only_container_is_a_provisional_exit() {
        let running = RuntimeInstance {
            instance: "w.abc.a".into(),
            id: None,
            runtime: RuntimeKind::Podman,
            state: RawState::Running,
            container_ids: vec!["c1".into()],
            general_options: Vec::new(),
            ran_for: None,
            started_at: Some(1_000),
            provisional: false,
        };
        let mut exited = running.clone();
        assert!(exited.record_exit("c1", 3, 1_090));
        assert_eq!(exited.state, RawState::Exited { code: 3 });
        assert_eq!(exited.ran_for, Some(Duration::from_secs(90)));
        assert!(exited.provisional);

        let mut other = running.clone();
        assert!(!other.record_exit("c2", 3, 1_090), "another container");
        assert_eq!(other, running);
        let mut pod = RuntimeInstance {
            container_ids: vec!["c1".into(), "c2".into()],
            ..running.clone()
        };
        assert!(
            !pod.record_exit("c1", 3, 1_090),
            "a pod's state is the worst of all"
        );
        assert_eq!(pod.state, RawState::Running);
    }
}
