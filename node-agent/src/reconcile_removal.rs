//! The planner's rules for instances on their way out: an old instance of a desired workload
//! (replaced, at most once) and every instance of a workload no longer desired, with their
//! delete conditions, the backoff of a failed delete, and the final `Removed` that clears the
//! workload's topic. A child of `reconcile.rs` like `reconcile_existing.rs`, split out so each
//! file holds one part of the rules; still pure.

use std::sync::Arc;

use ank_schemas::ExecutionState;

use super::{
    retry_deadline, unmet_delete_conditions, Action, Planner, Said, DELETE_FAILED, REQUESTED,
    WAITING_TO_STOP,
};
use crate::book::WorkloadBook;
use crate::desired::Workload;
use crate::observed::RuntimeInstance;

impl Planner<'_> {
    /// Deletes `old` (then creates `then`, if given), unless a failed delete is still backing
    /// off.
    pub(super) fn remove(
        &mut self,
        name: &str,
        old: &RuntimeInstance,
        book: Option<&WorkloadBook>,
        then: Option<&Arc<Workload>>,
    ) {
        let failure = book
            .filter(|b| Some(&b.instance) == old.id.as_ref())
            .and_then(|b| b.delete_failure.as_ref());
        if let Some(failure) = failure {
            let deadline = retry_deadline(failure);
            if self.now < deadline {
                let info = format!("Retry {}: {}", failure.attempt, failure.error);
                self.report_leaving(name, old, Said::new(DELETE_FAILED, info));
                self.wake_at(deadline);
                return;
            }
        }
        self.report_leaving(name, old, Said::new(REQUESTED, ""));
        self.actions.push(match then {
            Some(desired) => Action::Replace {
                workload: name.to_owned(),
                old: old.target(),
                desired: Arc::clone(desired),
                policy_restart: None,
            },
            None => Action::Delete {
                workload: name.to_owned(),
                target: old.target(),
            },
        });
    }

    /// A workload no longer desired: its instances go once their delete conditions hold, then
    /// its topic is cleared.
    pub(super) fn removed_workload(
        &mut self,
        name: &str,
        book: Option<&WorkloadBook>,
        instances: &[&RuntimeInstance],
    ) {
        if let Some(instance) = instances.first() {
            let managed = book.filter(|b| Some(&b.instance) == instance.id.as_ref());
            if let Some(managed) = managed {
                let blocking = unmet_delete_conditions(
                    &managed.delete_conditions,
                    &managed.expected_instances,
                    self.observed,
                );
                if !blocking.is_empty() {
                    let info = format!("Waiting for dependents: {}", blocking.join(", "));
                    self.report_leaving(name, instance, Said::new(WAITING_TO_STOP, info));
                    return;
                }
            }
            // Found without a book: an orphan of an earlier run, removed directly (§4.2).
            self.remove(name, instance, book, None);
            return;
        }
        // Nothing left in podman: clear the topic if anything was ever said on it.
        let own_echo = self
            .observed
            .peer_states
            .get(name)
            .and_then(|by_agent| by_agent.get(&self.observed.agent));
        let instance = book
            .map(|b| b.instance.clone())
            .or_else(|| self.observed.reported.get(name).map(|r| r.instance.clone()))
            .or_else(|| own_echo.map(|p| p.instance.clone()));
        if let Some(instance) = instance {
            self.report(
                name,
                &instance,
                Said::new(ExecutionState::Removed, ""),
                false,
            );
        }
    }
}
