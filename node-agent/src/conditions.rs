//! Which add and delete conditions (Ankaios §2.4) of a workload are unmet, judged only from the
//! states the agent believes: those that the expected instance's own agent published (issue 13).
//! Pure; the planner (`reconcile.rs`) turns unmet conditions into `Pending(WaitingToStart)` and
//! `Stopping(WaitingToStop)` with the names in additionalInfo.

use std::collections::BTreeMap;

use ank_schemas::{AddCondition, DeleteCondition, DesiredWorkload, InstanceId};

use crate::observed::Observed;

fn add_condition_name(condition: AddCondition) -> &'static str {
    match condition {
        AddCondition::Running => "ADD_COND_RUNNING",
        AddCondition::Succeeded => "ADD_COND_SUCCEEDED",
        AddCondition::Failed => "ADD_COND_FAILED",
    }
}

fn delete_condition_name(condition: DeleteCondition) -> &'static str {
    match condition {
        DeleteCondition::Running => "DEL_COND_RUNNING",
        DeleteCondition::NotPendingNorRunning => "DEL_COND_NOT_PENDING_NOR_RUNNING",
    }
}

/// The dependencies whose add condition the expected instance does not meet, as
/// `name (CONDITION)`. A dependency that is not in the desired state, or whose agent has not said
/// anything about the expected instance, is not met.
pub fn unmet_add_conditions(desired: &DesiredWorkload, observed: &Observed) -> Vec<String> {
    desired
        .dependencies
        .iter()
        .filter(|(name, condition)| {
            let state = desired
                .expected_instances
                .get(*name)
                .and_then(|expected| observed.answer_for(name, expected, true));
            !state.is_some_and(|state| condition.is_met_by(&state))
        })
        .map(|(name, condition)| format!("{name} ({})", add_condition_name(*condition)))
        .collect()
}

/// The dependents that keep a workload from being deleted: those whose agent reports a state
/// (of any of its instances: an old one still counts) that does not meet the delete condition.
/// A dependent not in the desired state, or without a state, meets it.
pub fn unmet_delete_conditions(
    conditions: &BTreeMap<String, DeleteCondition>,
    expected_instances: &BTreeMap<String, InstanceId>,
    observed: &Observed,
) -> Vec<String> {
    conditions
        .iter()
        .filter(|(name, condition)| {
            let state = expected_instances
                .get(*name)
                .and_then(|expected| observed.answer_for(name, expected, false));
            state.is_some_and(|state| !condition.is_met_by(&state))
        })
        .map(|(name, condition)| format!("{name} ({})", delete_condition_name(*condition)))
        .collect()
}
