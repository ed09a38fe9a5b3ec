//! Inter-workload dependency conditions and when a workload's state meets them (Ankaios §2.4).
//!
//! Add conditions are what users write under `dependencies`; delete conditions are implicit and
//! computed by the controller for each dependency a workload waits on. Both are pure predicates
//! over [`ExecutionState`]; looking the states up (by name, across agents) is the agent's job.

#[cfg(feature = "json-schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::state::{ExecutionState, FailedSubstate, PendingSubstate};

/// The state a dependency must reach before the dependent workload may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
pub enum AddCondition {
    /// The dependency is `Running(Ok)`.
    #[serde(rename = "ADD_COND_RUNNING")]
    Running,
    /// The dependency is `Succeeded(Ok)`.
    #[serde(rename = "ADD_COND_SUCCEEDED")]
    Succeeded,
    /// The dependency is `Failed(ExecFailed)` (not `Lost`, not `Unknown`, not `StartingFailed`).
    #[serde(rename = "ADD_COND_FAILED")]
    Failed,
}

impl AddCondition {
    /// The wire names, for error hints.
    pub const NAMES: [&'static str; 3] =
        ["ADD_COND_RUNNING", "ADD_COND_SUCCEEDED", "ADD_COND_FAILED"];

    /// Whether one instance's state meets the condition. A dependency's condition is met when
    /// *any* of its instances meets it; no known state means not met.
    pub fn is_met_by(self, state: &ExecutionState) -> bool {
        match self {
            AddCondition::Running => matches!(state, ExecutionState::Running(_)),
            AddCondition::Succeeded => matches!(state, ExecutionState::Succeeded(_)),
            AddCondition::Failed => {
                matches!(state, ExecutionState::Failed(FailedSubstate::ExecFailed))
            }
        }
    }

    /// The delete condition this dependency implies on the dependency itself: a workload that
    /// needs its dependency *running* keeps that dependency from being deleted while it is pending
    /// or running. Succeeded and failed dependencies imply none.
    pub fn implied_delete_condition(self) -> Option<DeleteCondition> {
        match self {
            AddCondition::Running => Some(DeleteCondition::NotPendingNorRunning),
            AddCondition::Succeeded | AddCondition::Failed => None,
        }
    }
}

/// The state a dependent workload must be in before its dependency may be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
pub enum DeleteCondition {
    /// The dependent is `Running`.
    #[serde(rename = "DEL_COND_RUNNING")]
    Running,
    /// The dependent is neither `Pending(*)` nor `Running`.
    #[serde(rename = "DEL_COND_NOT_PENDING_NOR_RUNNING")]
    NotPendingNorRunning,
}

impl DeleteCondition {
    /// Whether one instance of the dependent meets the condition. *All* instances must; an absent
    /// dependent meets it. `Pending(WaitingToStart)` meets any delete condition, which avoids a
    /// deadlock between a waiting dependent and its dependency being replaced.
    pub fn is_met_by(self, state: &ExecutionState) -> bool {
        if *state == ExecutionState::Pending(PendingSubstate::WaitingToStart) {
            return true;
        }
        match self {
            DeleteCondition::Running => matches!(state, ExecutionState::Running(_)),
            DeleteCondition::NotPendingNorRunning => !matches!(
                state,
                ExecutionState::Pending(_) | ExecutionState::Running(_)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_conditions_are_met_exactly_by_the_states_of_the_table() {
        for state in ExecutionState::all() {
            let s = state.to_string();
            assert_eq!(
                AddCondition::Running.is_met_by(&state),
                s == "Running(Ok)",
                "{s}"
            );
            assert_eq!(
                AddCondition::Succeeded.is_met_by(&state),
                s == "Succeeded(Ok)",
                "{s}"
            );
            assert_eq!(
                AddCondition::Failed.is_met_by(&state),
                s == "Failed(ExecFailed)",
                "{s}"
            );
        }
    }

    #[test]
    fn delete_conditions_follow_the_table_and_waiting_to_start_meets_both() {
        for state in ExecutionState::all() {
            let s = state.to_string();
            let waiting = s == "Pending(WaitingToStart)";
            let running = s == "Running(Ok)";
            let pending = s.starts_with("Pending(");
            assert_eq!(
                DeleteCondition::Running.is_met_by(&state),
                running || waiting,
                "{s}"
            );
            assert_eq!(
                DeleteCondition::NotPendingNorRunning.is_met_by(&state),
                waiting || !(pending || running),
                "{s}"
            );
        }
    }

    #[test]
    fn only_a_running_dependency_implies_a_delete_condition() {
        assert_eq!(
            AddCondition::Running.implied_delete_condition(),
            Some(DeleteCondition::NotPendingNorRunning)
        );
        assert_eq!(AddCondition::Succeeded.implied_delete_condition(), None);
        assert_eq!(AddCondition::Failed.implied_delete_condition(), None);
    }

    #[test]
    fn conditions_use_the_ankaios_wire_names() {
        assert_eq!(
            serde_json::to_string(&AddCondition::Succeeded).unwrap(),
            "\"ADD_COND_SUCCEEDED\""
        );
        assert_eq!(
            serde_json::to_string(&DeleteCondition::NotPendingNorRunning).unwrap(),
            "\"DEL_COND_NOT_PENDING_NOR_RUNNING\""
        );
    }
}
