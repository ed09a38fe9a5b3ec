//! `{p}/agents/{agent}/workloads/{wl}/state`: one workload's execution state, written (retained)
//! by the agent that runs it.
//!
//! An empty retained payload on this topic means the workload was removed: it clears the
//! retained message, so `Removed` itself never needs to be stored.

#[cfg(feature = "json-schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::instance_id::InstanceId;
use crate::state::ExecutionState;

/// The state of one workload instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatePayload {
    /// The instance this state is about.
    pub instance_id: InstanceId,
    /// `state` and `subState`.
    #[serde(flatten)]
    pub state: ExecutionState,
    /// Free text from the runtime or the agent, e.g. `Exit code: '1'`.
    #[serde(default)]
    pub additional_info: String,
    /// The snapshot generation the agent had acted on when it wrote this.
    #[serde(default)]
    pub observed_generation: u64,
    /// How often the restart policy restarted this instance.
    #[serde(default)]
    pub restart_count: u32,
    /// The exit code, once the container exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Since when the instance is in this state, RFC 3339 UTC.
    #[serde(default)]
    pub since: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::FailedSubstate;

    #[test]
    fn the_state_is_flattened_into_the_payload() {
        let id = InstanceId::compute("w", "a", "podman", "image: x", &[]);
        let p = WorkloadStatePayload {
            instance_id: id.clone(),
            state: ExecutionState::Failed(FailedSubstate::ExecFailed),
            additional_info: "Exit code: '1'".into(),
            observed_generation: 4,
            restart_count: 0,
            exit_code: Some(1),
            since: "2025-01-01T00:00:00Z".into(),
        };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["state"], "Failed");
        assert_eq!(json["subState"], "ExecFailed");
        assert_eq!(json["instanceId"], id.to_string());
        assert_eq!(
            serde_json::from_value::<WorkloadStatePayload>(json).unwrap(),
            p
        );
    }
}
