//! The desired snapshot as the agent works with it: every workload read once, when the snapshot
//! arrives, into a [`Workload`] whose runtimeConfig is parsed and whose runtime requirements
//! are judged by the contract crate's `check_for_runtime` (issue 12). The planner and the
//! runtime dispatch only see these typed workloads, so nothing parses a runtimeConfig again on
//! every plan or before every operation, and a workload its runtime cannot start carries the
//! reason with it (reported as `Pending(StartingFailed)`, issue 16 point 2).

use std::collections::BTreeMap;
use std::sync::Arc;

use ank_schemas::{
    check_for_runtime, AgentSnapshot, DesiredWorkload, InstanceId, RuntimeProblem, RuntimeReady,
};

/// One agent's desired workloads, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredSet {
    /// The controller's generation of the snapshot.
    pub generation: u64,
    /// The workloads by name. Shared with the actions that carry them.
    pub workloads: BTreeMap<String, Arc<Workload>>,
}

impl DesiredSet {
    /// Reads every workload of `snapshot` once.
    pub fn new(snapshot: AgentSnapshot) -> Self {
        Self {
            generation: snapshot.generation,
            workloads: snapshot
                .workloads
                .into_iter()
                .map(|(name, desired)| (name, Arc::new(Workload::new(desired))))
                .collect(),
        }
    }
}

/// A desired workload and what its runtime makes of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// The workload as the snapshot has it.
    pub desired: DesiredWorkload,
    /// The parsed runtimeConfig and decoded files, or why the runtime cannot start it.
    pub ready: Result<RuntimeReady, RuntimeProblem>,
}

impl Workload {
    /// Judges `desired` against its runtime's requirements.
    pub fn new(desired: DesiredWorkload) -> Self {
        let ready = check_for_runtime(
            &desired.runtime,
            &desired.runtime_config,
            &desired.files,
            &desired.control_interface_access,
        );
        Self { desired, ready }
    }

    /// The instance to run.
    pub fn instance_id(&self) -> &InstanceId {
        &self.desired.instance_id
    }

    /// The `generalOptions` podman needs to reach its containers (none if it cannot start).
    pub fn general_options(&self) -> &[String] {
        self.ready
            .as_ref()
            .map_or(&[], RuntimeReady::general_options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ank_schemas::{ControlInterfaceAccess, RestartPolicy, RuntimeConfig, RuntimeKind};

    fn desired(runtime: RuntimeKind, config: &str) -> DesiredWorkload {
        DesiredWorkload {
            instance_id: InstanceId::compute("w", "agent_A", runtime.as_str(), config, &[]),
            runtime,
            runtime_config: config.into(),
            restart_policy: RestartPolicy::Never,
            dependencies: BTreeMap::new(),
            tags: BTreeMap::new(),
            files: Vec::new(),
            control_interface_access: ControlInterfaceAccess::default(),
            delete_conditions: BTreeMap::new(),
            expected_instances: BTreeMap::new(),
        }
    }

    #[test]
    fn a_snapshot_workload_is_parsed_once_into_its_runtime_config_or_its_problem() {
        let podman = Workload::new(desired(
            RuntimeKind::Podman,
            "image: x\ngeneralOptions: [--root, /r]",
        ));
        let Ok(ready) = &podman.ready else {
            panic!("{:?}", podman.ready)
        };
        assert!(matches!(ready.config, RuntimeConfig::Podman(_)));
        assert_eq!(podman.general_options(), ["--root", "/r"]);
        let containerd = Workload::new(desired(RuntimeKind::Other("containerd".into()), "x"));
        assert_eq!(
            containerd.ready,
            Err(RuntimeProblem::Unsupported(RuntimeKind::Other(
                "containerd".into()
            )))
        );
        assert!(containerd.general_options().is_empty());
    }
}
