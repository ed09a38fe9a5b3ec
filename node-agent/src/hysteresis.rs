//! State hysteresis (Ankaios §2.3): while a workload is being removed, late runtime reports of
//! it running or ending must not overwrite the stopping state, or a reader would see a workload
//! that is going away flicker back to `Running`.
//!
//! Pure; `reconcile::plan` applies it to instances that are on their way out.

use ank_schemas::{ExecutionState, StoppingSubstate};

/// Whether `incoming` may replace `current` as the reported state. While `current` is
/// `Stopping(RequestedAtRuntime)` or `Stopping(WaitingToStop)`, `Running`, `Succeeded` and
/// `Failed(*)` are ignored; everything else replaces the current state.
pub fn accepts(current: &ExecutionState, incoming: &ExecutionState) -> bool {
    let holding = matches!(
        current,
        ExecutionState::Stopping(
            StoppingSubstate::RequestedAtRuntime | StoppingSubstate::WaitingToStop
        )
    );
    let suppressed = matches!(
        incoming,
        ExecutionState::Running(_) | ExecutionState::Succeeded(_) | ExecutionState::Failed(_)
    );
    !(holding && suppressed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_holding_stopping_states_suppress_running_and_ended_reports() {
        for current in ExecutionState::all() {
            for incoming in ExecutionState::all() {
                let c = current.to_string();
                let i = incoming.to_string();
                let holding = c == "Stopping(RequestedAtRuntime)" || c == "Stopping(WaitingToStop)";
                let suppressible =
                    i == "Running(Ok)" || i == "Succeeded(Ok)" || i.starts_with("Failed(");
                assert_eq!(
                    accepts(&current, &incoming),
                    !(holding && suppressible),
                    "{c} <- {i}"
                );
            }
        }
    }
}
