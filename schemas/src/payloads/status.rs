//! Liveness payloads: `{p}/controller/status` and `{p}/agents/{agent}/status`.
//!
//! Each is a retained birth written by its owner and a retained will with the same `epoch`
//! registered with the broker; a will carries only `state` and `epoch`, so every other field
//! has a default.

use std::collections::BTreeMap;

#[cfg(feature = "json-schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whether a process is connected to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Liveness {
    /// Connected (the birth).
    Online,
    /// Shut down cleanly.
    Offline,
    /// The connection dropped (the will).
    Lost,
}

/// `{p}/controller/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ControllerStatus {
    /// Liveness.
    pub state: Liveness,
    /// Increases with every start, so a stale will cannot overwrite a newer birth's meaning.
    pub epoch: u64,
    /// The controller's version; empty in a will.
    #[serde(default)]
    pub version: String,
    /// When this status was written, RFC 3339 UTC, set by the writer.
    #[serde(default)]
    pub since: Option<String>,
}

/// `{p}/agents/{agent}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AgentStatus {
    /// Liveness.
    pub state: Liveness,
    /// Increases with every start of the agent.
    pub epoch: u64,
    /// The agent's version; empty in a will.
    #[serde(default)]
    pub version: String,
    /// The runtimes this agent runs, e.g. `["podman", "podman-kube"]`.
    #[serde(default)]
    pub runtimes: Vec<String>,
    /// The agent's tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The latest load report.
    #[serde(default)]
    pub resources: Option<Resources>,
    /// The last generation of its snapshot the agent has acted on.
    #[serde(default)]
    pub observed_generation: Option<u64>,
    /// When this status was written, RFC 3339 UTC.
    #[serde(default)]
    pub since: Option<String>,
}

/// An agent's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// CPU usage in percent of the node.
    pub cpu_usage: u32,
    /// Free memory in bytes.
    pub free_memory: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_will_with_only_state_and_epoch_parses() {
        let a: AgentStatus = serde_json::from_str(r#"{"state":"lost","epoch":3}"#).unwrap();
        assert_eq!((a.state, a.epoch), (Liveness::Lost, 3));
        assert!(a.version.is_empty() && a.runtimes.is_empty() && a.resources.is_none());
        let c: ControllerStatus = serde_json::from_str(r#"{"state":"lost","epoch":3}"#).unwrap();
        assert_eq!(c.state, Liveness::Lost);
    }

    #[test]
    fn fields_from_a_newer_version_are_ignored() {
        let a: AgentStatus =
            serde_json::from_str(r#"{"state":"online","epoch":1,"futureField":true}"#).unwrap();
        assert_eq!(a.state, Liveness::Online);
    }

    #[test]
    fn resources_are_camel_case() {
        let r = Resources {
            cpu_usage: 2,
            free_memory: 7989682176,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"cpuUsage":2,"freeMemory":7989682176}"#
        );
    }
}
