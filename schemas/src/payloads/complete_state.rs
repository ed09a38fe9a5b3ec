//! `CompleteState`: what `ank get state` prints, in the shapes of Ankaios §1.7. Built by readers
//! from the retained topics; never published as one message.

use std::collections::BTreeMap;

#[cfg(feature = "json-schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;
use crate::state::ExecutionState;

/// The desired state, every workload state and every connected agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CompleteState {
    /// The unrendered desired state.
    pub desired_state: Manifest,
    /// Agent (`""` for unscheduled) → workload name → instance hash → state.
    #[serde(default)]
    pub workload_states: BTreeMap<String, BTreeMap<String, BTreeMap<String, WorkloadStateEntry>>>,
    /// Connected agents by name.
    #[serde(default)]
    pub agents: BTreeMap<String, AgentEntry>,
}

/// One instance's state in the complete state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStateEntry {
    /// `state` and `subState`.
    #[serde(flatten)]
    pub state: ExecutionState,
    /// Free text from the runtime or the agent.
    #[serde(default)]
    pub additional_info: String,
}

/// A connected agent in the complete state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AgentEntry {
    /// The agent's load.
    #[serde(default)]
    pub status: AgentLoad,
    /// The agent's tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// An agent's load, as Ankaios shows it under `agents.<name>.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AgentLoad {
    /// CPU usage in percent.
    pub cpu_usage: u32,
    /// Free memory in bytes.
    pub free_memory: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ankaios_shape_parses() {
        let yaml = r#"
desiredState:
  apiVersion: v1
workloadStates:
  agent_A:
    nginx:
      cc74dd:
        state: Running
        subState: Ok
        additionalInfo: ''
agents:
  agent_A:
    status: {cpuUsage: 2, freeMemory: 7989682176}
    tags: {location: on-car}
"#;
        let c: CompleteState = crate::yaml::from_str(yaml, &Default::default()).unwrap();
        assert_eq!(
            c.workload_states["agent_A"]["nginx"]["cc74dd"]
                .state
                .to_string(),
            "Running(Ok)"
        );
        assert_eq!(c.agents["agent_A"].status.free_memory, 7989682176);
        let back: CompleteState =
            serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}
