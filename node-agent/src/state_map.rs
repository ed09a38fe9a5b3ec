//! podman's facts → the bus's execution states (Ankaios §7.1), as one pure function.
//!
//! The runtime layer reports what podman says ([`RawState`]); this module alone decides which
//! `State(SubState)` and which `additionalInfo` text that means, so the mapping is tested with
//! plain values and captured podman output, without podman.

use ank_schemas::{
    ExecutionState, FailedSubstate, PendingSubstate, RunningSubstate, StoppingSubstate,
    SucceededSubstate,
};

use crate::runtime::RawState;

/// The additionalInfo of a state podman could not be asked for (Ankaios' text).
pub const PODMAN_ERROR_INFO: &str = "Error getting state from Podman.";

/// An execution state with the texts the state topic carries beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedState {
    /// `State(SubState)`.
    pub state: ExecutionState,
    /// The `additionalInfo` text, e.g. `Exit code: '3'`.
    pub info: String,
    /// The exit code, once the workload exited.
    pub exit_code: Option<i32>,
}

impl MappedState {
    fn new(state: ExecutionState, info: impl Into<String>) -> Self {
        Self {
            state,
            info: info.into(),
            exit_code: None,
        }
    }
}

/// Maps one workload's raw podman state (for a pod set: the worst of its containers, see
/// [`RawState::worst`]) to its execution state.
pub fn map(raw: &RawState) -> MappedState {
    match raw {
        // Ankaios puts podman's word (`created`, `configured`, ...) into additionalInfo.
        RawState::Created(word) => {
            MappedState::new(ExecutionState::Pending(PendingSubstate::Starting), word)
        }
        RawState::Running => MappedState::new(ExecutionState::Running(RunningSubstate::Ok), ""),
        RawState::Exited { code: 0 } => MappedState {
            exit_code: Some(0),
            ..MappedState::new(ExecutionState::Succeeded(SucceededSubstate::Ok), "")
        },
        RawState::Exited { code } => MappedState {
            exit_code: Some(*code),
            ..MappedState::new(
                ExecutionState::Failed(FailedSubstate::ExecFailed),
                format!("Exit code: '{code}'"),
            )
        },
        RawState::Stopping(word) => {
            MappedState::new(ExecutionState::Stopping(StoppingSubstate::Stopping), word)
        }
        RawState::Unknown(word) => MappedState::new(
            ExecutionState::Failed(FailedSubstate::Unknown),
            format!("Unmapped podman state '{word}'"),
        ),
        RawState::Lost => MappedState::new(
            ExecutionState::Failed(FailedSubstate::Lost),
            "No container of this instance exists any more",
        ),
    }
}

/// The state of a workload whose state podman failed to report.
pub fn podman_error() -> MappedState {
    MappedState::new(
        ExecutionState::Failed(FailedSubstate::Unknown),
        PODMAN_ERROR_INFO,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_raw_state_maps_per_the_ankaios_table() {
        let table = [
            (
                RawState::Created("created".into()),
                "Pending(Starting)",
                "created",
                None,
            ),
            (
                RawState::Created("initialized".into()),
                "Pending(Starting)",
                "initialized",
                None,
            ),
            (RawState::Running, "Running(Ok)", "", None),
            (RawState::Exited { code: 0 }, "Succeeded(Ok)", "", Some(0)),
            (
                RawState::Exited { code: 3 },
                "Failed(ExecFailed)",
                "Exit code: '3'",
                Some(3),
            ),
            (
                RawState::Exited { code: 137 },
                "Failed(ExecFailed)",
                "Exit code: '137'",
                Some(137),
            ),
            (
                RawState::Stopping("stopped".into()),
                "Stopping(Stopping)",
                "stopped",
                None,
            ),
            (
                RawState::Stopping("removing".into()),
                "Stopping(Stopping)",
                "removing",
                None,
            ),
            (
                RawState::Unknown("paused".into()),
                "Failed(Unknown)",
                "Unmapped podman state 'paused'",
                None,
            ),
            (
                RawState::Lost,
                "Failed(Lost)",
                "No container of this instance exists any more",
                None,
            ),
        ];
        for (raw, state, info, exit_code) in table {
            let mapped = map(&raw);
            assert_eq!(mapped.state.to_string(), state, "{raw:?}");
            assert_eq!(mapped.info, info, "{raw:?}");
            assert_eq!(mapped.exit_code, exit_code, "{raw:?}");
        }
    }

    #[test]
    fn captured_podman_ps_output_maps_to_the_expected_states() {
        let json = include_str!("../tests/fixtures/ps_podman.json");
        let facts = crate::runtime::ps::parse(json).expect("fixture parses");
        let state_of = |name: &str| {
            let c = facts
                .iter()
                .find(|c| c.name() == name)
                .expect("fixture has it");
            map(&c.state).state.to_string()
        };
        assert_eq!(state_of("fixture-run"), "Running(Ok)");
        assert_eq!(state_of("fixture-exit"), "Failed(ExecFailed)");
        assert_eq!(state_of("fixture-created"), "Pending(Starting)");
    }

    #[test]
    fn a_podman_error_is_failed_unknown_with_the_ankaios_text() {
        let mapped = podman_error();
        assert_eq!(mapped.state.to_string(), "Failed(Unknown)");
        assert_eq!(mapped.info, "Error getting state from Podman.");
    }
}
