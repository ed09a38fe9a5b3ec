//! Event subscriptions of the control interface (`CompleteStateRequest` with
//! `subscribeForEvents`): first the masked state, then, for every change, the changed fields and
//! their paths (`alteredFields`), until `EventsCancelRequest` or the end of the session.
//!
//! The controller pushes the changes as they happen (controller/src/events.rs): the agent
//! subscribes with `subscribeEvents` on its own request topic, answered with the first masked
//! state, and the controller's events come on `{p}/agents/<agent>/events`, where
//! [`EventRoutes`] hands each to its subscription. Each subscription has a bounded queue
//! ([`EVENT_QUEUE`]): when its workload does not read fast enough the queue fills, the
//! subscription ends with an error to the workload, and the controller is told to stop. Every
//! event is re-authorized with the workload's current rules here (the controller does too): a
//! rule change ends a subscription it no longer allows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ank_schemas::control_interface::proto::{self, response::Content as Resp};
use ank_schemas::control_interface::{authorize, complete_state_to_proto, Operation};
use ank_schemas::{
    AgentEvent, AgentEventBody, ControlInterfaceAccess, RequestOp, ResponseBody, ResponseOutcome,
};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::backend::Backend;
use super::outbox::Outbox;
use super::requests::answer;

/// Events queued for one subscription; one more ends it.
pub const EVENT_QUEUE: usize = 64;

/// Which subscription gets which pushed event, shared by the agent's message loop (which
/// delivers) and the subscriptions (which register and leave). A std mutex: short sections, no
/// `.await` inside.
#[derive(Clone, Default)]
pub struct EventRoutes {
    routes: Arc<Mutex<HashMap<String, Route>>>,
    next: Arc<AtomicU64>,
}

/// Where a subscription's events go.
enum Route {
    /// Its queue.
    Open(mpsc::Sender<AgentEventBody>),
    /// Its queue overflowed: the queue is closed, later events are dropped, and the
    /// subscription still has to tell the controller when it ends.
    Overflowed,
}

impl EventRoutes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Route>> {
        self.routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands an event from the controller to its subscription. An event for no subscription
    /// (late, after a cancel) is dropped; one that does not fit in a full queue ends the
    /// subscription (its receiver then sees the end).
    pub fn deliver(&self, event: AgentEvent) {
        let mut routes = self.lock();
        let Some(Route::Open(queue)) = routes.get(&event.subscription) else {
            tracing::debug!("an event for no open subscription dropped");
            return;
        };
        if queue.try_send(event.body).is_err() {
            // Dropping the sender ends the receiver once it has read what is queued.
            routes.insert(event.subscription, Route::Overflowed);
        }
    }

    /// A new subscription id for `workload`, unique in this agent (at most 63 + 21 bytes).
    pub fn new_id(&self, workload: &str) -> String {
        format!("{workload}.{}", self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// The queue of subscription `subscription`.
    fn register(&self, subscription: &str) -> mpsc::Receiver<AgentEventBody> {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        self.lock().insert(subscription.to_owned(), Route::Open(tx));
        rx
    }

    /// Forgets a subscription; `true` if it was still routed (whoever forgets it first tells
    /// the controller).
    pub fn forget(&self, subscription: &str) -> bool {
        self.lock().remove(subscription).is_some()
    }
}

/// Leaves the routes and tells the controller, when the subscription ends for any reason (a
/// cancel aborts its task; the session may end).
struct Registration<B: Backend> {
    routes: EventRoutes,
    backend: B,
    workload: String,
    subscription: String,
    /// The controller ended it already: nothing to tell.
    ended: bool,
}

impl<B: Backend> Drop for Registration<B> {
    fn drop(&mut self) {
        // An explicit cancel (the session) forgot it first and tells the controller itself.
        if !self.routes.forget(&self.subscription) || self.ended {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (backend, workload) = (self.backend.clone(), self.workload.clone());
        let op = RequestOp::CancelEvents {
            subscription: self.subscription.clone(),
        };
        runtime.spawn(async move {
            if let Err(error) = backend.request(&workload, op).await {
                tracing::debug!(%error, "the controller did not confirm an event cancel");
            }
        });
    }
}

/// Sends the events of subscription `subscription` (from [`EventRoutes::new_id`]) until
/// aborted, refused, ended or undeliverable; `id` is the workload's request id.
#[allow(clippy::too_many_arguments)]
pub async fn run<B: Backend>(
    backend: B,
    routes: EventRoutes,
    subscription: String,
    workload: String,
    id: String,
    masks: Vec<String>,
    rules: watch::Receiver<ControlInterfaceAccess>,
    out: Outbox,
) {
    // Registered before asking, so no event between the first state and the first delivery is
    // lost; they wait in the queue until the first state has been sent.
    let mut events = routes.register(&subscription);
    let mut registration = Registration {
        routes,
        backend: backend.clone(),
        workload: workload.clone(),
        subscription: subscription.clone(),
        ended: false,
    };
    let op = RequestOp::SubscribeEvents {
        subscription,
        masks: masks.clone(),
    };
    match backend.request(&workload, op).await {
        Ok(ResponseOutcome::Ok(ResponseBody::State { complete_state })) => {
            if !out.respond(&id, state_response(&complete_state, None)) {
                return;
            }
        }
        Ok(outcome) => {
            registration.ended = true;
            out.respond(&id, answer(outcome));
            return;
        }
        Err(message) => {
            out.error(&id, message);
            return;
        }
    }
    loop {
        let Some(body) = events.recv().await else {
            out.error(
                &id,
                format!(
                    "the event subscription ended: more than {EVENT_QUEUE} events were waiting \
                     to be read"
                ),
            );
            return;
        };
        if let Err(denied) = authorize(&rules.borrow(), Operation::Read(&masks)) {
            out.error(&id, denied.to_string());
            return;
        }
        match body {
            AgentEventBody::Event {
                added_fields,
                updated_fields,
                removed_fields,
                complete_state,
            } => {
                let altered = proto::AlteredFields {
                    added_fields,
                    updated_fields,
                    removed_fields,
                };
                if !out.respond(&id, state_response(&complete_state, Some(altered))) {
                    return;
                }
            }
            AgentEventBody::Ended { reason } => {
                registration.ended = true;
                out.error(&id, format!("the event subscription ended: {reason}"));
                return;
            }
        }
    }
}

fn state_response(state: &Value, altered: Option<proto::AlteredFields>) -> Resp {
    Resp::CompleteStateResponse(proto::CompleteStateResponse {
        complete_state: Some(complete_state_to_proto(state)),
        altered_fields: altered,
    })
}
