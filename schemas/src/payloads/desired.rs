//! Desired-state payloads written by the controller: the whole state in manifest form on
//! `{p}/state/desired`, and each agent's complete, rendered workload set on
//! `{p}/agents/{agent}/desired`.

use std::collections::BTreeMap;

#[cfg(feature = "json-schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::{AddCondition, DeleteCondition};
use crate::instance_id::InstanceId;
use crate::manifest::{ControlInterfaceAccess, Manifest, RestartPolicy, WorkloadFile};
#[cfg(feature = "render")]
use crate::names::InvalidName;
#[cfg(feature = "render")]
use crate::render::RenderedWorkload;
use crate::runtime_kind::RuntimeKind;

/// `{p}/state/desired`: the unrendered desired state, for `ank get state` and dashboards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DesiredStatePayload {
    /// The controller's generation of this state.
    pub generation: u64,
    /// The state as the user wrote it (templates unrendered).
    pub desired_state: Manifest,
}

/// `{p}/agents/{agent}/desired`: everything the agent must run. A snapshot, not a delta: an
/// agent converges from this one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AgentSnapshot {
    /// The controller's generation this snapshot belongs to.
    pub generation: u64,
    /// The agent's workloads by name.
    #[serde(default)]
    pub workloads: BTreeMap<String, DesiredWorkload>,
}

/// One rendered workload as its agent receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DesiredWorkload {
    /// The instance to run.
    pub instance_id: InstanceId,
    /// The runtime; a name the agent does not run is kept, and reported by it as the workload's
    /// `Pending(StartingFailed)`. A name that is not a valid name fails the decode.
    pub runtime: RuntimeKind,
    /// The rendered runtimeConfig.
    pub runtime_config: String,
    /// The restart policy.
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// Add conditions on other workloads (by name, on any agent).
    #[serde(default)]
    pub dependencies: BTreeMap<String, AddCondition>,
    /// The workload's tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The rendered files.
    #[serde(default)]
    pub files: Vec<WorkloadFile>,
    /// The control-interface rules.
    #[serde(default)]
    pub control_interface_access: ControlInterfaceAccess,
    /// Dependent workload → the state it must be in before this workload may be deleted.
    #[serde(default)]
    pub delete_conditions: BTreeMap<String, DeleteCondition>,
    /// The instance the controller expects of every workload named in `dependencies` or
    /// `deleteConditions` that is in the desired state (its id names its agent). The agent
    /// judges a condition only from the state that this instance's agent publishes, so no other
    /// participant can satisfy or block it with a forged state (issue 13). A name missing here
    /// is not in the desired state: its add condition is unmet, its delete condition met.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expected_instances: BTreeMap<String, InstanceId>,
}

impl DesiredWorkload {
    /// The desired form of a rendered workload, with the delete conditions computed by the
    /// controller. Fails only for a runtime that is not a valid name, which validation refuses.
    #[cfg(feature = "render")]
    pub fn new(
        rendered: &RenderedWorkload,
        delete_conditions: BTreeMap<String, DeleteCondition>,
        expected_instances: BTreeMap<String, InstanceId>,
    ) -> Result<Self, InvalidName> {
        let spec = &rendered.spec;
        Ok(Self {
            instance_id: rendered.instance_id.clone(),
            runtime: RuntimeKind::parse(&spec.runtime)?,
            runtime_config: spec.runtime_config.clone(),
            restart_policy: spec.restart_policy,
            dependencies: spec.dependencies.clone(),
            tags: spec.tags.clone(),
            files: spec.files.clone(),
            control_interface_access: spec.control_interface_access.clone(),
            delete_conditions,
            expected_instances,
        })
    }
}
