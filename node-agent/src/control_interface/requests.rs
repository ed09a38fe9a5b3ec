//! The requests of an open session: each is checked against the workload's access rules at the
//! moment it arrives, then answered from the controller (getState, setState), or handed to the
//! session's streams (event subscriptions, log campaigns, their cancels).
//!
//! It exists to keep what a request may do apart from the handshake and the byte stream
//! (`session.rs`). Requests in flight are bounded ([`MAX_PENDING_REQUESTS`]); the answer to a
//! request over a bound is an error, and the session goes on.

use ank_schemas::control_interface::proto::{
    self, request::Content as Req, response::Content as Resp,
};
use ank_schemas::control_interface::{
    authorize, complete_state_from_proto, complete_state_to_proto, Operation,
};
use ank_schemas::{RequestOp, ResponseBody, ResponseOutcome};

use super::backend::Backend;
use super::session::Session;

/// Requests of one workload being answered at once; more are refused at once.
pub const MAX_PENDING_REQUESTS: usize = 16;
/// The longest request id answered (the SDKs use 36-character UUIDs).
pub const MAX_REQUEST_ID_LEN: usize = 256;

impl<B: Backend> Session<B> {
    /// Answers one request of an open session.
    pub(super) fn on_request(&mut self, request: proto::Request) {
        let id = request.request_id;
        if id.len() > MAX_REQUEST_ID_LEN {
            let short: String = id.chars().take(32).collect();
            self.out.error(
                &short,
                format!("the request id is longer than {MAX_REQUEST_ID_LEN} bytes"),
            );
            return;
        }
        let rules = self.rules.borrow().clone();
        let Some(content) = request.content else {
            self.out.error(&id, "Request has no content");
            return;
        };
        let log_names: Vec<String> = match &content {
            Req::LogsRequest(r) => r
                .workload_names
                .iter()
                .map(|n| n.workload_name.clone())
                .collect(),
            _ => Vec::new(),
        };
        let operation = match &content {
            Req::CompleteStateRequest(r) => Operation::Read(&r.field_mask),
            Req::UpdateStateRequest(r) => Operation::Write(&r.update_mask),
            Req::LogsRequest(_) => Operation::Logs(&log_names),
            Req::LogsCancelRequest(_) | Req::EventsCancelRequest(_) => Operation::Cancel,
        };
        if let Err(denied) = authorize(&rules, operation) {
            tracing::info!(workload = %self.workload, detail = %denied.detail(), "control interface request denied");
            self.out.error(&id, denied.to_string());
            return;
        }
        match content {
            Req::EventsCancelRequest(_) => self.cancel_events(id),
            Req::LogsCancelRequest(_) => {
                self.streams.cancel_logs(&id);
                self.out
                    .respond(&id, Resp::LogsCancelAccepted(proto::LogsCancelAccepted {}));
            }
            Req::LogsRequest(r) => {
                if let Err(refusal) =
                    self.streams
                        .start_logs(&self.backend, &self.workload, id.clone(), r, &self.out)
                {
                    self.out.error(&id, refusal);
                }
            }
            Req::CompleteStateRequest(r) if r.subscribe_for_events => {
                if let Err(refusal) = self.streams.subscribe(
                    &self.backend,
                    &self.workload,
                    id.clone(),
                    r.field_mask,
                    &self.rules,
                    &self.out,
                ) {
                    self.out.error(&id, refusal);
                }
            }
            Req::CompleteStateRequest(r) => {
                let op = RequestOp::GetState {
                    masks: r.field_mask,
                };
                self.spawn_request(id, op);
            }
            Req::UpdateStateRequest(r) => {
                let state = r
                    .new_state
                    .as_ref()
                    .map(complete_state_from_proto)
                    .unwrap_or_else(|| serde_json::json!({}));
                let op = RequestOp::SetState {
                    masks: r.update_mask,
                    state,
                };
                self.spawn_request(id, op);
            }
        }
    }

    fn cancel_events(&mut self, id: String) {
        let Some(subscription) = self.streams.unsubscribe(&id) else {
            self.out.respond(
                &id,
                Resp::EventsCancelAccepted(proto::EventsCancelAccepted {}),
            );
            return;
        };
        // Accepted once the controller has ended it too, so no event of it follows the
        // acceptance (a cancel is always accepted, even if the controller is away).
        let (backend, workload, out) = (
            self.backend.clone(),
            self.workload.clone(),
            self.out.clone(),
        );
        self.pending.spawn(async move {
            let op = RequestOp::CancelEvents { subscription };
            if let Err(error) = backend.request(&workload, op).await {
                tracing::debug!(%error, "the controller did not confirm an event cancel");
            }
            out.respond(
                &id,
                Resp::EventsCancelAccepted(proto::EventsCancelAccepted {}),
            );
        });
    }

    fn spawn_request(&mut self, id: String, op: RequestOp) {
        if self.pending.len() >= MAX_PENDING_REQUESTS {
            self.out.error(
                &id,
                format!(
                    "at most {MAX_PENDING_REQUESTS} requests of a workload are answered at once"
                ),
            );
            return;
        }
        let backend = self.backend.clone();
        let workload = self.workload.clone();
        let out = self.out.clone();
        self.pending.spawn(async move {
            let content = match backend.request(&workload, op).await {
                Ok(outcome) => answer(outcome),
                Err(message) => Resp::Error(proto::Error { message }),
            };
            out.respond(&id, content);
        });
    }
}

/// The SDK's answer to the controller's outcome of a getState or setState.
pub fn answer(outcome: ResponseOutcome) -> Resp {
    match outcome {
        ResponseOutcome::Ok(ResponseBody::State { complete_state }) => {
            Resp::CompleteStateResponse(proto::CompleteStateResponse {
                complete_state: Some(complete_state_to_proto(&complete_state)),
                altered_fields: None,
            })
        }
        ResponseOutcome::Ok(ResponseBody::Updated { added, deleted, .. }) => {
            Resp::UpdateStateSuccess(proto::UpdateStateSuccess {
                added_workloads: added.iter().map(ToString::to_string).collect(),
                deleted_workloads: deleted.iter().map(ToString::to_string).collect(),
            })
        }
        ResponseOutcome::Ok(ResponseBody::Instances { .. }) => Resp::Error(proto::Error {
            message: "the controller answered with a list of instances (a controller bug)".into(),
        }),
        ResponseOutcome::Error { message, errors } => {
            let mut message = message;
            for error in errors {
                message.push_str("; ");
                message.push_str(&error.to_string());
            }
            Resp::Error(proto::Error { message })
        }
    }
}
