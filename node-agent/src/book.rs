//! The agent's memory of one workload between plans (its "book"): whether it created the
//! instance, its restarts, failed creates and deletes waiting for a retry, the operation in
//! flight, and the delete conditions of a workload that is leaving. Plain data with small
//! transitions (`on_created`, `on_create_failed`, ...); `execute.rs` calls them when an operation
//! ends and `reconcile.rs` reads them. Instants and jitter are passed in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use ank_schemas::{DeleteCondition, InstanceId};

use crate::dispatch::OpError;

/// A runtime operation the agent started and has not finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Creating a new instance.
    Create,
    /// Running an ended instance again.
    Restart,
    /// Removing an old instance, then creating the new one.
    Replace,
    /// Removing an instance.
    Delete,
}

/// A create or delete that failed and will be retried.
#[derive(Debug, Clone)]
pub struct Failure {
    /// How many attempts failed in a row (1 after the first failure).
    pub attempt: u32,
    /// When the last one failed.
    pub failed_at: Instant,
    /// The pre-drawn jitter in `[0, 1]` for the next delay (see `backoff::create_retry_delay`,
    /// which both retries use).
    pub jitter: f64,
    /// The error of the last failure, its kind kept for the additionalInfo.
    pub error: Arc<OpError>,
}

/// What the agent remembers about one workload between plans. Created when the agent first acts
/// on (or adopts) an instance; an instance found in podman without a book was found, not
/// managed, which is what the adoption table (Ankaios §4.2) keys on.
#[derive(Debug, Clone)]
pub struct WorkloadBook {
    /// The instance these facts are about. A desired instance with another id starts afresh,
    /// which is how an update cancels retries and resets the restart count.
    pub instance: InstanceId,
    /// Whether the instance exists in the runtime as far as the agent did it: created, adopted
    /// or restarted, and not deleted since. Absent from podman while `created` means Lost.
    pub created: bool,
    /// How often the restart policy restarted it.
    pub restart_count: u32,
    /// Restarts in a row without a long run (see `backoff::effective_streak`).
    pub crash_streak: u32,
    /// When the restart policy last restarted it.
    pub last_restart_at: Option<Instant>,
    /// The failed create to retry, if any.
    pub create_failure: Option<Failure>,
    /// The failed delete to retry, if any (`Stopping(DeleteFailed)` meanwhile).
    pub delete_failure: Option<Failure>,
    /// A failure retrying cannot fix (`Pending(StartingFailed)`), with its reason.
    pub starting_failed: Option<Arc<OpError>>,
    /// The operation running now; the planner leaves the workload alone until it ends.
    pub in_flight: Option<Operation>,
    /// The workload's delete conditions from the last snapshot that had it, kept so a workload
    /// removed from the snapshot still waits for its dependents.
    pub delete_conditions: BTreeMap<String, DeleteCondition>,
    /// The instances the controller expected of those dependents, from the same snapshot.
    pub expected_instances: BTreeMap<String, InstanceId>,
}

impl WorkloadBook {
    /// A fresh book for `instance`.
    pub fn new(instance: InstanceId) -> Self {
        Self {
            instance,
            created: false,
            restart_count: 0,
            crash_streak: 0,
            last_restart_at: None,
            create_failure: None,
            delete_failure: None,
            starting_failed: None,
            in_flight: None,
            delete_conditions: BTreeMap::new(),
            expected_instances: BTreeMap::new(),
        }
    }

    /// The instance now exists (created, adopted or a replacement created).
    pub fn on_created(&mut self) {
        self.created = true;
        self.create_failure = None;
        self.starting_failed = None;
    }

    /// A create failed. A retryable failure schedules a retry with the pre-drawn `jitter`; any
    /// other makes the workload `Pending(StartingFailed)` for good.
    pub fn on_create_failed(&mut self, error: Arc<OpError>, now: Instant, jitter: f64) {
        let retryable = error.is_retryable();
        self.created = false;
        if !retryable {
            self.create_failure = None;
            self.starting_failed = Some(error);
            return;
        }
        let attempt = self.create_failure.as_ref().map_or(0, |f| f.attempt) + 1;
        self.create_failure = Some(Failure {
            attempt,
            failed_at: now,
            jitter,
            error,
        });
    }

    /// The restart policy restarted it; `streak` is the crash streak the restart counted.
    pub fn on_restarted(&mut self, now: Instant, streak: u32) {
        self.created = true;
        self.restart_count = self.restart_count.saturating_add(1);
        self.crash_streak = streak;
        self.last_restart_at = Some(now);
    }

    /// The instance was removed from the runtime.
    pub fn on_deleted(&mut self) {
        self.created = false;
        self.delete_failure = None;
    }

    /// Removing the instance failed; it is retried after a jittered delay.
    pub fn on_delete_failed(&mut self, error: Arc<OpError>, now: Instant, jitter: f64) {
        let attempt = self.delete_failure.as_ref().map_or(0, |f| f.attempt) + 1;
        self.delete_failure = Some(Failure {
            attempt,
            failed_at: now,
            jitter,
            error,
        });
    }
}
