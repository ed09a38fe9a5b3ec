//! The agent's decision: desired snapshot + observed state → actions. Pure and idempotent, like
//! a kube-runtime reconciler: `plan` sees state, never the event that triggered it, so calling it
//! twice with the same inputs gives the same actions, and a retry is a value
//! ([`Action::RetryAt`]). `execute.rs` carries the actions out and records their outcomes in
//! [`Observed`]; nothing here touches podman, the bus or a clock.
//!
//! The rules, per workload name (docs/agent.md explains them at length):
//! - An operation in flight leaves the workload alone; later triggers coalesce into the next plan.
//! - Old instances (same name, another instance id) go first, at most once (Ankaios §4.1): a
//!   managed one waits for its delete conditions (`Stopping(WaitingToStop)`), a found one (no
//!   book: it predates this agent run) is replaced ignoring them (§4.2). If the new instance may
//!   start, delete and create are one [`Action::Replace`]; otherwise only the delete runs and the
//!   create waits in `Pending(WaitingToStart)`.
//! - The desired instance found in podman without a book (it predates this agent run) is adopted
//!   when it is running or has ended (succeeded, or failed with an exit code): the agent restart
//!   is invisible, and the restart policy then applies as if the agent had watched it end.
//!   Anything else (unknown, created, stopping, a kube set half gone) is replaced. This differs
//!   on purpose from Ankaios §4.2, which re-runs a succeeded container and recreates a failed
//!   one even under `NEVER`, so an agent restart would re-run finished one-shot jobs.
//!   A managed instance is reported and restarted per its restart policy (§3.1), the first
//!   restart immediately, repeated crashes with a backoff (`backoff.rs`).
//! - The desired instance absent from podman is `Failed(Lost)` if the agent had it, retried
//!   if its create failed (§3.2), otherwise created once its add conditions hold (§2.4).
//! - Instances no longer desired are deleted, managed ones after their delete conditions hold;
//!   once gone, the workload's topic is cleared (`Removed`).
//!
//! Tags, restartPolicy and dependencies are not part of the instance id, so changing them alone
//! never replaces a container: the planner compares instance ids, never whole workloads.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use ank_schemas::{
    ExecutionState, FailedSubstate, InstanceId, PendingSubstate, RuntimeProblem, StoppingSubstate,
};

pub use crate::action::Action;
use crate::backoff;
pub use crate::conditions::{unmet_add_conditions, unmet_delete_conditions};
use crate::desired::{DesiredSet, Workload};
use crate::hysteresis;
use crate::observed::{Failure, Observed, RuntimeInstance, WorkloadBook, WorkloadReport};
use crate::state_map;

/// The additionalInfo of a create the agent just triggered (Ankaios' text).
pub const TRIGGERED_INFO: &str = "Triggered at runtime.";

/// Decides what to do now. See the module documentation for the rules.
pub fn plan(desired: &DesiredSet, observed: &Observed, now: Instant) -> Vec<Action> {
    let mut planner = Planner {
        desired,
        observed,
        now,
        actions: Vec::new(),
        retry_at: None,
    };
    if let Some(error) = &observed.listing_error {
        // Blind: creating could duplicate a container and deleting could hit the wrong one.
        // Say so on every desired workload (Ankaios: "Error getting state from Podman.") rather
        // than leave `ank apply` waiting on silence.
        let info = format!("Error getting state from the runtime: {error}");
        for (name, workload) in &desired.workloads {
            planner.report(
                name,
                workload.instance_id(),
                Said::new(FAILED_UNKNOWN, info.clone()),
                true,
            );
        }
        return planner.actions;
    }
    for name in workload_names(desired, observed) {
        planner.workload(&name);
    }
    let mut actions = planner.actions;
    if let Some(at) = planner.retry_at {
        actions.push(Action::RetryAt(at));
    }
    actions
}

/// Every workload name the planner has to look at, sorted.
fn workload_names(desired: &DesiredSet, observed: &Observed) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = desired.workloads.keys().cloned().collect();
    names.extend(
        observed
            .instances
            .values()
            .map(RuntimeInstance::workload_key),
    );
    names.extend(observed.books.keys().cloned());
    names.extend(observed.reported.keys().cloned());
    names.extend(
        observed
            .peer_states
            .iter()
            .filter(|(_, by_agent)| by_agent.contains_key(&observed.agent))
            .map(|(name, _)| name.clone()),
    );
    names
}

/// Why a desired workload cannot be started whatever is retried, if it cannot: what its
/// runtime said of it when the snapshot arrived (`desired.rs`), or a runtime this agent does not
/// run. Ankaios reports these as `Pending(StartingFailed)`; so do we.
pub fn start_problem(workload: &Workload, observed: &Observed) -> Option<String> {
    let runtime = &workload.desired.runtime;
    match &workload.ready {
        Err(problem @ RuntimeProblem::Unsupported(_)) => Some(problem.to_string()),
        _ if !observed.runtimes.contains(runtime) => Some(format!(
            "The runtime '{runtime}' is not enabled on agent '{}'",
            observed.agent
        )),
        Err(problem) => Some(problem.to_string()),
        Ok(_) => None,
    }
}

/// When a failed attempt may be retried.
fn retry_deadline(failure: &Failure) -> Instant {
    let retry = failure.attempt.saturating_sub(1);
    failure.failed_at + backoff::create_retry_delay(retry, failure.jitter)
}

struct Planner<'a> {
    desired: &'a DesiredSet,
    observed: &'a Observed,
    now: Instant,
    actions: Vec<Action>,
    retry_at: Option<Instant>,
}

/// The parts of a report besides the workload, instance and generation.
struct Said {
    state: ExecutionState,
    info: String,
    restart_count: u32,
    exit_code: Option<i32>,
}

impl Said {
    fn new(state: ExecutionState, info: impl Into<String>) -> Self {
        Self {
            state,
            info: info.into(),
            restart_count: 0,
            exit_code: None,
        }
    }

    fn restarts(mut self, count: u32) -> Self {
        self.restart_count = count;
        self
    }
}

const WAITING_TO_START: ExecutionState = ExecutionState::Pending(PendingSubstate::WaitingToStart);
const STARTING: ExecutionState = ExecutionState::Pending(PendingSubstate::Starting);
const STARTING_FAILED: ExecutionState = ExecutionState::Pending(PendingSubstate::StartingFailed);
const WAITING_TO_STOP: ExecutionState = ExecutionState::Stopping(StoppingSubstate::WaitingToStop);
const REQUESTED: ExecutionState = ExecutionState::Stopping(StoppingSubstate::RequestedAtRuntime);
const FAILED_UNKNOWN: ExecutionState = ExecutionState::Failed(FailedSubstate::Unknown);
const DELETE_FAILED: ExecutionState = ExecutionState::Stopping(StoppingSubstate::DeleteFailed);

impl Planner<'_> {
    fn workload(&mut self, name: &str) {
        let book = self.observed.books.get(name);
        if book.is_some_and(|b| b.in_flight.is_some()) {
            return;
        }
        let instances: Vec<&RuntimeInstance> = self.observed.instances_of(name).collect();
        match self.desired.workloads.get(name) {
            Some(workload) => self.desired_workload(name, workload, book, &instances),
            None => self.removed_workload(name, book, &instances),
        }
    }

    fn wake_at(&mut self, at: Instant) {
        self.retry_at = Some(self.retry_at.map_or(at, |t| t.min(at)));
    }

    /// Reports `said` unless it is what was last reported.
    fn report(&mut self, name: &str, instance: &InstanceId, said: Said, desired_instance: bool) {
        let previous = self.observed.reported.get(name);
        if let Some(previous) = previous {
            let same_instance = previous.instance == *instance;
            if same_instance
                && !desired_instance
                && !hysteresis::accepts(&previous.state, &said.state)
            {
                return;
            }
            if said.state == ExecutionState::Removed && previous.state == ExecutionState::Removed {
                return;
            }
        }
        let report = WorkloadReport {
            workload: name.to_owned(),
            instance: instance.clone(),
            state: said.state,
            info: said.info,
            restart_count: said.restart_count,
            exit_code: said.exit_code,
            observed_generation: self.desired.generation,
        };
        if previous != Some(&report) {
            self.actions.push(Action::Report(report));
        }
    }

    /// Reports an instance on its way out (if it has an id).
    fn report_leaving(&mut self, name: &str, instance: &RuntimeInstance, said: Said) {
        if let Some(id) = &instance.id {
            self.report(name, id, said, false);
        }
    }

    fn desired_workload(
        &mut self,
        name: &str,
        workload: &Arc<Workload>,
        book: Option<&WorkloadBook>,
        instances: &[&RuntimeInstance],
    ) {
        let desired = &workload.desired;
        let id = &desired.instance_id;
        let id_text = id.to_string();
        let current = instances.iter().find(|i| i.instance == id_text).copied();
        let my_book = book.filter(|b| b.instance == *id);
        let problem = start_problem(workload, self.observed).or_else(|| {
            my_book
                .and_then(|b| b.starting_failed.as_ref())
                .map(|e| e.to_string())
        });
        let unmet = unmet_add_conditions(desired, self.observed);

        // 1. Old instances first: at most once.
        if let Some(old) = instances.iter().find(|i| i.instance != id_text) {
            let managed_old = book.filter(|b| Some(&b.instance) == old.id.as_ref());
            if managed_old.is_some() {
                let blocking = unmet_delete_conditions(
                    &desired.delete_conditions,
                    &desired.expected_instances,
                    self.observed,
                );
                if !blocking.is_empty() {
                    let info = format!("Waiting for dependents: {}", blocking.join(", "));
                    self.report_leaving(name, old, Said::new(WAITING_TO_STOP, info));
                    return;
                }
            }
            let create_now = current.is_none() && problem.is_none() && unmet.is_empty();
            self.remove(name, old, book, create_now.then_some(workload));
            return;
        }

        // 2. A workload that cannot start.
        if let Some(problem) = problem {
            if current.is_none() {
                self.report(name, id, Said::new(STARTING_FAILED, problem), true);
                return;
            }
        }

        // 3. The desired instance exists.
        if let Some(current) = current {
            match my_book {
                None => self.adopt(name, workload, current, &unmet),
                Some(book) => self.managed(name, workload, current, book),
            }
            return;
        }

        // 4. The desired instance does not exist.
        if let Some(book) = my_book {
            if book.created {
                let lost = state_map::map(&crate::runtime::RawState::Lost);
                let said = Said::new(lost.state, lost.info).restarts(book.restart_count);
                self.report(name, id, said, true);
                return;
            }
            if let Some(failure) = &book.create_failure {
                let info = format!("Retry {}: {}", failure.attempt, failure.error);
                self.report(name, id, Said::new(STARTING, info), true);
                let deadline = retry_deadline(failure);
                if self.now >= deadline {
                    self.actions.push(Action::Create {
                        workload: name.to_owned(),
                        desired: Arc::clone(workload),
                    });
                } else {
                    self.wake_at(deadline);
                }
                return;
            }
        }
        if unmet.is_empty() {
            self.report(name, id, Said::new(STARTING, TRIGGERED_INFO), true);
            self.actions.push(Action::Create {
                workload: name.to_owned(),
                desired: Arc::clone(workload),
            });
        } else {
            let info = format!("Waiting for dependencies: {}", unmet.join(", "));
            self.report(name, id, Said::new(WAITING_TO_START, info), true);
        }
    }
}

#[path = "reconcile_existing.rs"]
mod existing;
#[path = "reconcile_removal.rs"]
mod removal;

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
