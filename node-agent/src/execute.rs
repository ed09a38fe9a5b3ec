//! Carries the planner's runtime actions out: builds each connector's spec from the desired
//! workload, writes the workload's files, and calls the [`RuntimeConnector`] trait. Each
//! operation runs as its own task and ends in an [`OpOutcome`] that the run loop records in
//! [`Observed`] (`begin` before, `finish` after), so at most one operation per workload runs at a
//! time and later triggers coalesce into the next plan. A podman error is an outcome, never a
//! panic or an exit.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use ank_schemas::InstanceId;

use crate::dispatch::{OpError, Refreshed, Runtimes};
use crate::observed::{InstanceTarget, Observed, Operation, WorkloadBook};
use crate::reconcile::Action;
use crate::runtime::{KubeSpec, PodmanRunSpec, RuntimeConnector};

/// Why an operation failed: which step, and the typed error, shared with the book that keeps it
/// for the workload's additionalInfo.
#[derive(Debug, Clone)]
pub enum OpFailure {
    /// Removing the old instance failed; nothing was created.
    Delete(Arc<OpError>),
    /// Creating (or restarting) failed; retried if the error is retryable.
    Create(Arc<OpError>),
}

/// How an operation ended.
#[derive(Debug, Clone)]
pub struct OpOutcome {
    /// The workload the operation was for.
    pub workload: String,
    /// Which operation.
    pub op: Operation,
    /// The instance created or restarted, if the operation creates one.
    pub new_instance: Option<InstanceId>,
    /// For a restart-policy restart, the crash streak to record.
    pub policy_restart: Option<u32>,
    /// `Ok` or the failed step.
    pub result: Result<(), OpFailure>,
    /// The instances the operation touched, looked at again afterwards.
    pub refreshed: Vec<Refreshed>,
}

fn create_failure(error: OpError) -> OpFailure {
    OpFailure::Create(Arc::new(error))
}

/// A spawned operation.
pub type OpFuture = Pin<Box<dyn Future<Output = OpOutcome> + Send>>;

/// Sent by a [`Action::Replace`] once the old instance is gone and the new one is being created,
/// so the loop reports `Pending(Starting)` between the two, as Ankaios does (its update is
/// delete, `Removed`, then `Pending(Starting)` "Triggered at runtime."; issue 16, §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateStarted {
    /// The workload being replaced.
    pub workload: String,
    /// The instance now being created.
    pub instance: InstanceId,
}

/// Where operations say [`CreateStarted`]. Unbounded but small: at most one message per
/// operation, and at most one operation per workload runs at a time.
pub type StartedSender = tokio::sync::mpsc::UnboundedSender<CreateStarted>;

/// Books the start of a runtime action in `observed` and returns the operation to spawn; `None`
/// for actions that are not runtime operations (reports, adoption, retries).
pub fn begin<P, K>(
    runtimes: &Arc<Runtimes<P, K>>,
    observed: &mut Observed,
    action: Action,
    started: &StartedSender,
) -> Option<OpFuture>
where
    P: RuntimeConnector<Spec = PodmanRunSpec> + 'static,
    K: RuntimeConnector<Spec = KubeSpec> + 'static,
{
    let runtimes = Arc::clone(runtimes);
    match action {
        Action::Report(_) | Action::RetryAt(_) => None,
        Action::Adopt { workload, instance } => {
            let mut book = WorkloadBook::new(instance);
            book.on_created();
            observed.books.insert(workload, book);
            None
        }
        Action::Create { workload, desired } => {
            book_for(observed, &workload, desired.instance_id()).in_flight =
                Some(Operation::Create);
            Some(Box::pin(async move {
                let (result, looked) = runtimes.create(&desired).await;
                OpOutcome {
                    workload,
                    op: Operation::Create,
                    new_instance: Some(desired.instance_id().clone()),
                    policy_restart: None,
                    result: result.map_err(create_failure),
                    refreshed: vec![looked],
                }
            }))
        }
        Action::Restart {
            workload,
            desired,
            policy_restart,
        } => {
            book_for(observed, &workload, desired.instance_id()).in_flight =
                Some(Operation::Restart);
            Some(Box::pin(async move {
                let (result, looked) = runtimes.restart(&desired).await;
                OpOutcome {
                    workload,
                    op: Operation::Restart,
                    new_instance: Some(desired.instance_id().clone()),
                    policy_restart,
                    result: result.map_err(create_failure),
                    refreshed: vec![looked],
                }
            }))
        }
        Action::Replace {
            workload,
            old,
            desired,
            policy_restart,
        } => {
            mark_deleting(observed, &workload, &old, Operation::Replace);
            let started = started.clone();
            Some(Box::pin(async move {
                // Ankaios' order (§4.1): the old instance is gone before the new one starts. What
                // each delete and run returned is the look at it; podman is asked again only
                // when a step failed (issue 17).
                let same = old.instance == desired.instance_id().to_string();
                let (result, refreshed) = match runtimes.delete(&old).await {
                    Err(error) => {
                        let mut refreshed = vec![runtimes.refresh(&old).await];
                        if !same {
                            refreshed.push(runtimes.refresh_desired(&desired).await);
                        }
                        (Err(OpFailure::Delete(Arc::new(error))), refreshed)
                    }
                    Ok(()) => {
                        // The loop may be shutting down; then nobody needs to hear it.
                        let _ = started.send(CreateStarted {
                            workload: workload.clone(),
                            instance: desired.instance_id().clone(),
                        });
                        let (result, looked) = runtimes.create(&desired).await;
                        let mut refreshed = Vec::new();
                        if !same {
                            refreshed.push(Refreshed::gone(&old));
                        }
                        refreshed.push(looked);
                        (result.map_err(create_failure), refreshed)
                    }
                };
                OpOutcome {
                    workload,
                    op: Operation::Replace,
                    new_instance: Some(desired.instance_id().clone()),
                    policy_restart,
                    result,
                    refreshed,
                }
            }))
        }
        Action::Delete { workload, target } => {
            mark_deleting(observed, &workload, &target, Operation::Delete);
            Some(Box::pin(async move {
                let (result, refreshed) = match runtimes.delete(&target).await {
                    Ok(()) => (Ok(()), Refreshed::gone(&target)),
                    Err(error) => (
                        Err(OpFailure::Delete(Arc::new(error))),
                        runtimes.refresh(&target).await,
                    ),
                };
                let refreshed = vec![refreshed];
                OpOutcome {
                    workload,
                    op: Operation::Delete,
                    new_instance: None,
                    policy_restart: None,
                    result,
                    refreshed,
                }
            }))
        }
    }
}

/// The book of `workload` for `instance`, fresh if it was about another instance.
fn book_for<'a>(
    observed: &'a mut Observed,
    workload: &str,
    instance: &InstanceId,
) -> &'a mut WorkloadBook {
    let book = observed
        .books
        .entry(workload.to_owned())
        .or_insert_with(|| WorkloadBook::new(instance.clone()));
    if book.instance != *instance {
        *book = WorkloadBook::new(instance.clone());
    }
    book
}

fn mark_deleting(observed: &mut Observed, workload: &str, target: &InstanceTarget, op: Operation) {
    match target.instance.parse::<InstanceId>() {
        Ok(id) => {
            let existed = observed
                .books
                .get(workload)
                .is_some_and(|b| b.instance == id);
            let book = book_for(observed, workload, &id);
            if !existed {
                // Found in podman: it exists although this run did not create it.
                book.created = true;
            }
            book.in_flight = Some(op);
        }
        // Not an instance id: no book can guard it, so forget it until podman shows it again.
        Err(_) => {
            observed.instances.remove(&target.instance);
        }
    }
}

/// Records how an operation ended. `jitter` is a fresh random value in `[0, 1]` for the retry
/// delay of a failure.
pub fn finish(observed: &mut Observed, outcome: &OpOutcome, now: Instant, jitter: f64) {
    let Some(book) = observed.books.get_mut(&outcome.workload) else {
        return;
    };
    book.in_flight = None;
    match (&outcome.result, outcome.op) {
        (Ok(()), Operation::Delete) => book.on_deleted(),
        (Err(OpFailure::Delete(error)), _) => {
            tracing::warn!(workload = %outcome.workload, %error, "delete failed");
            book.on_delete_failed(Arc::clone(error), now, jitter);
        }
        (result, _) => {
            if let Some(new) = &outcome.new_instance {
                if book.instance != *new {
                    *book = WorkloadBook::new(new.clone());
                }
            }
            match result {
                Ok(()) => {
                    book.on_created();
                    if let Some(streak) = outcome.policy_restart {
                        book.on_restarted(now, streak);
                    }
                }
                Err(OpFailure::Create(error)) => {
                    let retryable = error.is_retryable();
                    tracing::warn!(workload = %outcome.workload, %error, retryable, "create failed");
                    if outcome.op == Operation::Restart {
                        // The container is still there: count the attempt so the backoff grows.
                        book.on_created();
                        if let Some(streak) = outcome.policy_restart {
                            book.on_restarted(now, streak);
                        }
                    } else {
                        book.on_create_failed(Arc::clone(error), now, jitter);
                    }
                }
                Err(OpFailure::Delete(_)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::tests::desired;
    use crate::runtime::RuntimeError;
    use ank_schemas::RuntimeKind;

    #[test]
    fn finish_records_create_failures_restarts_and_replacements() {
        let now = Instant::now();
        let d = desired(Vec::new());
        let id = d.instance_id().clone();
        let mut observed = Observed::new("agent_A", vec![RuntimeKind::Podman]);
        let outcome = |op, result, policy_restart| OpOutcome {
            workload: "w".into(),
            op,
            new_instance: Some(id.clone()),
            policy_restart,
            result,
            refreshed: Vec::new(),
        };
        book_for(&mut observed, "w", &id).in_flight = Some(Operation::Create);
        let pull = OpError::Runtime(RuntimeError::NotFound {
            instance: "pull".into(),
        });
        let failed = Err(OpFailure::Create(Arc::new(pull)));
        finish(
            &mut observed,
            &outcome(Operation::Create, failed, None),
            now,
            0.5,
        );
        let book = &observed.books["w"];
        assert_eq!(book.in_flight, None);
        assert_eq!(book.create_failure.as_ref().map(|f| f.attempt), Some(1));
        finish(
            &mut observed,
            &outcome(Operation::Replace, Ok(()), Some(1)),
            now,
            0.5,
        );
        let book = &observed.books["w"];
        assert!(book.created && book.create_failure.is_none());
        assert_eq!((book.restart_count, book.crash_streak), (1, 1));
    }
}
