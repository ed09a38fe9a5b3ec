//! The one rule every reader (controller, `ank`, a dashboard) uses to show an instance's state
//! from what is retained on the bus, so that `ank get workloads` and the controller's
//! `getState` can never disagree. docs/topics.md states the same rule for third-party readers.

use crate::payloads::Liveness;
use crate::state::{ExecutionState, PendingSubstate};

/// The state shown for one instance of a workload assigned to `agent`, given the agent's
/// retained liveness (`None`: no status retained) and the state the agent retained for this
/// very instance (`None`: none, or one about another instance), with its additional info.
///
/// - no agent (`""`) → `NotScheduled`;
/// - an agent whose status is retained but not `online` → `AgentDisconnected`;
/// - no status but a reported state → `AgentDisconnected` (the agent existed; its status is gone);
/// - no report yet → `Pending(Initial)`;
/// - otherwise what the agent reported.
pub fn shown_state(
    agent: &str,
    agent_liveness: Option<Liveness>,
    reported: Option<(ExecutionState, &str)>,
) -> (ExecutionState, String) {
    if agent.is_empty() {
        return (ExecutionState::NotScheduled, String::new());
    }
    match (agent_liveness, reported) {
        (Some(liveness), _) if liveness != Liveness::Online => {
            (ExecutionState::AgentDisconnected, String::new())
        }
        (None, Some(_)) => (ExecutionState::AgentDisconnected, String::new()),
        (_, None) => (
            ExecutionState::Pending(PendingSubstate::Initial),
            String::new(),
        ),
        (Some(_), Some((state, info))) => (state, info.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::RunningSubstate;

    #[test]
    fn every_combination_of_liveness_and_report_has_one_answer() {
        let running = ExecutionState::Running(RunningSubstate::Ok);
        let initial = ExecutionState::Pending(PendingSubstate::Initial);
        let gone = ExecutionState::AgentDisconnected;
        // (agent, liveness, reported, shown)
        let table = [
            ("", None, None, ExecutionState::NotScheduled),
            (
                "",
                Some(Liveness::Online),
                Some(running),
                ExecutionState::NotScheduled,
            ),
            ("a", None, None, initial),
            ("a", None, Some(running), gone),
            ("a", Some(Liveness::Online), None, initial),
            ("a", Some(Liveness::Online), Some(running), running),
            ("a", Some(Liveness::Offline), Some(running), gone),
            ("a", Some(Liveness::Lost), None, gone),
        ];
        for (agent, liveness, reported, shown) in table {
            let got = shown_state(agent, liveness, reported.map(|s| (s, "info")));
            assert_eq!(got.0, shown, "{agent:?} {liveness:?} {reported:?}");
        }
        assert_eq!(
            shown_state("a", Some(Liveness::Online), Some((running, "up"))).1,
            "up"
        );
    }
}
