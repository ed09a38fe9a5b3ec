//! What the planner asks for: the [`Action`] values `reconcile::plan` returns and `execute.rs`
//! carries out. Plain data, apart from both sides, so the contract between deciding and acting
//! is read in one place (STYLE.md §2: a retry is a value, [`Action::RetryAt`]).

use std::sync::Arc;
use std::time::Instant;

use ank_schemas::InstanceId;

use crate::desired::Workload;
use crate::observed::{InstanceTarget, WorkloadReport};

/// One thing the agent should do. Actions of one workload are listed in the order they must run
/// (a report before the operation it announces).
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Publish this state on the workload's topic (`Removed` clears it).
    Report(WorkloadReport),
    /// Take over a running instance found in podman: no runtime call, start tracking it.
    Adopt {
        /// The workload's name.
        workload: String,
        /// The instance adopted.
        instance: InstanceId,
    },
    /// Create the desired instance.
    Create {
        /// The workload's name.
        workload: String,
        /// What to create.
        desired: Arc<Workload>,
    },
    /// Run the ended instance again: `podman start` of the same container (`podman`), down then
    /// play (`podman-kube`).
    Restart {
        /// The workload's name.
        workload: String,
        /// The instance to restart.
        desired: Arc<Workload>,
        /// For a restart-policy restart, the crash streak to record (it counts in
        /// `restartCount`); `None` for an adoption restart, which does not count.
        policy_restart: Option<u32>,
    },
    /// Delete `old`, then create `desired` (at most once: never both at the same time). `old`
    /// may be the same instance, to get a fresh container after a failure.
    Replace {
        /// The workload's name.
        workload: String,
        /// The instance to remove first.
        old: InstanceTarget,
        /// The instance to create after.
        desired: Arc<Workload>,
        /// As in [`Action::Restart`].
        policy_restart: Option<u32>,
    },
    /// Remove an instance.
    Delete {
        /// The workload's name (the instance text if it is not an instance id).
        workload: String,
        /// What to remove.
        target: InstanceTarget,
    },
    /// Plan again at this instant, even if nothing else happens (a retry or backoff is due).
    RetryAt(Instant),
}
