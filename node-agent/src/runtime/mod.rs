//! Runtime connectors: the agent's hands on podman. They run, restart, observe and remove
//! containers and report raw podman facts. They never decide what should run (that is the
//! planner's job) and never speak ankmq's state names (that is `state_map.rs`).
//!
//! Layout:
//! - `command.rs`: the only place that spawns a process (with deadlines, kill on drop).
//! - `podman_cli.rs`: which podman binary and environment this node uses.
//! - `labels.rs`: the `ankmq.*` labels that let a restarted agent find its containers.
//! - `raw_state.rs`: podman's container state words, and the "worst of a pod" rule.
//! - `ps.rs`: `podman ps` parsed into [`ContainerFacts`], grouped into [`ObservedInstance`]s.
//! - `events.rs`: a self-restarting watcher of podman's events, the fast path for state changes.
//! - `events_source.rs`: where those events come from: podman's file events log, or a
//!   `podman events` child when the log's path is not certain.
//! - `events_stream.rs`: either source as one stream of this agent's events.
//! - `events_tail.rs`: the inotify tail of that log (bounded lines, rotation, truncation).
//! - `events_log.rs`: what a line of the log is to this agent, and what a change of the file means.
//! - `exit_files.rs`: an inotify watch on conmon's exit files, the fastest signal of an exit.
//! - `start_check.rs`: what a `podman run -d` that just returned says, without a `podman ps`.
//! - `podman.rs`: the `podman` runtime (`podman run`, one container per workload).
//! - `podman_kube.rs`: the `podman-kube` runtime (`podman kube play`, pods from a manifest).
//!
//! # How a planner drives a connector
//!
//! The trait is shaped so a pure planner can turn "desired vs observed" into calls without
//! knowing podman:
//! 1. At start (and after every "resync needed" from the event watcher) the agent calls
//!    [`RuntimeConnector::list_instances`] and hands the [`ObservedInstance`]s to the planner.
//!    Each names its instance (from the `ankmq.instance` label), so the planner can adopt a
//!    running container whose instance id is still desired instead of recreating it.
//! 2. The planner's actions map onto [`RuntimeConnector::create`] (nothing exists),
//!    [`RuntimeConnector::restart`] (the same instance ended and its restart policy wants it
//!    again), and [`RuntimeConnector::delete`] (no longer desired, or replaced).
//! 3. State changes arrive through `events.rs`; [`RuntimeConnector::observe`] re-reads one
//!    instance on demand. Both give raw facts; `state_map.rs` maps them.
//! 4. [`RuntimeConnector::logs`] streams a workload's output lines.
//!
//! Each connector has its own spec type (`type Spec`), so a podman-kube manifest can never reach
//! `podman run`. The agent holds one value of each connector and dispatches on the runtime name;
//! methods return `impl Future + Send` (not `async fn`) so the futures can be spawned.
//! Operations on one instance address it with an [`InstanceRef`]: the instance id and the
//! `generalOptions` to pass to podman, which the planner knows from the desired spec or from
//! the `ankmq.general-options` label of an observed instance.

pub mod command;
pub mod container_event;
pub mod events;
pub mod events_log;
pub mod events_source;
pub mod events_stream;
pub mod events_tail;
pub mod exit_files;
pub mod kube_inject;
pub mod kube_manifest;
pub mod labels;
pub mod podman;
pub mod podman_cli;
pub mod podman_kube;
pub mod podman_logs;
pub mod ps;
pub mod raw_state;
pub mod shared_listing;
pub mod start_check;

use std::future::Future;

use ank_schemas::RuntimeKind;

pub use command::{CommandError, Line, LineStream, Source};
pub use events::{ContainerEvent, EventWatcher, WatchItem};
pub use kube_inject::KubeControlInterface;
pub use podman::{PodmanRunSpec, PodmanRuntime};
pub use podman_cli::PodmanCli;
pub use podman_kube::{KubeSpec, PodmanKubeRuntime};
pub use ps::ContainerFacts;
pub use raw_state::RawState;

/// What a successful create or restart produced, in podman's ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeId {
    /// The container id printed by `podman run` (`podman` runtime).
    Container(String),
    /// The pod ids printed by `podman kube play` (`podman-kube` runtime), in output order.
    Pods(Vec<String>),
}

/// Names one workload instance for an operation on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRef {
    /// The full instance id, as in the `ankmq.instance` label.
    pub instance: String,
    /// podman's `generalOptions` for this workload, passed before every subcommand.
    pub general_options: Vec<String>,
}

impl InstanceRef {
    /// An instance reached with podman's default options.
    pub fn new(instance: impl Into<String>) -> Self {
        Self {
            instance: instance.into(),
            general_options: Vec::new(),
        }
    }
}

/// One workload instance found in podman: every container labelled with its instance id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedInstance {
    /// The full instance id from the `ankmq.instance` label.
    pub instance: String,
    /// The owning agent from the `ankmq.agent` label.
    pub agent: String,
    /// The `generalOptions` recorded in the `ankmq.general-options` label (empty if none).
    pub general_options: Vec<String>,
    /// The containers, sorted by name. Infra containers of pods are not included.
    pub containers: Vec<ContainerFacts>,
}

impl ObservedInstance {
    /// The workload's state: the worst of its containers' (see [`RawState::worst`]).
    pub fn state(&self) -> RawState {
        RawState::worst(self.containers.iter().map(|c| &c.state))
    }

    /// How to address this instance in later operations.
    pub fn to_ref(&self) -> InstanceRef {
        InstanceRef {
            instance: self.instance.clone(),
            general_options: self.general_options.clone(),
        }
    }

    /// The pod ids of its containers, sorted and without duplicates (empty for `podman`).
    pub fn pods(&self) -> Vec<String> {
        let mut pods: Vec<String> = self
            .containers
            .iter()
            .filter_map(|c| c.pod.clone())
            .collect();
        pods.sort();
        pods.dedup();
        pods
    }
}

/// Which lines of a workload's log to stream (`podman logs` flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming new lines (`-f`) until the stream is dropped.
    pub follow: bool,
    /// Only lines since this time (`--since`: RFC 3339, Unix seconds or a duration like `10m`).
    pub since: Option<String>,
    /// Only lines until this time (`--until`, same forms as `since`).
    pub until: Option<String>,
    /// Only the last N lines of each container (`--tail`).
    pub tail: Option<u64>,
}

/// Why a runtime operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// podman could not be run or reported a failure; the source names the command and stderr.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// podman's output could not be understood (a format this code does not know).
    #[error("unexpected output from `{command}`: {reason}")]
    Parse {
        /// The podman command line whose output was read.
        command: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The spec cannot work with this runtime, whatever is retried (e.g. a manifest that is not
    /// YAML). The planner should report it instead of retrying.
    #[error("invalid spec for instance {instance}: {reason}")]
    InvalidSpec {
        /// The instance the spec was for.
        instance: String,
        /// What is wrong.
        reason: String,
    },
    /// A delete ran without error, yet containers of the instance are still there.
    #[error("containers of instance {instance} are still there after removing them")]
    NotRemoved {
        /// The instance that would not go away.
        instance: String,
    },
    /// No container carries this instance id.
    #[error("no container of instance {instance} exists")]
    NotFound {
        /// The instance looked for.
        instance: String,
    },
}

impl RuntimeError {
    /// Whether retrying the same call can succeed (everything but an invalid spec).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, RuntimeError::InvalidSpec { .. })
    }
}

/// A container runtime as the agent uses it. See the module documentation for the call flow.
pub trait RuntimeConnector: Send + Sync {
    /// What [`RuntimeConnector::create`] needs, built by the agent's `execute.rs`.
    type Spec: Send + Sync;

    /// The runtime it runs.
    fn kind(&self) -> RuntimeKind;

    /// Every instance this connector's agent owns, found by the `ankmq.agent` label with
    /// podman's default options, sorted by instance id.
    fn list_instances(
        &self,
    ) -> impl Future<Output = Result<Vec<ObservedInstance>, RuntimeError>> + Send;

    /// Starts a new instance and returns its podman ids.
    fn create(
        &self,
        spec: &Self::Spec,
    ) -> impl Future<Output = Result<RuntimeId, RuntimeError>> + Send;

    /// Runs an instance again after it ended: `podman start` of the same container for
    /// `podman`, `kube down` then `kube play` for `podman-kube`.
    fn restart(
        &self,
        spec: &Self::Spec,
    ) -> impl Future<Output = Result<RuntimeId, RuntimeError>> + Send;

    /// What the instance shows right after a [`RuntimeConnector::create`] of `spec` returned `id`,
    /// when the connector can tell without asking podman again (`start_check.rs`, issue 17);
    /// `None`: the caller observes it.
    fn started(
        &self,
        spec: &Self::Spec,
        id: &RuntimeId,
    ) -> impl Future<Output = Option<ObservedInstance>> + Send {
        let _ = (spec, id);
        std::future::ready(None)
    }

    /// Stops and removes every container of the instance. Removing an instance that does not
    /// exist succeeds, so a retried delete is harmless.
    fn delete(&self, target: &InstanceRef)
        -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// The instance's containers now, or `None` when none exists (the caller's "Lost").
    fn observe(
        &self,
        target: &InstanceRef,
    ) -> impl Future<Output = Result<Option<ObservedInstance>, RuntimeError>> + Send;

    /// Streams the instance's log lines, stdout and stderr merged. For several containers each
    /// line starts with the container name. Dropping the stream stops podman.
    fn logs(
        &self,
        target: &InstanceRef,
        options: &LogOptions,
    ) -> impl Future<Output = Result<LineStream, RuntimeError>> + Send;
}
