//! The controller's loop: start (state, broker, session), publish every snapshot, then handle
//! what arrives, one message at a time, in arrival order.
//!
//! Handling requests one at a time is what makes concurrent writers safe without locks: each
//! request sees the state the previous one left. A write is applied (apply.rs), its retained
//! messages are encoded and checked against the broker's limit, then it is persisted atomically,
//! and only then published (changed snapshots, then the desired state) and answered; a request
//! whose change cannot be published or saved is refused and changes nothing (issue 14).
//!
//! Everything from the bus is untrusted: a payload that does not decode is answered with an error
//! when its `id` and `replyTo` can be read, and otherwise logged and dropped. Nothing here unwraps
//! what arrives.

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use ank_broker::BrokerHandle;
use ank_bus::{excerpt, info_limited, warn_limited};
use ank_bus::{BusError, Incoming, Message, SessionEvent};
use ank_schemas::{
    ClientId, Request, RequestOp, Response, ResponseBody, ResponseOutcome, Topic, Topics,
    MAX_REQUEST_ID_LEN,
};
use anyhow::{bail, Context};
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::agent_requests;
use crate::agent_tags;
use crate::apply::{apply, Refusal};
use crate::complete_state::{complete_state, get_state, log_targets};
use crate::config::{BrokerChoice, Config};
use crate::desired::Desired;
use crate::events::{EventPacing, Subscriptions};
use crate::observed::Observed;
use crate::persist;
use crate::publish::{human_size, PublishError, Publisher, CLIENT_ID};
use crate::startup::{initial_state, read_manifest};

/// Runs the controller until `shutdown` completes (then publishes `offline` and stops the
/// embedded broker) or a fatal error: an invalid startup manifest or state file, a state
/// directory it cannot write, a taken port, an unreachable broker. Those fail at start, never
/// hang.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    // The state is loaded and saved (two fsyncs) while the embedded broker starts (its own
    // storage's fsyncs), not before it: a client connecting at start waits for one of them, not
    // for their sum (issue 17). Nothing is published or answered before both are done, so the
    // order of acknowledged writes is the same as before (docs/broker.md, "Start-up order").
    let loading = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || load_state(&config))
    };
    let broker = match &config.broker {
        BrokerChoice::Embedded(broker_config) => Some(
            ank_broker::start(broker_config.as_ref().clone())
                .await
                .context("starting the embedded MQTT broker"),
        ),
        BrokerChoice::External(_) => None,
    };
    let loaded = match loading.await {
        Ok(loaded) => loaded,
        Err(e) => Err(anyhow::anyhow!("loading the state failed: {e}")),
    };
    // The state's error first: an invalid startup manifest is what an operator must see, even
    // when the port is taken as well.
    let (state, broker) = match (loaded, broker.transpose()) {
        (Ok(state), Ok(broker)) => (state, broker),
        (Err(e), broker) => {
            if let Ok(Some(broker)) = broker {
                broker.stop().await;
            }
            return Err(e);
        }
        (Ok(_), Err(e)) => return Err(e),
    };
    let result = serve(&config, state, broker.as_ref(), shutdown).await;
    if let Some(broker) = broker {
        broker.stop().await;
    }
    result
}

/// Loads or seeds the state and saves it, which also proves the state directory is writable.
fn load_state(config: &Config) -> anyhow::Result<Desired> {
    let manifest = config
        .startup_manifest
        .as_deref()
        .map(read_manifest)
        .transpose()?;
    let dir = &config.state_dir;
    let persisted = match persist::load(dir) {
        Ok(persisted) => persisted,
        Err(e) if config.reset_state => {
            warn!("ignoring the unreadable persisted state because of --reset-state: {e:#}");
            None
        }
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context("loading the persisted state (--reset-state starts over)"))
        }
    };
    let (state, origin) = initial_state(persisted, manifest, config.reset_state)
        .map_err(|r| anyhow::anyhow!("{r}"))?;
    persist::save(dir, &state).context("saving the state")?;
    info!(
        ?origin,
        generation = state.generation(),
        workloads = state.manifest().workloads.len(),
        agents = state.snapshots().len(),
        state_dir = %dir.display(),
        "desired state ready"
    );
    Ok(state)
}

async fn serve(
    config: &Config,
    state: Desired,
    broker: Option<&BrokerHandle>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let url = match (&config.broker, broker) {
        (BrokerChoice::External(url), _) => url.clone(),
        (BrokerChoice::Embedded(_), Some(handle)) => format!("mqtt://{}", handle.mqtt_addr()),
        (BrokerChoice::Embedded(_), None) => bail!("the embedded broker is not running"),
    };
    let mut opts = config.connect_options(&url, CLIENT_ID)?;
    if let Some(handle) = broker.filter(|h| h.plain_addr().is_none()) {
        // With TLS the plain listener is closed to clients (issue 13); the controller reaches
        // its own broker in-process with the broker's one-time login.
        let (user, password) = handle.internal_login();
        opts.username = Some(user.to_owned());
        opts.password = Some(password.to_owned());
    }
    let (publisher, mut incoming) = Publisher::connect(opts)
        .await
        .with_context(|| format!("connecting to the MQTT broker at {url}"))?;
    info!(%url, epoch = publisher.epoch(), prefix = %config.connect.topics, "connected");

    let topics = &config.connect.topics;
    for filter in topics.controller_subscriptions() {
        publisher
            .subscribe(&filter)
            .await
            .with_context(|| format!("subscribing to {filter}"))?;
    }
    let mut controller = Controller {
        config,
        topics,
        state,
        observed: Observed::default(),
        publisher,
        subscriptions: Subscriptions::default(),
        pacing: EventPacing::default(),
    };
    controller.adopt_stale_snapshots().await;
    controller.publish_everything().await;

    tokio::pin!(shutdown);
    let result = controller.serve(&mut incoming, &mut shutdown).await;
    controller.publisher.shutdown().await;
    info!("stopped");
    result
}

struct Controller<'a> {
    config: &'a Config,
    topics: &'a Topics,
    state: Desired,
    observed: Observed,
    publisher: Publisher,
    /// Control-interface event subscriptions (issue 15), fed after every change.
    subscriptions: Subscriptions,
    /// When to compute those events: see [`EventPacing`].
    pacing: EventPacing,
}

impl Controller<'_> {
    async fn serve(
        &mut self,
        incoming: &mut Incoming,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> anyhow::Result<()> {
        // The first `Connected` is the connect that `Publisher::connect` already made.
        let mut first_connect = true;
        loop {
            let event = tokio::select! {
                biased;
                () = &mut *shutdown => return Ok(()),
                event = incoming.recv() => event,
            };
            match event {
                None => bail!("the MQTT session ended"),
                Some(SessionEvent::Connected { .. }) if first_connect => first_connect = false,
                Some(SessionEvent::Connected { .. }) => {
                    // The broker may have lost its retained messages: they are ours to restore.
                    info!("reconnected: republishing every snapshot");
                    self.observed = Observed::default();
                    self.publish_everything().await;
                }
                Some(SessionEvent::Disconnected { reason }) => {
                    warn_limited!("broker lost", %reason, "lost the broker; reconnecting");
                }
                Some(SessionEvent::Message(message)) => {
                    self.take_message(message).await;
                    if self.pacing.after_message(!incoming.is_empty()) {
                        self.push_events().await;
                    }
                    continue;
                }
            }
            if self.pacing.owed() {
                self.push_events().await;
            }
        }
    }

    /// Pushes the events of every subscription whose part of the state changed (issue 15).
    async fn push_events(&mut self) {
        if self.subscriptions.is_empty() {
            return;
        }
        let whole = match serde_json::to_value(complete_state(&self.state, &self.observed)) {
            Ok(whole) => whole,
            Err(e) => {
                warn!("cannot encode the complete state for events: {e}");
                return;
            }
        };
        let events =
            self.subscriptions
                .on_change(&whole, self.state.snapshots(), self.observed.agents());
        for (agent, event) in events {
            if let Err(e) = self.publisher.agent_event(&agent, &event).await {
                // Too large for the broker, or the session is closed: that subscription's
                // agent misses the change; end the subscription rather than let it drift.
                warn!("an event for agent {agent} was not sent: {e:#}");
                self.subscriptions.cancel(&agent, &event.subscription);
                let ended = ank_schemas::AgentEvent {
                    subscription: event.subscription,
                    body: ank_schemas::AgentEventBody::Ended {
                        reason: format!("an event could not be sent: {e}"),
                    },
                };
                let _ = self.publisher.agent_event(&agent, &ended).await;
            }
        }
    }

    async fn take_message(&mut self, message: Message) {
        match self.topics.parse(&message.topic) {
            Some(Topic::Requests) => self.on_request(&message.payload, None).await,
            // Control interface (issue 15): the topic names the agent, agent_requests.rs checks.
            Some(Topic::AgentRequests { agent }) => {
                self.on_request(&message.payload, Some(&agent)).await
            }
            Some(Topic::AgentStatus { agent }) => {
                if let Err(e) = self.observed.agent_status(&agent, &message.payload) {
                    warn_limited!(
                        "agent status",
                        topic = %excerpt(&message.topic),
                        error = %excerpt(&e),
                        "ignored agent status",
                    );
                }
            }
            Some(Topic::WorkloadState { agent, workload }) => {
                if let Err(e) = self
                    .observed
                    .workload_state(&agent, &workload, &message.payload)
                {
                    warn_limited!(
                        "workload state",
                        topic = %excerpt(&message.topic),
                        error = %excerpt(&e),
                        "ignored workload state",
                    );
                }
            }
            _ => {
                warn_limited!(
                    "unexpected topic",
                    topic = %excerpt(&message.topic),
                    "ignored a message on an unexpected topic",
                )
            }
        }
    }

    /// Answers one request; `from_agent` is the agent whose own request topic it came on.
    async fn on_request(&mut self, payload: &[u8], from_agent: Option<&str>) {
        let value: Value = match serde_json::from_slice(payload) {
            Ok(value) => value,
            Err(e) => {
                warn_limited!(
                    "request",
                    bytes = payload.len(),
                    error = %excerpt(&e),
                    "dropped a request that is not JSON",
                );
                return;
            }
        };
        let Some((id, reply_to)) = reply_address(&value) else {
            warn_limited!(
                "request",
                bytes = payload.len(),
                "dropped a request without a string `id` (at most {MAX_REQUEST_ID_LEN} bytes) \
                 and a valid `replyTo`"
            );
            return;
        };
        let outcome = match serde_json::from_value::<Request>(value) {
            Err(e) => Err(Refusal::message(format!("malformed request: {e}"))),
            Ok(request) if is_expired(request.expires_at_ms) => Err(Refusal::message(
                "the request expired before it was handled",
            )),
            Ok(request) => match from_agent
                .map(|agent| agent_requests::check(agent, &request, self.state.snapshots()))
            {
                Some(Err(refusal)) => Err(refusal),
                _ => match (&request.op, from_agent) {
                    (RequestOp::SubscribeEvents { .. } | RequestOp::CancelEvents { .. }, _) => {
                        self.events_request(from_agent, &request)
                    }
                    _ => self.handle(&request.op).await,
                },
            },
        };
        let outcome = match outcome {
            Ok(body) => ResponseOutcome::Ok(body),
            Err(refusal) => {
                // The refusal quotes the request (serde errors, names): excerpts only.
                info_limited!(
                    "refusal",
                    id = %excerpt(&id),
                    %reply_to,
                    refusal = %excerpt(&refusal),
                    "refused",
                );
                ResponseOutcome::Error {
                    message: refusal.message,
                    errors: refusal.errors,
                }
            }
        };
        let response = Response { id, outcome };
        match self.publisher.response(&reply_to, &response).await {
            Ok(()) => {}
            Err(PublishError::Bus {
                source: BusError::TooLarge { size, limit, .. },
                ..
            }) => {
                // A `getState` of a large state: say so instead of leaving the client waiting.
                let message = format!(
                    "the response would be {} ({size} bytes), over the {} the broker accepts \
                     (--max-message-size); ask for less with field masks",
                    human_size(size),
                    human_size(limit)
                );
                warn!(%reply_to, "{message}");
                let refusal = Response {
                    id: response.id,
                    outcome: ResponseOutcome::Error {
                        message,
                        errors: Vec::new(),
                    },
                };
                if let Err(e) = self.publisher.response(&reply_to, &refusal).await {
                    warn!("response not sent: {e:#}");
                }
            }
            Err(e) => warn!("response not sent: {e:#}"),
        }
    }

    async fn handle(&mut self, op: &RequestOp) -> Result<ResponseBody, Refusal> {
        if let RequestOp::GetState { masks } = op {
            let complete_state = get_state(&self.state, &self.observed, masks)?;
            return Ok(ResponseBody::State { complete_state });
        }
        if let RequestOp::LogTargets { instances } = op {
            // As Ankaios (§8.5): only instances of the rendered desired state are log targets.
            let instances = log_targets(&self.state, instances);
            return Ok(ResponseBody::Instances { instances });
        }
        // Both parts are checked before either is carried out: a refusal changes nothing.
        let (op, tags) = agent_tags::split(op, self.observed.agents())?;
        let body = match op {
            Some(op) => self.change(&op).await?,
            None => ResponseBody::Updated {
                generation: self.state.generation(),
                added: Vec::new(),
                updated: Vec::new(),
                deleted: Vec::new(),
            },
        };
        for (agent, tags) in &tags {
            info!(%agent, count = tags.tags.len(), "asked an agent to carry new tags");
            if let Err(e) = self.publisher.agent_tags(agent, tags).await {
                warn!("publishing the tags of agent {agent} failed: {e:#}");
            }
            self.observed.expect_tags(agent, tags);
        }
        Ok(body)
    }

    /// `subscribeEvents` / `cancelEvents`, only on an agent's own request topic (already checked
    /// by `agent_requests.rs`).
    fn events_request(
        &mut self,
        from_agent: Option<&str>,
        request: &Request,
    ) -> Result<ResponseBody, Refusal> {
        let (Some(agent), Some(workload)) = (from_agent, request.on_behalf_of.as_deref()) else {
            return Err(Refusal::message(
                "event subscriptions exist only for control-interface workloads, on an agent's \
                 own request topic",
            ));
        };
        match &request.op {
            RequestOp::SubscribeEvents {
                subscription,
                masks,
            } => {
                let epoch = self
                    .observed
                    .agents()
                    .get(agent)
                    .map(|s| s.epoch)
                    .ok_or_else(|| Refusal::message(format!("agent {agent} is not connected")))?;
                let whole = serde_json::to_value(complete_state(&self.state, &self.observed))
                    .map_err(|e| Refusal::message(format!("cannot encode the state: {e}")))?;
                let first = self.subscriptions.subscribe(
                    agent,
                    workload,
                    subscription,
                    masks,
                    epoch,
                    &whole,
                )?;
                info!(%agent, %workload, "event subscription started");
                Ok(ResponseBody::State {
                    complete_state: first,
                })
            }
            RequestOp::CancelEvents { subscription } => {
                self.subscriptions.cancel(agent, subscription);
                Ok(ResponseBody::State {
                    complete_state: Value::Object(Default::default()),
                })
            }
            _ => Err(Refusal::message("not an event request")),
        }
    }

    /// Carries out a write on the desired state: apply, check sizes, persist, publish.
    async fn change(&mut self, op: &RequestOp) -> Result<ResponseBody, Refusal> {
        let change = apply(&self.state, op)?;
        if change.changed {
            let agents = change.state.changed_agents(&self.state);
            let messages = self
                .publisher
                .change_messages(&change.state, &agents)
                .map_err(|e| Refusal::message(format!("refused: {e:#}")))?;
            let oversized = self.publisher.oversized(&messages);
            if !oversized.is_empty() {
                let reasons: Vec<String> = oversized.iter().map(ToString::to_string).collect();
                return Err(Refusal::message(format!(
                    "refused: {}; nothing changed",
                    reasons.join("; ")
                )));
            }
            persist::save(&self.config.state_dir, &change.state).map_err(|e| {
                warn!("cannot persist the new state: {e:#}");
                Refusal::message(format!(
                    "the new state could not be saved, nothing changed: {}",
                    anyhow::Error::new(e)
                        .chain()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(": ")
                ))
            })?;
            self.state = change.state;
            info!(
                generation = self.state.generation(),
                added = change.added.len(),
                updated = change.updated.len(),
                deleted = change.deleted.len(),
                "accepted a change"
            );
            if let Err(e) = self.publisher.send_all(messages).await {
                warn!("publishing the change failed: {e:#}");
            }
        } else {
            debug!("a request changed nothing");
        }
        Ok(ResponseBody::Updated {
            generation: self.state.generation(),
            added: change.added,
            updated: change.updated,
            deleted: change.deleted,
        })
    }

    /// An agent with a retained snapshot that this state does not know (the state directory was
    /// lost or reset) must not keep running what it holds: it is adopted, and so gets an
    /// explicit empty snapshot.
    async fn adopt_stale_snapshots(&mut self) {
        let retained = match self
            .publisher
            .read_retained(&[self.topics.all_agent_desired()])
            .await
        {
            Ok(retained) => retained,
            Err(e) => {
                warn!("cannot read the retained snapshots to adopt stale agents: {e:#}");
                return;
            }
        };
        let stale: Vec<String> = retained
            .iter()
            .filter_map(|m| match self.topics.parse(&m.topic) {
                Some(Topic::AgentDesired { agent }) => Some(agent),
                _ => None,
            })
            .filter(|agent| !self.state.snapshots().contains_key(agent))
            .collect();
        if stale.is_empty() {
            return;
        }
        info!(
            ?stale,
            "adopting agents with stale snapshots: they get empty snapshots"
        );
        let adopted = self.state.with_agents(&stale);
        match persist::save(&self.config.state_dir, &adopted) {
            Ok(()) => self.state = adopted,
            Err(e) => warn!("cannot persist the adopted agents: {e:#}"),
        }
    }

    async fn publish_everything(&self) {
        if let Err(e) = self.publisher.everything(&self.state).await {
            warn!("publishing the snapshots failed: {e:#}");
        }
    }
}

/// The `id` and `replyTo` of a request, if it can be answered at all: the reply topic is built
/// from `replyTo`, so only a valid client id can name it, and the response repeats `id`, so it is
/// bounded (issue 14).
fn reply_address(request: &Value) -> Option<(String, ClientId)> {
    let id = request
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| id.len() <= MAX_REQUEST_ID_LEN)?;
    let reply_to = request
        .get("replyTo")
        .and_then(Value::as_str)
        .and_then(|r| ClientId::new(r).ok())?;
    Some((id.to_owned(), reply_to))
}

/// Whether `expires_at_ms` (Unix milliseconds) is in the past.
fn is_expired(expires_at_ms: Option<u64>) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    expires_at_ms.is_some_and(|at| at < now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// (case, request, answerable): one row per rule of who can be answered.
    #[test]
    fn issue_14_only_requests_with_a_bounded_id_and_a_valid_reply_to_are_answered() {
        let longest = "i".repeat(MAX_REQUEST_ID_LEN);
        let too_long = "i".repeat(MAX_REQUEST_ID_LEN + 1);
        let huge = "c".repeat(70_000);
        let cases = [
            ("plain", json!({"id": "1", "replyTo": "cli-1"}), true),
            (
                "longest id",
                json!({"id": longest, "replyTo": "cli-1"}),
                true,
            ),
            (
                "id one byte too long",
                json!({"id": too_long, "replyTo": "cli-1"}),
                false,
            ),
            ("no id", json!({"replyTo": "cli-1"}), false),
            ("numeric id", json!({"id": 1, "replyTo": "cli-1"}), false),
            ("no replyTo", json!({"id": "1"}), false),
            (
                "NUL in replyTo",
                json!({"id": "1", "replyTo": "a\u{0}b"}),
                false,
            ),
            (
                "70,000-character replyTo",
                json!({"id": "1", "replyTo": huge}),
                false,
            ),
            ("slash", json!({"id": "1", "replyTo": "a/b"}), false),
            ("plus", json!({"id": "1", "replyTo": "+"}), false),
            ("hash", json!({"id": "1", "replyTo": "#"}), false),
        ];
        for (case, request, answerable) in cases {
            assert_eq!(reply_address(&request).is_some(), answerable, "{case}");
        }
    }
}
