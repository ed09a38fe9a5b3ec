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
//!
//! Every retained message has to fit the broker's packet limit (`--max-message-size`): one that
//! does not would be refused by the broker, which closes the connection; the session would
//! re-send it after reconnecting, for ever (issue 14). So a change is first turned into its
//! [`Outgoing`] messages, which the server checks with [`Publisher::oversized`] *before* saving,
//! and then sends exactly those bytes. A state that is already too big (an older version wrote
//! it, or the limit was lowered) is published as far as it fits, and the rest is logged loudly.

use std::fmt;
use std::time::SystemTime;

use ank_bus::{
    new_epoch, publish_packet_size, Birth, BusError, ConnectOptions, Incoming, Message, Session,
};
use ank_schemas::{
    AgentEvent, AgentSnapshot, AgentTags, ClientId, ControllerStatus, Liveness, Response, Topics,
};
use serde::Serialize;

use crate::desired::Desired;

/// The controller's MQTT client id (there is one controller per topic tree).
pub const CLIENT_ID: &str = "controller";

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

/// One retained message the controller owes the bus, encoded: checked first, then sent as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// What it is, for messages: "the desired state", "the snapshot of agent 'agent_A'".
    pub what: String,
    /// Where it goes.
    pub topic: String,
    /// The bytes.
    pub payload: Vec<u8>,
}

/// A message that would be over the broker's limit, and by how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversized {
    /// What it is, e.g. "the desired state".
    pub what: String,
    /// Its topic.
    pub topic: String,
    /// The MQTT packet it would be, in bytes (payload, topic and headers).
    pub size: usize,
    /// The largest packet the broker accepts (`--max-message-size`).
    pub limit: usize,
}

impl fmt::Display for Oversized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) would be {} ({} bytes), over the {} ({} bytes) the broker accepts \
             (--max-message-size)",
            self.what,
            self.topic,
            human_size(self.size),
            self.size,
            human_size(self.limit),
            self.limit
        )
    }
}

/// `1.3 MiB`, `512 KiB`, `900 bytes`: one decimal, none when it is whole.
pub fn human_size(bytes: usize) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    let (value, unit) = if b >= KIB * KIB {
        (b / (KIB * KIB), "MiB")
    } else if b >= KIB {
        (b / KIB, "KiB")
    } else {
        return format!("{bytes} bytes");
    };
    let text = format!("{value:.1}");
    format!("{} {unit}", text.strip_suffix(".0").unwrap_or(&text))
}

/// The handle that publishes the controller's topics; also holds its session's subscriptions.
#[derive(Debug)]
pub struct Publisher {
    session: Session,
    topics: Topics,
    epoch: u64,
    /// The largest packet the broker accepts: `opts.publish_limit`, i.e. `--max-message-size`.
    limit: usize,
}

impl Publisher {
    /// Connects with the controller's birth and will (a fresh epoch) and returns the publisher
    /// and the session's incoming stream. `opts.topics` is the tree it publishes in.
    pub async fn connect(opts: ConnectOptions) -> Result<(Publisher, Incoming), BusError> {
        let topics = opts.topics.clone();
        let limit = opts.publish_packet_limit();
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
                limit,
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

    /// The largest packet the broker accepts, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Every retained message of `state`: each snapshot, then the desired state. What a
    /// (re)started controller, or one whose broker may have lost its retained messages, owes.
    pub fn everything_messages(&self, state: &Desired) -> Result<Vec<Outgoing>, PublishError> {
        let mut messages = Vec::new();
        for (agent, snapshot) in state.snapshots() {
            messages.push(self.snapshot_message(agent, snapshot)?);
        }
        messages.push(self.desired_message(state)?);
        Ok(messages)
    }

    /// The retained messages of a change to `state`: the snapshots of `agents` (empty for an
    /// agent that has none left), then the desired state.
    pub fn change_messages(
        &self,
        state: &Desired,
        agents: &[String],
    ) -> Result<Vec<Outgoing>, PublishError> {
        let empty = AgentSnapshot {
            generation: state.generation(),
            workloads: Default::default(),
        };
        let mut messages = Vec::new();
        for agent in agents {
            let snapshot = state.snapshots().get(agent).unwrap_or(&empty);
            messages.push(self.snapshot_message(agent, snapshot)?);
        }
        messages.push(self.desired_message(state)?);
        Ok(messages)
    }

    /// The messages of `messages` the broker would refuse as too large.
    pub fn oversized(&self, messages: &[Outgoing]) -> Vec<Oversized> {
        messages
            .iter()
            .filter_map(|m| {
                let size = publish_packet_size(m.topic.len(), m.payload.len());
                (size > self.limit).then(|| Oversized {
                    what: m.what.clone(),
                    topic: m.topic.clone(),
                    size,
                    limit: self.limit,
                })
            })
            .collect()
    }

    /// Publishes every retained message of `state` that fits, and logs loudly each one that does
    /// not: the agent concerned keeps what the broker holds, and a request that makes it fit
    /// (a delete) repairs it. Returns the ones left out.
    pub async fn everything(&self, state: &Desired) -> Result<Vec<Oversized>, PublishError> {
        let messages = self.everything_messages(state)?;
        let oversized = self.oversized(&messages);
        for o in &oversized {
            tracing::error!(
                topic = %o.topic,
                size = o.size,
                limit = o.limit,
                "cannot publish the persisted state: {o}; delete workloads or configs to make it fit"
            );
        }
        let fits = messages
            .into_iter()
            .filter(|m| !oversized.iter().any(|o| o.topic == m.topic));
        self.send_all(fits).await?;
        Ok(oversized)
    }

    /// Publishes `messages` retained, in order (checked with [`Publisher::oversized`] first).
    pub async fn send_all(
        &self,
        messages: impl IntoIterator<Item = Outgoing>,
    ) -> Result<(), PublishError> {
        for m in messages {
            self.session
                .publish(&m.topic, m.payload, true)
                .await
                .map_err(|source| PublishError::Bus {
                    topic: m.topic,
                    source,
                })?;
        }
        Ok(())
    }

    /// `{p}/agents/{agent}/desired`.
    fn snapshot_message(
        &self,
        agent: &str,
        snapshot: &AgentSnapshot,
    ) -> Result<Outgoing, PublishError> {
        encode(
            format!("the snapshot of agent '{agent}'"),
            self.topics.agent_desired(agent),
            snapshot,
        )
    }

    /// `{p}/state/desired`.
    fn desired_message(&self, state: &Desired) -> Result<Outgoing, PublishError> {
        encode(
            "the desired state".to_owned(),
            self.topics.desired_state(),
            &state.payload(),
        )
    }

    /// `{p}/responses/{client}`, not retained. A response over the limit (a `getState` of a
    /// large state) is refused by the bus with [`BusError::TooLarge`], nothing sent.
    pub async fn response(
        &self,
        client: &ClientId,
        response: &Response,
    ) -> Result<(), PublishError> {
        self.send(self.topics.responses(client), response, false)
            .await
    }

    /// `{p}/agents/{agent}/tags`, retained, so an agent that reconnects with the same epoch
    /// still finds them (one with another epoch ignores them).
    pub async fn agent_tags(&self, agent: &str, tags: &AgentTags) -> Result<(), PublishError> {
        self.send(self.topics.agent_tags(agent), tags, true).await
    }

    /// `{p}/agents/{agent}/events`, not retained: one pushed event (issue 15).
    pub async fn agent_event(&self, agent: &str, event: &AgentEvent) -> Result<(), PublishError> {
        self.send(self.topics.agent_events(agent), event, false)
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

fn encode(what: String, topic: String, value: &impl Serialize) -> Result<Outgoing, PublishError> {
    match serde_json::to_vec(value) {
        Ok(payload) => Ok(Outgoing {
            what,
            topic,
            payload,
        }),
        Err(source) => Err(PublishError::Encode { topic, source }),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_the_error_promises() {
        let cases = [
            (900, "900 bytes"),
            (1024, "1 KiB"),
            (1536, "1.5 KiB"),
            (1 << 20, "1 MiB"),
            (1_363_149, "1.3 MiB"),
        ];
        for (bytes, text) in cases {
            assert_eq!(human_size(bytes), text, "{bytes}");
        }
        let o = Oversized {
            what: "the desired state".into(),
            topic: "ank/v1/state/desired".into(),
            size: 1_363_149,
            limit: 1 << 20,
        };
        assert_eq!(
            o.to_string(),
            "the desired state (ank/v1/state/desired) would be 1.3 MiB (1363149 bytes), over the \
             1 MiB (1048576 bytes) the broker accepts (--max-message-size)"
        );
    }
}
