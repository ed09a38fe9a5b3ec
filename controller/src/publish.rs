//! The controller's only publisher: every topic it owns is written here, and only through a
//! [`Publisher`], which only this module can build (like kube-runtime's single `Writer`).
//!
//! What it writes (DESIGN.md, topic tree), all QoS 1:
//! - `{p}/controller/status`, retained: the birth `online` (epoch, version, since), the will
//!   `lost` with the same epoch registered with the broker, and `offline` on a clean shutdown;
//! - `{p}/state/desired`, retained: the unrendered desired state and its generation;
//! - `{p}/agents/{agent}/desired`, retained: each agent's snapshot;
//! - `{p}/responses/{clientId}`, not retained: the answer to one request.
//!
//! Payloads are the `ank-schemas` types serialized with serde_json, whose output for the same
//! value is the same bytes: that is what makes a restart republish identical snapshots.

use std::time::SystemTime;

use ank_bus::{new_epoch, Birth, BusError, ConnectOptions, Incoming, Message, Session};
use ank_schemas::{AgentSnapshot, ControllerStatus, Liveness, Response, Topics};
use serde::Serialize;

use crate::desired::Desired;

/// The controller's MQTT client id (there is one controller per topic tree).
pub const CLIENT_ID: &str = "ank-controller";

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The payload could not be encoded (a bug: our types always encode).
    #[error("cannot encode the payload for {topic}")]
    Encode {
        /// The topic it was for.
        topic: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// The session refused it (closed, or an invalid topic).
    #[error("cannot publish to {topic}")]
    Bus {
        /// The topic.
        topic: String,
        /// The bus error.
        #[source]
        source: BusError,
    },
}

/// The handle that publishes the controller's topics; also holds its session's subscriptions.
#[derive(Debug)]
pub struct Publisher {
    session: Session,
    topics: Topics,
    epoch: u64,
}

impl Publisher {
    /// Connects with the controller's birth and will (a fresh epoch) and returns the publisher
    /// and the session's incoming stream. `opts.topics` is the tree it publishes in.
    pub async fn connect(opts: ConnectOptions) -> Result<(Publisher, Incoming), BusError> {
        let topics = opts.topics.clone();
        let epoch = new_epoch();
        let birth = Birth {
            topic: topics.controller_status(),
            online: status_bytes(Liveness::Online, epoch),
            will: status_bytes(Liveness::Lost, epoch),
        };
        let (session, incoming) = Session::connect(opts, Some(birth)).await?;
        Ok((
            Publisher {
                session,
                topics,
                epoch,
            },
            incoming,
        ))
    }

    /// The epoch of this run's birth and will.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Subscribes the session to `filter` (kept across reconnects).
    pub async fn subscribe(&self, filter: &str) -> Result<(), BusError> {
        self.session.subscribe(filter).await
    }

    /// Every retained message under `filters`, read on a separate connection (see ank-bus).
    pub async fn read_retained(&self, filters: &[String]) -> Result<Vec<Message>, BusError> {
        self.session.read_retained(filters).await
    }

    /// Publishes every snapshot of `state`, then the desired state: what a (re)started
    /// controller, or one whose broker may have lost its retained messages, owes the agents.
    pub async fn everything(&self, state: &Desired) -> Result<(), PublishError> {
        for (agent, snapshot) in state.snapshots() {
            self.snapshot(agent, snapshot).await?;
        }
        self.desired_state(state).await
    }

    /// Publishes the snapshots of `agents` in `state`, then the desired state.
    pub async fn changed(&self, state: &Desired, agents: &[String]) -> Result<(), PublishError> {
        let empty = AgentSnapshot {
            generation: state.generation(),
            workloads: Default::default(),
        };
        for agent in agents {
            let snapshot = state.snapshots().get(agent).unwrap_or(&empty);
            self.snapshot(agent, snapshot).await?;
        }
        self.desired_state(state).await
    }

    /// `{p}/agents/{agent}/desired`, retained.
    async fn snapshot(&self, agent: &str, snapshot: &AgentSnapshot) -> Result<(), PublishError> {
        self.send(self.topics.agent_desired(agent), snapshot, true)
            .await
    }

    /// `{p}/state/desired`, retained.
    async fn desired_state(&self, state: &Desired) -> Result<(), PublishError> {
        self.send(self.topics.desired_state(), &state.payload(), true)
            .await
    }

    /// `{p}/responses/{client}`, not retained. `client` must be a valid name (the caller checks
    /// it, since it comes from the bus).
    pub async fn response(&self, client: &str, response: &Response) -> Result<(), PublishError> {
        self.send(self.topics.responses(client), response, false)
            .await
    }

    /// Publishes `offline` on the status topic and disconnects cleanly (the will does not fire).
    pub async fn shutdown(self) {
        self.session
            .shutdown(Some(status_bytes(Liveness::Offline, self.epoch)))
            .await;
    }

    async fn send(
        &self,
        topic: String,
        value: &impl Serialize,
        retain: bool,
    ) -> Result<(), PublishError> {
        let payload = match serde_json::to_vec(value) {
            Ok(payload) => payload,
            Err(source) => return Err(PublishError::Encode { topic, source }),
        };
        self.session
            .publish(&topic, payload, retain)
            .await
            .map_err(|source| PublishError::Bus { topic, source })
    }
}

/// The controller status payload; the will carries the same epoch as the birth.
fn status_bytes(state: Liveness, epoch: u64) -> Vec<u8> {
    // A will says only what a broker can know: lost, and which run it belongs to.
    let lost = state == Liveness::Lost;
    let status = ControllerStatus {
        state,
        epoch,
        version: if lost {
            String::new()
        } else {
            env!("CARGO_PKG_VERSION").to_owned()
        },
        since: (!lost).then(|| humantime::format_rfc3339_seconds(SystemTime::now()).to_string()),
    };
    // A struct of strings and integers always encodes.
    serde_json::to_vec(&status).unwrap_or_default()
}
