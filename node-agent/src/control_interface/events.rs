//! Event subscriptions of the control interface (`CompleteStateRequest` with
//! `subscribeForEvents`): first the masked state, then, for every change, the changed fields and
//! their paths (`alteredFields`), until `EventsCancelRequest` or the end of the session.
//!
//! ankmq has no event stream from the controller yet, so a subscription asks the controller for
//! its masked state every [`EVENT_POLL`] and sends the difference (`ank_schemas::state_diff`, the
//! same diff `ank get events` uses). Each poll is re-authorized with the workload's current rules,
//! on the agent and again by the controller: a rule change ends a subscription it no longer
//! allows. Difference from Ankaios: changes between two polls arrive as one event.

use std::time::Duration;

use ank_schemas::control_interface::proto::{self, response::Content as Resp};
use ank_schemas::control_interface::{authorize, complete_state_to_proto, Operation};
use ank_schemas::state_diff::event;
use ank_schemas::{ControlInterfaceAccess, RequestOp, ResponseBody, ResponseOutcome};
use serde_json::Value;
use tokio::sync::watch;

use super::backend::Backend;
use super::session::{answer, Outbox};

/// How often a subscription looks for changes.
pub const EVENT_POLL: Duration = Duration::from_millis(500);

/// Sends the events of one subscription until aborted, refused or undeliverable.
pub async fn run<B: Backend>(
    backend: B,
    workload: String,
    id: String,
    masks: Vec<String>,
    rules: watch::Receiver<ControlInterfaceAccess>,
    out: Outbox,
) {
    let op = || RequestOp::GetState {
        masks: masks.clone(),
    };
    let mut last = match backend.request(&workload, op()).await {
        Ok(ResponseOutcome::Ok(ResponseBody::State { complete_state })) => complete_state,
        Ok(outcome) => {
            out.respond(&id, answer(outcome));
            return;
        }
        Err(message) => {
            out.error(&id, message);
            return;
        }
    };
    if !out.respond(&id, state_response(&last, None)) {
        return;
    }
    let mut tick = tokio::time::interval(EVENT_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let allowed = authorize(&rules.borrow(), Operation::Read(&masks));
        if let Err(denied) = allowed {
            out.error(&id, denied.to_string());
            return;
        }
        let now = match backend.request(&workload, op()).await {
            Ok(ResponseOutcome::Ok(ResponseBody::State { complete_state })) => complete_state,
            // The controller is away or refused once: try again at the next tick.
            _ => continue,
        };
        if let Some(change) = event(&last, &now, String::new()) {
            let altered = proto::AlteredFields {
                added_fields: change.added_fields,
                updated_fields: change.updated_fields,
                removed_fields: change.removed_fields,
            };
            if !out.respond(&id, state_response(&change.complete_state, Some(altered))) {
                return;
            }
        }
        last = now;
    }
}

fn state_response(state: &Value, altered: Option<proto::AlteredFields>) -> Resp {
    Resp::CompleteStateResponse(proto::CompleteStateResponse {
        complete_state: Some(complete_state_to_proto(state)),
        altered_fields: altered,
    })
}
