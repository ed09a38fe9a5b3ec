//! The long-lived answers of one session: its event subscriptions and log campaigns, each a task
//! that writes to the workload until it ends or is cancelled.
//!
//! It exists so that the bounds ([`MAX_EVENT_SUBSCRIPTIONS`], [`MAX_LOG_CAMPAIGNS`]) and the
//! request id → task bookkeeping live in one place, apart from the handshake (`session.rs`) and
//! the request dispatch (`requests.rs`). The tasks themselves are `events.rs` and `logs.rs`;
//! they are owned here and end with the session.

use std::collections::HashMap;

use ank_schemas::control_interface::proto;
use ank_schemas::ControlInterfaceAccess;
use tokio::sync::{oneshot, watch};
use tokio::task::{AbortHandle, JoinSet};

use super::backend::Backend;
use super::events::{self, EventRoutes};
use super::logs::{self, LogRoutes};
use super::outbox::Outbox;

/// Event subscriptions of one workload.
pub const MAX_EVENT_SUBSCRIPTIONS: usize = 4;
/// Log campaigns of one workload.
pub const MAX_LOG_CAMPAIGNS: usize = 4;

/// The event subscriptions and log campaigns of one session.
pub(super) struct Streams {
    /// Event and log tasks; aborted with the session.
    tasks: JoinSet<()>,
    /// Request id → the task sending its events, and its subscription id at the controller.
    subscriptions: HashMap<String, (AbortHandle, String)>,
    /// Request id → the cancel of its log campaign (a closed sender: the campaign ended).
    log_campaigns: HashMap<String, oneshot::Sender<()>>,
    log_routes: LogRoutes,
    event_routes: EventRoutes,
}

impl Streams {
    /// No streams yet; logs and events arrive through `log_routes` and `event_routes`.
    pub(super) fn new(log_routes: LogRoutes, event_routes: EventRoutes) -> Self {
        Self {
            tasks: JoinSet::new(),
            subscriptions: HashMap::new(),
            log_campaigns: HashMap::new(),
            log_routes,
            event_routes,
        }
    }

    /// Reaps one finished task (for the session's `select!`).
    pub(super) async fn join_next(&mut self) -> Option<()> {
        self.tasks.join_next().await.map(|_| ())
    }

    /// Forgets the subscriptions whose task has ended, so they no longer count to the bound.
    pub(super) fn prune(&mut self) {
        self.subscriptions.retain(|_, (h, _)| !h.is_finished());
    }

    /// Ends every event subscription (the session closed); each tells the controller itself.
    pub(super) fn end_subscriptions(&mut self) {
        for (_, (task, _)) in self.subscriptions.drain() {
            task.abort();
        }
    }

    /// Starts sending the events of request `id` with `masks`; the error is the answer when a
    /// bound is reached or the id is taken.
    pub(super) fn subscribe<B: Backend>(
        &mut self,
        backend: &B,
        workload: &str,
        id: String,
        masks: Vec<String>,
        rules: &watch::Receiver<ControlInterfaceAccess>,
        out: &Outbox,
    ) -> Result<(), String> {
        if self.subscriptions.len() >= MAX_EVENT_SUBSCRIPTIONS {
            return Err(format!(
                "at most {MAX_EVENT_SUBSCRIPTIONS} event subscriptions per workload"
            ));
        }
        if self.subscriptions.contains_key(&id) {
            return Err("a subscription with this request id exists".to_owned());
        }
        let subscription = self.event_routes.new_id(workload);
        let task = self.tasks.spawn(events::run(
            backend.clone(),
            self.event_routes.clone(),
            subscription.clone(),
            workload.to_owned(),
            id.clone(),
            masks,
            rules.clone(),
            out.clone(),
        ));
        self.subscriptions.insert(id, (task, subscription));
        Ok(())
    }

    /// Stops the events of request `id`; its subscription id at the controller, which the caller
    /// cancels there, or `None` when there was none.
    pub(super) fn unsubscribe(&mut self, id: &str) -> Option<String> {
        let (task, subscription) = self.subscriptions.remove(id)?;
        self.event_routes.forget(&subscription);
        task.abort();
        Some(subscription)
    }

    /// Starts the log campaign of request `id`; the error is the answer when the bound is
    /// reached.
    pub(super) fn start_logs<B: Backend>(
        &mut self,
        backend: &B,
        workload: &str,
        id: String,
        request: proto::LogsRequest,
        out: &Outbox,
    ) -> Result<(), String> {
        self.log_campaigns.retain(|_, c| !c.is_closed());
        if self.log_campaigns.len() >= MAX_LOG_CAMPAIGNS {
            return Err(format!(
                "at most {MAX_LOG_CAMPAIGNS} log requests per workload at once"
            ));
        }
        let (cancel, cancelled) = oneshot::channel();
        self.tasks.spawn(logs::run(
            backend.clone(),
            self.log_routes.clone(),
            workload.to_owned(),
            id.clone(),
            request,
            out.clone(),
            cancelled,
        ));
        self.log_campaigns.insert(id, cancel);
        Ok(())
    }

    /// Cancels the log campaign of request `id`, if it runs.
    pub(super) fn cancel_logs(&mut self, id: &str) {
        if let Some(cancel) = self.log_campaigns.remove(id) {
            let _ = cancel.send(());
        }
    }
}
