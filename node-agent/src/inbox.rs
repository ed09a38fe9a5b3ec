//! Decoding bus input: a message on one of the agent's subscriptions becomes an [`Inbound`]
//! value, or is logged briefly and dropped. Every payload is outside input (issue 14), so
//! nothing here panics or trusts a field it has not checked; what to do with a decoded value is
//! the loop's business (`agent_loop.rs`), not this module's.

use std::collections::BTreeSet;

use ank_bus::{Message, WatchEvent};
use ank_schemas::{
    validate_agent_tags, AgentSnapshot, AgentStatus, AgentTags, Liveness, LogRequest, Topic,
    Topics, WorkloadStatePayload,
};

use crate::observed::PeerState;

/// A message the agent acts on.
#[derive(Debug)]
pub enum Inbound {
    /// This agent's desired snapshot, checked to be all its own.
    Snapshot(AgentSnapshot),
    /// The state of a workload a condition of ours names (or our own echo); `None` when the
    /// topic was cleared.
    PeerState {
        /// Whose state topic.
        agent: String,
        /// Which workload.
        workload: String,
        /// What it says.
        state: Option<PeerState>,
    },
    /// A log request addressed to this agent.
    LogRequest(LogRequest),
    /// The tags the controller asks this agent to carry (issue 15), checked against the bounds.
    Tags(AgentTags),
}

/// Decodes `message` for agent `me`, who watches the states of `watched` (agent, workload)
/// besides its own; `None` for anything to drop (logged, rate-limited, if it was unreadable).
pub fn decode(
    topics: &Topics,
    me: &str,
    watched: &BTreeSet<(String, String)>,
    message: &Message,
) -> Option<Inbound> {
    match topics.parse(&message.topic)? {
        Topic::AgentDesired { agent } if agent == me => snapshot(&message.payload, me),
        Topic::WorkloadState { agent, workload } => {
            if agent != me && !watched.contains(&(agent.clone(), workload.clone())) {
                // Unsubscribed a moment ago, or a broker that ignores our filters.
                tracing::debug!(%agent, %workload, "state of a workload no condition names ignored");
                return None;
            }
            let state = if message.payload.is_empty() {
                None
            } else {
                match serde_json::from_slice::<WorkloadStatePayload>(&message.payload) {
                    Ok(p) => Some(PeerState {
                        instance: p.instance_id,
                        state: p.state,
                    }),
                    Err(error) => {
                        ank_bus::warn_limited!(
                            "peer state",
                            topic = %ank_bus::excerpt(&message.topic),
                            error = %ank_bus::excerpt(&error),
                            "unreadable state ignored",
                        );
                        return None;
                    }
                }
            };
            Some(Inbound::PeerState {
                agent,
                workload,
                state,
            })
        }
        Topic::LogRequests { agent } if agent == me => {
            match serde_json::from_slice::<LogRequest>(&message.payload) {
                Ok(request) => Some(Inbound::LogRequest(request)),
                Err(error) => {
                    ank_bus::warn_limited!(
                        "log request",
                        error = %ank_bus::excerpt(&error),
                        "unreadable log request ignored",
                    );
                    None
                }
            }
        }
        Topic::AgentTags { agent } if agent == me => tags(&message.payload),
        _ => None,
    }
}

fn tags(payload: &[u8]) -> Option<Inbound> {
    if payload.is_empty() {
        return None;
    }
    let decoded = serde_json::from_slice::<AgentTags>(payload)
        .map_err(|e| e.to_string())
        .and_then(|t| {
            validate_agent_tags(&t.tags)
                .map(|()| t)
                .map_err(|e| e.to_string())
        });
    match decoded {
        Ok(tags) => Some(Inbound::Tags(tags)),
        Err(error) => {
            ank_bus::warn_limited!(
                "agent tags",
                error = %ank_bus::excerpt(&error),
                "unreadable or oversized agent tags ignored; the tags stay as they are",
            );
            None
        }
    }
}

fn snapshot(payload: &[u8], me: &str) -> Option<Inbound> {
    if payload.is_empty() {
        ank_bus::warn_limited!(
            "snapshot",
            "the desired snapshot was cleared; keeping the workloads as they are"
        );
        return None;
    }
    let snapshot: AgentSnapshot = match serde_json::from_slice(payload) {
        Ok(snapshot) => snapshot,
        Err(error) => {
            ank_bus::warn_limited!(
                "snapshot",
                error = %ank_bus::excerpt(&error),
                "unreadable snapshot ignored; workloads keep running",
            );
            return None;
        }
    };
    if let Err(problem) = validate_snapshot(&snapshot, me) {
        ank_bus::warn_limited!(
            "snapshot",
            problem = %ank_bus::excerpt(&problem),
            "invalid snapshot ignored; workloads keep running",
        );
        return None;
    }
    Some(Inbound::Snapshot(snapshot))
}

/// Checks what serde cannot: every workload is this agent's and named as its key.
fn validate_snapshot(snapshot: &AgentSnapshot, agent: &str) -> Result<(), String> {
    for (name, workload) in &snapshot.workloads {
        let id = &workload.instance_id;
        if id.workload != *name || id.agent != agent {
            return Err(format!(
                "workload `{name}` has the instance id `{id}` of another workload or agent"
            ));
        }
    }
    Ok(())
}

/// How the set of other agents that are not online changes with a status event.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct OfflineChange {
    /// Forget every agent known offline first (a fresh snapshot of all statuses).
    pub reset: bool,
    /// Agents now online (or whose status was cleared).
    pub online: Vec<String>,
    /// Agents now offline or lost, or whose status cannot be read.
    pub offline: Vec<String>,
}

/// Reads the agents' statuses of `event`, skipping `me`.
pub fn statuses(topics: &Topics, me: &str, event: WatchEvent) -> OfflineChange {
    let mut change = OfflineChange::default();
    let messages = match event {
        WatchEvent::Snapshot(messages) => {
            change.reset = true;
            messages
        }
        WatchEvent::Update(message) => vec![message],
        // A fresh snapshot follows the reconnect.
        WatchEvent::Disconnected { .. } => return change,
    };
    for message in messages {
        let Some(Topic::AgentStatus { agent }) = topics.parse(&message.topic) else {
            continue;
        };
        if agent == me {
            continue;
        }
        let online = serde_json::from_slice::<AgentStatus>(&message.payload)
            .is_ok_and(|s| s.state == Liveness::Online);
        if online || message.payload.is_empty() {
            change.online.push(agent);
        } else {
            change.offline.push(agent);
        }
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;
    use ank_schemas::InstanceId;

    fn message(topic: String, payload: &[u8]) -> Message {
        Message {
            topic,
            payload: payload.to_vec(),
            retain: true,
        }
    }

    #[test]
    fn hostile_or_foreign_input_is_dropped_and_good_input_is_typed() {
        let topics = Topics::new("ank/v1").expect("a prefix");
        let watched = BTreeSet::from([("agent_B".to_owned(), "db".to_owned())]);
        let mine = InstanceId::compute("w", "agent_A", "podman", "image: x", &[]);
        let theirs = InstanceId::compute("w", "agent_B", "podman", "image: x", &[]);
        let snap = |id: &InstanceId| {
            format!(
                r#"{{"generation":1,"workloads":{{"w":{{"instanceId":"{id}","runtime":"podman","runtimeConfig":"image: x"}}}}}}"#
            )
        };
        let desired = topics.agent_desired("agent_A");
        // (message, decoded as)
        let table: Vec<(Message, Option<&str>)> = vec![
            (
                message(desired.clone(), snap(&mine).as_bytes()),
                Some("snapshot"),
            ),
            (message(desired.clone(), snap(&theirs).as_bytes()), None),
            (message(desired.clone(), b"{not json"), None),
            (message(desired.clone(), b""), None),
            (
                message(
                    desired.clone(),
                    snap(&mine).replace("podman", "pod/man").as_bytes(),
                ),
                None,
            ),
            (
                message(topics.agent_desired("agent_B"), snap(&theirs).as_bytes()),
                None,
            ),
            (
                message(topics.workload_state("agent_B", "db"), b""),
                Some("peer"),
            ),
            (
                message(topics.workload_state("agent_B", "db"), b"\0\xff"),
                None,
            ),
            (message(topics.workload_state("agent_C", "db"), b""), None),
            (
                message(topics.workload_state("agent_A", "w"), b""),
                Some("peer"),
            ),
            (message("elsewhere/x".into(), b"{}"), None),
            // issue 15: tags the controller sets, only our own, bounded
            (
                message(
                    topics.agent_tags("agent_A"),
                    br#"{"epoch":3,"tags":{"k":"v"}}"#,
                ),
                Some("tags"),
            ),
            (
                message(topics.agent_tags("agent_B"), br#"{"epoch":3,"tags":{}}"#),
                None,
            ),
            (
                message(
                    topics.agent_tags("agent_A"),
                    br#"{"epoch":3,"tags":{"k":1}}"#,
                ),
                None,
            ),
            (
                message(
                    topics.agent_tags("agent_A"),
                    format!(r#"{{"epoch":3,"tags":{{"k":"{}"}}}}"#, "v".repeat(300)).as_bytes(),
                ),
                None,
            ),
            (message(topics.agent_tags("agent_A"), b""), None),
        ];
        for (m, expected) in table {
            let got = match decode(&topics, "agent_A", &watched, &m) {
                Some(Inbound::Snapshot(_)) => Some("snapshot"),
                Some(Inbound::PeerState { .. }) => Some("peer"),
                Some(Inbound::LogRequest(_)) => Some("log"),
                Some(Inbound::Tags(_)) => Some("tags"),
                None => None,
            };
            assert_eq!(got, expected, "{} {:?}", m.topic, m.payload);
        }
    }
}
