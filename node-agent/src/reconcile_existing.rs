//! The planner's rules for a desired instance that exists in the runtime: adoption of one found
//! without a book (an agent restart), and the restart policy of a managed one (Ankaios §3.1,
//! §4.2). A child of `reconcile.rs`, split out to keep each file to one concern.

use std::sync::Arc;

use ank_schemas::{ExecutionState, FailedSubstate, RestartPolicy};

use super::{Action, Planner, Said, REQUESTED};
use crate::backoff;
use crate::book::WorkloadBook;
use crate::desired::Workload;
use crate::observed::RuntimeInstance;
use crate::reported_ends;
use crate::runtime::RawState;
use crate::state_map;

impl Planner<'_> {
    /// Adoption of the desired instance found without a book: see the module docs for why an
    /// instance that already ended is adopted too, unlike Ankaios §4.2.
    pub(super) fn adopt(
        &mut self,
        name: &str,
        workload: &Arc<Workload>,
        current: &RuntimeInstance,
        unmet: &[String],
    ) {
        let id = workload.instance_id();
        let mapped = state_map::map(&current.state);
        // An ended instance is adopted only within one boot and if the agent had reported its
        // end: after a reboot or a shutdown's `podman stop` the services run again, as in
        // Ankaios (issue 16 point 1, `reported_ends.rs`).
        let reported = reported_ends::end_reported(
            self.observed.reported_ends.as_ref(),
            &current.container_ids,
        );
        let found = reported_ends::Found::of(&mapped.state);
        let keep = reported_ends::verdict(found, self.observed.rebooted, reported)
            == reported_ends::Verdict::Adopt;
        if keep {
            let said = Said {
                exit_code: mapped.exit_code,
                ..Said::new(mapped.state, mapped.info)
            };
            self.report(name, id, said, true);
            self.actions.push(Action::Adopt {
                workload: name.to_owned(),
                instance: id.clone(),
            });
        } else {
            // Unknown, stopping, never started, or a kube set not all there: replace, ignoring
            // delete conditions (the old one is not a managed workload); the create honours
            // add conditions.
            let then = unmet.is_empty().then_some(workload);
            self.remove(name, current, None, then);
        }
    }

    /// A managed instance: report what podman says and apply the restart policy.
    pub(super) fn managed(
        &mut self,
        name: &str,
        workload: &Arc<Workload>,
        current: &RuntimeInstance,
        book: &WorkloadBook,
    ) {
        let desired = &workload.desired;
        let id = &desired.instance_id;
        if matches!(current.state, RawState::Stopping(_)) {
            // Nobody asked it to stop (a requested stop is reported by the delete itself), so
            // it is exiting on its own: podman shows `stopped` for a few hundred milliseconds
            // before `exited`. Reporting it would flash Stopping(Stopping) on every exit;
            // the next look brings the exit code.
            return;
        }
        let mapped = state_map::map(&current.state);
        let state = mapped.state;
        let said = Said {
            exit_code: mapped.exit_code,
            ..Said::new(state, mapped.info).restarts(book.restart_count)
        };
        self.report(name, id, said, true);

        if current.provisional {
            // Known from a podman event only; a listing confirms it before anything is done.
            return;
        }
        let policy = desired.restart_policy;
        let succeeded = matches!(state, ExecutionState::Succeeded(_));
        let exec_failed = state == ExecutionState::Failed(FailedSubstate::ExecFailed);
        let restart = match policy {
            RestartPolicy::Never => false,
            RestartPolicy::OnFailure => exec_failed,
            RestartPolicy::Always => exec_failed || succeeded,
        };
        if !restart {
            return;
        }
        // Our improvement on Ankaios §3.1: the first restart is immediate, a crash loop backs
        // off (docs/agent.md). Restarts ignore dependencies.
        let streak = backoff::effective_streak(book.crash_streak, current.ran_for);
        if let Some(last) = book.last_restart_at {
            let due = last + backoff::restart_delay(streak);
            if self.now < due {
                self.wake_at(due);
                return;
            }
        }
        let policy_restart = Some(streak.saturating_add(1));
        let action = if succeeded {
            // The same container again (`podman start`; kube: down then play).
            Action::Restart {
                workload: name.to_owned(),
                desired: Arc::clone(workload),
                policy_restart,
            }
        } else {
            // A failed container is replaced by a new one. Ankaios says so on the way, as for an
            // update (§3.1): `Stopping(RequestedAtRuntime)`, then `Pending(Starting)` once the
            // old one is gone (`Runner::on_create_started`), then what the new one does.
            let said = Said::new(REQUESTED, "").restarts(book.restart_count);
            self.report(name, id, said, true);
            Action::Replace {
                workload: name.to_owned(),
                old: current.target(),
                desired: Arc::clone(workload),
                policy_restart,
            }
        };
        self.actions.push(action);
    }
}
