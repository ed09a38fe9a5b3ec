//! How every change (apply, run, delete, set state) is carried out: check that the controller is
//! online, send the request, report a refusal, then follow the instances the response names.
//!
//! The watch on the retained state is opened before the request is sent, so the controller's
//! status is known at once (an offline controller fails immediately, issue #6) and no state
//! change published while the response travels is missed.

use ank_bus::{Watch, WatchEvent};
use ank_schemas::{Liveness, RequestOp, ResponseBody, ResponseOutcome};

use crate::context::Context;
use crate::error::CliError;
use crate::live;
use crate::state_view::View;
use crate::ui::Ui;
use crate::wait::Expected;

/// Ankaios' stdout for a change that changed nothing.
const ANKAIOS_NOTHING_UPDATED: &str = "Apply successful. No workloads updated.";
/// What Ankaios prints once a change is accepted and it starts waiting (reference §5.3).
const ANKAIOS_APPLIED: &str = "Successfully applied the manifest(s).";
/// Its second line.
const WAITING: &str =
    "Waiting for workload(s) to reach desired states (press Ctrl+C to interrupt).";

/// Whether a change is followed until its workloads settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Wait (unless `--no-wait`), as apply, run, delete workload and set state do.
    Workloads,
    /// Never wait, as `delete config` (Ankaios does not wait there either).
    Never,
}

/// Sends `op` and follows it; `done` is the status line printed once the controller accepted it.
pub async fn submit(
    ui: &mut Ui,
    ctx: &Context,
    op: RequestOp,
    follow: Follow,
    done: &str,
) -> Result<(), CliError> {
    let (mut view, mut watch) = ctx.watch_view().await?;
    let result = async {
        ctx.require_controller(&view)?;
        let response = tokio::select! {
            response = ctx.request(op) => response?,
            gone = went_away(ctx, &mut view, &mut watch) => return Err(gone),
        };
        let (generation, added, updated, deleted) = match response.outcome {
            ResponseOutcome::Error { message, errors } => {
                return Err(CliError::Refused { message, errors })
            }
            ResponseOutcome::Ok(ResponseBody::Updated {
                generation,
                added,
                updated,
                deleted,
            }) => (generation, added, updated, deleted),
            ResponseOutcome::Ok(ResponseBody::State { .. } | ResponseBody::Instances { .. }) => {
                return Err(anyhow::anyhow!(
                    "the controller answered a change with something else (a controller bug)"
                )
                .into())
            }
        };
        tracing::debug!(generation, ?added, ?updated, ?deleted, "change accepted");
        if follow == Follow::Never {
            ui.status(done)?;
            return Ok(());
        }
        if added.is_empty() && deleted.is_empty() {
            let line = if updated.is_empty() {
                if ui.ankaios_stdout() {
                    // What Ankaios 1.0.1 prints on stdout when a request changes nothing
                    // (`ank delete workload nosuch > out`), for scripts that read it.
                    writeln!(ui.out(), "{ANKAIOS_NOTHING_UPDATED}")?;
                }
                // Configs or other parts may still have changed (a config deleted by `set
                // state`): the answer lists workloads only, so say no more than that.
                format!("{done} No workloads updated.")
            } else {
                format!("{done} {} workload(s) updated in place.", updated.len())
            };
            ui.status(line)?;
            return Ok(());
        }
        if ctx.settings.no_wait {
            ui.status(done)?;
            return Ok(());
        }
        if ui.ankaios_stdout() {
            // Ankaios prints these two lines on stdout, the same for every command; a script
            // may wait for them. Our command's own line, when it says more, goes to stderr.
            writeln!(ui.out(), "{ANKAIOS_APPLIED}\n{WAITING}")?;
            if done != ANKAIOS_APPLIED {
                ui.status(done)?;
            }
        } else {
            ui.status(format!("{done}\n{WAITING}"))?;
        }
        let expected = Expected::new(generation, &added, &deleted);
        live::follow(ui, ctx, view, &mut watch, &expected).await
    }
    .await;
    watch.close().await;
    result
}

/// Keeps `view` up to date while a request is in flight, and returns once the controller (or the
/// broker) is gone, so a controller that crashes after saving is reported as such instead of as
/// a timeout with a hint about the topic prefix.
async fn went_away(ctx: &Context, view: &mut View, watch: &mut Watch) -> CliError {
    loop {
        match watch.next().await {
            Some(WatchEvent::Snapshot(messages)) => {
                *view = View::from_messages(&ctx.topics, &messages);
            }
            Some(WatchEvent::Update(message)) => {
                view.apply(&ctx.topics, &message);
            }
            Some(WatchEvent::Disconnected { reason }) => {
                return CliError::Unanswered {
                    reason: format!("the connection to the broker broke ({reason})"),
                }
            }
            None => {
                return CliError::Unanswered {
                    reason: "the connection to the broker ended".into(),
                }
            }
        }
        match view.controller.as_ref().map(|c| c.state) {
            Some(Liveness::Online) => {}
            Some(Liveness::Lost) => {
                return CliError::Unanswered {
                    reason: "the controller lost its connection to the broker".into(),
                }
            }
            _ => {
                return CliError::Unanswered {
                    reason: "the controller shut down".into(),
                }
            }
        }
    }
}
