//! When a change is finished: a pure predicate over the instances a response named and the
//! current [`View`], like kube-runtime's `wait::Condition`. `live.rs` draws it; nothing here
//! waits, sleeps or prints.
//!
//! Completion follows Ankaios §5.3 item 6, keyed on the response's generation and instance ids
//! (never on time):
//! - an **added** instance is done once its topic holds *that* instance, written for this
//!   generation or later, in `Running`, `Succeeded`, `Failed(*)`, `NotScheduled`,
//!   `Pending(StartingFailed)` or `AgentDisconnected`;
//! - a **deleted** instance is done once its topic no longer holds it (cleared, or taken over by
//!   the new instance of an update), or is `Removed`;
//! - an instance whose agent is not online (or never reported) is done at once: nobody would
//!   ever report on it.
//!
//! The change *failed* (exit code 3, a deliberate difference from Ankaios §11.6) when an added
//! instance ended `Failed(*)` or `Pending(StartingFailed)`.

use ank_schemas::{ExecutionState, InstanceId, PendingSubstate};

use crate::state_view::View;

/// Whether the request added or deleted an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// A new instance: wait until it runs or ended.
    Added,
    /// A removed instance: wait until it is gone.
    Deleted,
}

/// What a successful response asks the CLI to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The generation of the new desired state.
    pub generation: u64,
    /// The instances to follow, each with its change.
    pub instances: Vec<(InstanceId, Change)>,
}

impl Expected {
    /// From the `added` and `deleted` lists of an `Updated` response.
    pub fn new(generation: u64, added: &[InstanceId], deleted: &[InstanceId]) -> Self {
        let instances = deleted
            .iter()
            .map(|id| (id.clone(), Change::Deleted))
            .chain(added.iter().map(|id| (id.clone(), Change::Added)))
            .collect();
        Self {
            generation,
            instances,
        }
    }
}

/// Where one followed instance is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The instance.
    pub id: InstanceId,
    /// Added or deleted.
    pub change: Change,
    /// The state to show (`Removed` once a deleted instance is gone).
    pub state: ExecutionState,
    /// Its additional info.
    pub additional_info: String,
    /// Whether this instance reached its final state.
    pub done: bool,
}

impl Progress {
    /// Whether the instance ended in a state that makes the change fail (exit code 3).
    pub fn failed(&self) -> bool {
        self.done
            && self.change == Change::Added
            && matches!(
                self.state,
                ExecutionState::Failed(_)
                    | ExecutionState::Pending(PendingSubstate::StartingFailed)
            )
    }
}

/// The verdict for one look at the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Some instance is not final yet.
    Waiting(Vec<Progress>),
    /// Every instance is final and none failed.
    Succeeded(Vec<Progress>),
    /// Every instance is final and at least one added instance failed.
    Failed(Vec<Progress>),
}

impl WaitOutcome {
    /// The progress of every instance, in the order of [`Expected::instances`].
    pub fn progress(&self) -> &[Progress] {
        match self {
            WaitOutcome::Waiting(p) | WaitOutcome::Succeeded(p) | WaitOutcome::Failed(p) => p,
        }
    }
}

/// Where the change stands, given the retained state.
pub fn outcome(expected: &Expected, view: &View) -> WaitOutcome {
    let progress: Vec<Progress> = expected
        .instances
        .iter()
        .map(|(id, change)| progress_of(expected.generation, id, *change, view))
        .collect();
    if progress.iter().any(|p| !p.done) {
        WaitOutcome::Waiting(progress)
    } else if progress.iter().any(Progress::failed) {
        WaitOutcome::Failed(progress)
    } else {
        WaitOutcome::Succeeded(progress)
    }
}

fn progress_of(generation: u64, id: &InstanceId, change: Change, view: &View) -> Progress {
    let make = |state: ExecutionState, info: &str, done: bool| Progress {
        id: id.clone(),
        change,
        state,
        additional_info: info.to_owned(),
        done,
    };
    if id.agent.is_empty() {
        let state = match change {
            Change::Added => ExecutionState::NotScheduled,
            Change::Deleted => ExecutionState::Removed,
        };
        return make(state, "", true);
    }
    if !view.agent_online(&id.agent) {
        let (state, info) = view.shown_state(id);
        let state = match (change, view.states.contains_key(&key(id))) {
            (Change::Deleted, false) => ExecutionState::Removed,
            _ => state,
        };
        return make(state, &info, true);
    }
    let retained = view.states.get(&key(id));
    match change {
        Change::Deleted => match retained {
            Some(s) if &s.instance_id == id && s.state != ExecutionState::Removed => {
                make(s.state, &s.additional_info, false)
            }
            _ => make(ExecutionState::Removed, "", true),
        },
        Change::Added => match retained {
            Some(s) if &s.instance_id == id => {
                let current = s.observed_generation >= generation
                    || view
                        .agents
                        .get(&id.agent)
                        .and_then(|a| a.observed_generation)
                        .is_some_and(|g| g >= generation);
                make(
                    s.state,
                    &s.additional_info,
                    current && s.state.is_final_for_added(),
                )
            }
            // Not reported yet, or the topic still holds the instance this one replaces.
            _ => make(ExecutionState::Pending(PendingSubstate::Initial), "", false),
        },
    }
}

fn key(id: &InstanceId) -> (String, String) {
    (id.agent.clone(), id.workload.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ank_schemas::{
        AgentStatus, FailedSubstate, Liveness, RunningSubstate, StoppingSubstate,
        WorkloadStatePayload,
    };

    fn id(name: &str, hash: &str, agent: &str) -> InstanceId {
        InstanceId {
            workload: name.into(),
            hash: hash.into(),
            agent: agent.into(),
        }
    }

    fn agent(state: Liveness, observed: Option<u64>) -> AgentStatus {
        AgentStatus {
            state,
            epoch: 1,
            version: String::new(),
            runtimes: vec![],
            tags: Default::default(),
            resources: None,
            observed_generation: observed,
            since: None,
        }
    }

    fn view(agent_state: Option<Liveness>, states: &[(InstanceId, ExecutionState, u64)]) -> View {
        let mut v = View::default();
        if let Some(s) = agent_state {
            v.agents.insert("a".into(), agent(s, None));
        }
        for (id, state, generation) in states {
            v.states.insert(
                key(id),
                WorkloadStatePayload {
                    instance_id: id.clone(),
                    state: *state,
                    additional_info: String::new(),
                    observed_generation: *generation,
                    restart_count: 0,
                    exit_code: None,
                    since: String::new(),
                },
            );
        }
        v
    }

    const RUNNING: ExecutionState = ExecutionState::Running(RunningSubstate::Ok);
    const EXEC_FAILED: ExecutionState = ExecutionState::Failed(FailedSubstate::ExecFailed);
    const STARTING: ExecutionState = ExecutionState::Pending(PendingSubstate::Starting);
    const STARTING_FAILED: ExecutionState =
        ExecutionState::Pending(PendingSubstate::StartingFailed);
    const STOPPING: ExecutionState = ExecutionState::Stopping(StoppingSubstate::RequestedAtRuntime);

    #[test]
    fn an_added_instance_is_done_only_in_a_final_state_of_this_generation() {
        let new = id("w", "bb", "a");
        let old = id("w", "aa", "a");
        let expected = Expected::new(5, std::slice::from_ref(&new), &[]);
        // (case, view, done, failed)
        let cases = [
            (
                "not reported yet",
                view(Some(Liveness::Online), &[]),
                false,
                false,
            ),
            (
                "topic holds the old instance",
                view(Some(Liveness::Online), &[(old.clone(), RUNNING, 5)]),
                false,
                false,
            ),
            (
                "starting",
                view(Some(Liveness::Online), &[(new.clone(), STARTING, 5)]),
                false,
                false,
            ),
            (
                "running, stale generation",
                view(Some(Liveness::Online), &[(new.clone(), RUNNING, 4)]),
                false,
                false,
            ),
            (
                "running",
                view(Some(Liveness::Online), &[(new.clone(), RUNNING, 5)]),
                true,
                false,
            ),
            (
                "running, later generation",
                view(Some(Liveness::Online), &[(new.clone(), RUNNING, 9)]),
                true,
                false,
            ),
            (
                "exec failed",
                view(Some(Liveness::Online), &[(new.clone(), EXEC_FAILED, 5)]),
                true,
                true,
            ),
            (
                "starting failed",
                view(Some(Liveness::Online), &[(new.clone(), STARTING_FAILED, 5)]),
                true,
                true,
            ),
            (
                "agent lost",
                view(Some(Liveness::Lost), &[(new.clone(), STARTING, 5)]),
                true,
                false,
            ),
            ("agent never reported", view(None, &[]), true, false),
        ];
        for (case, v, done, failed) in cases {
            let outcome = outcome(&expected, &v);
            assert_eq!(outcome.progress()[0].done, done, "{case}");
            let expected_verdict = match (done, failed) {
                (false, _) => matches!(outcome, WaitOutcome::Waiting(_)),
                (true, false) => matches!(outcome, WaitOutcome::Succeeded(_)),
                (true, true) => matches!(outcome, WaitOutcome::Failed(_)),
            };
            assert!(expected_verdict, "{case}: {outcome:?}");
        }
    }

    #[test]
    fn the_agents_observed_generation_also_makes_a_state_current() {
        let new = id("w", "bb", "a");
        let mut v = view(Some(Liveness::Online), &[(new.clone(), RUNNING, 0)]);
        let expected = Expected::new(5, std::slice::from_ref(&new), &[]);
        assert!(matches!(outcome(&expected, &v), WaitOutcome::Waiting(_)));
        v.agents
            .insert("a".into(), agent(Liveness::Online, Some(5)));
        assert!(matches!(outcome(&expected, &v), WaitOutcome::Succeeded(_)));
    }

    #[test]
    fn a_deleted_instance_is_done_once_its_topic_no_longer_holds_it() {
        let old = id("w", "aa", "a");
        let new = id("w", "bb", "a");
        let expected = Expected::new(5, &[], std::slice::from_ref(&old));
        let cases = [
            (
                "still running",
                view(Some(Liveness::Online), &[(old.clone(), RUNNING, 4)]),
                false,
            ),
            (
                "stopping",
                view(Some(Liveness::Online), &[(old.clone(), STOPPING, 5)]),
                false,
            ),
            ("cleared", view(Some(Liveness::Online), &[]), true),
            (
                "replaced by the update",
                view(Some(Liveness::Online), &[(new.clone(), STARTING, 5)]),
                true,
            ),
            (
                "removed",
                view(
                    Some(Liveness::Online),
                    &[(old.clone(), ExecutionState::Removed, 5)],
                ),
                true,
            ),
            (
                "agent offline",
                view(Some(Liveness::Offline), &[(old.clone(), RUNNING, 4)]),
                true,
            ),
        ];
        for (case, v, done) in cases {
            let outcome = outcome(&expected, &v);
            assert_eq!(outcome.progress()[0].done, done, "{case}");
            assert_eq!(matches!(outcome, WaitOutcome::Succeeded(_)), done, "{case}");
        }
    }

    #[test]
    fn unscheduled_instances_are_done_at_once() {
        let parked = id("p", "cc", "");
        let expected = Expected::new(
            1,
            std::slice::from_ref(&parked),
            std::slice::from_ref(&parked),
        );
        let outcome = outcome(&expected, &View::default());
        assert!(matches!(outcome, WaitOutcome::Succeeded(_)), "{outcome:?}");
        let states: Vec<_> = outcome.progress().iter().map(|p| p.state).collect();
        assert_eq!(
            states,
            [ExecutionState::Removed, ExecutionState::NotScheduled]
        );
    }

    #[test]
    fn one_failure_among_finished_instances_fails_the_change_but_waits_for_the_rest() {
        let a = id("a1", "aa", "a");
        let b = id("b1", "bb", "a");
        let expected = Expected::new(2, &[a.clone(), b.clone()], &[]);
        let mut v = view(
            Some(Liveness::Online),
            &[(a.clone(), EXEC_FAILED, 2), (b.clone(), STARTING, 2)],
        );
        assert!(matches!(outcome(&expected, &v), WaitOutcome::Waiting(_)));
        v = view(
            Some(Liveness::Online),
            &[(a, EXEC_FAILED, 2), (b, RUNNING, 2)],
        );
        assert!(matches!(outcome(&expected, &v), WaitOutcome::Failed(_)));
    }
}
