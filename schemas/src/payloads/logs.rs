//! Log payloads: a client's request on `{p}/agents/{agent}/logs/requests` and the agent's stream
//! on `{p}/agents/{agent}/logs/{clientId}`. Never retained. A first version: one request names
//! the instances of one agent, and the stream ends with one `stopped` per instance.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::instance_id::InstanceId;
use crate::names::ClientId;

/// A request for the logs of some instances of one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogRequest {
    /// Chosen by the client; events of the stream do not repeat it, the topic names the client.
    pub id: String,
    /// The client whose log topic receives the stream; validated when the request is decoded,
    /// since it becomes a topic level (issue 14).
    pub client_id: ClientId,
    /// The instances to read.
    pub instance_ids: Vec<InstanceId>,
    /// Keep streaming new lines.
    #[serde(default)]
    pub follow: bool,
    /// Only the last N lines; negative or absent means all.
    #[serde(default)]
    pub tail: Option<i64>,
    /// Only lines since this time (RFC 3339 or a podman duration).
    #[serde(default)]
    pub since: Option<String>,
    /// Only lines until this time.
    #[serde(default)]
    pub until: Option<String>,
}

/// One event of a log stream, tagged by `event`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "event",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum LogEvent {
    /// A line of output.
    Line {
        /// Whose line.
        instance_id: InstanceId,
        /// The line, without its line end.
        line: String,
    },
    /// The stream of this instance ended.
    Stopped {
        /// Whose stream ended.
        instance_id: InstanceId,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_events_are_tagged_and_camel_case() {
        let id = InstanceId::compute("w", "a", "podman", "image: x", &[]);
        let e = LogEvent::Line {
            instance_id: id.clone(),
            line: "hello".into(),
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["event"], "line");
        assert_eq!(json["instanceId"], id.to_string());
        assert_eq!(serde_json::from_value::<LogEvent>(json).unwrap(), e);
    }
}
