//! Log payloads: a client's requests on `{p}/agents/{agent}/logs/requests` and the agent's stream
//! on `{p}/agents/{agent}/logs/{clientId}`. Never retained.
//!
//! A request names the instances of one agent and opens one stream per instance. A `follow`
//! stream is a lease (issue 14 point 4): it lives while its requester sends `renew` at least
//! every [`LOG_LEASE`] (clients renew every [`LOG_RENEW_INTERVAL`]), and ends at once on a
//! `cancel`. An accepted request gets one `accepted`, and every stream ends with one `stopped`
//! saying why; a refused request gets one `refused` event instead. The limits here are the contract both sides build on; the agent's
//! own caps (streams per agent and per client) are its configuration.

use std::time::Duration;

#[cfg(feature = "json-schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::instance_id::InstanceId;
use crate::log_time::{parse_log_time, LogTimeError};
use crate::names::{name_problem, ClientId};

/// How long a `follow` stream lives after its request or its last renewal.
pub const LOG_LEASE: Duration = Duration::from_secs(10);

/// How often a following client renews its streams: three chances per lease.
pub const LOG_RENEW_INTERVAL: Duration = Duration::from_secs(3);

/// The most instances one request may name.
pub const MAX_LOG_INSTANCES: usize = 64;

/// What a message on the request topic asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum LogOp {
    /// Start streaming the named instances (the default, so older clients keep working).
    #[default]
    Open,
    /// Extend the lease of the `follow` streams of request `id` by [`LOG_LEASE`].
    Renew,
    /// End the streams of request `id` now.
    Cancel,
}

/// A request about the logs of some instances of one agent. `renew` and `cancel` need only
/// `op`, `id` and `clientId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct LogRequest {
    /// Chosen by the client, unique among its open requests; `[A-Za-z0-9_-]`, 1 to 63
    /// characters. Renewals and cancels name it.
    pub id: String,
    /// The client whose log topic receives the stream; validated when the request is decoded,
    /// since it becomes a topic level (issue 14). Only requests with the same client id renew or
    /// cancel its streams.
    pub client_id: ClientId,
    /// What this message asks for.
    #[serde(default)]
    pub op: LogOp,
    /// The instances to read (`open` only), at most [`MAX_LOG_INSTANCES`].
    #[serde(default)]
    pub instance_ids: Vec<InstanceId>,
    /// Keep streaming new lines while the lease is renewed.
    #[serde(default)]
    pub follow: bool,
    /// Only the last N lines; negative or absent means all.
    #[serde(default)]
    pub tail: Option<i64>,
    /// Only lines since this time: RFC 3339, or a duration like `10m` (see [`parse_log_time`]).
    #[serde(default)]
    pub since: Option<String>,
    /// Only lines until this time, in the same forms as `since`.
    #[serde(default)]
    pub until: Option<String>,
}

/// Why a [`LogRequest`] is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogRequestError {
    /// The request id is not a valid name.
    #[error("request id `{id}` {problem}")]
    Id {
        /// The id as received, cut to 64 characters.
        id: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An `open` naming no instance.
    #[error("the request names no instance")]
    NoInstances,
    /// An `open` naming more than [`MAX_LOG_INSTANCES`].
    #[error("the request names {0} instances, the maximum is {MAX_LOG_INSTANCES}")]
    TooManyInstances(usize),
    /// `since` or `until` is not a time we accept.
    #[error("`{field}` value `{value}` {reason}")]
    Time {
        /// `since` or `until`.
        field: &'static str,
        /// The value as received, cut to 64 characters.
        value: String,
        /// What is wrong with it.
        #[source]
        reason: LogTimeError,
    },
}

impl LogRequest {
    /// A request opening streams of `instance_ids` for `client_id`.
    pub fn open(id: &str, client_id: &ClientId, instance_ids: Vec<InstanceId>) -> Self {
        Self {
            id: id.to_owned(),
            client_id: client_id.clone(),
            op: LogOp::Open,
            instance_ids,
            follow: false,
            tail: None,
            since: None,
            until: None,
        }
    }

    /// The renewal of request `id`'s lease.
    pub fn renew(id: &str, client_id: &ClientId) -> Self {
        Self {
            op: LogOp::Renew,
            ..Self::open(id, client_id, Vec::new())
        }
    }

    /// The cancel of request `id`.
    pub fn cancel(id: &str, client_id: &ClientId) -> Self {
        Self {
            op: LogOp::Cancel,
            ..Self::open(id, client_id, Vec::new())
        }
    }

    /// Checks what serde cannot: the request id is a name, and an `open` names 1 to
    /// [`MAX_LOG_INSTANCES`] instances and valid `since`/`until` times (the client id was
    /// checked when it was decoded). The first problem wins.
    pub fn validate(&self) -> Result<(), LogRequestError> {
        if let Some(problem) = name_problem(&self.id) {
            return Err(LogRequestError::Id {
                id: cut(&self.id),
                problem,
            });
        }
        if self.op != LogOp::Open {
            return Ok(());
        }
        match self.instance_ids.len() {
            0 => return Err(LogRequestError::NoInstances),
            n if n > MAX_LOG_INSTANCES => return Err(LogRequestError::TooManyInstances(n)),
            _ => {}
        }
        for (field, value) in [("since", &self.since), ("until", &self.until)] {
            if let Some(value) = value {
                validate_log_time(field, value)?;
            }
        }
        Ok(())
    }
}

/// Checks one `since`/`until` value, naming the field in the error. `ank logs` calls it on its
/// flags, the agent on every request.
pub fn validate_log_time(field: &'static str, value: &str) -> Result<(), LogRequestError> {
    parse_log_time(value)
        .map(|_| ())
        .map_err(|reason| LogRequestError::Time {
            field,
            value: cut(value),
            reason,
        })
}

/// Outside text quoted in an error, bounded so an error message cannot grow with the input.
fn cut(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Why a stream ended, in its `stopped` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum StopReason {
    /// podman's output ended: all lines were sent (no `follow`) or the container exited.
    Ended,
    /// The requester cancelled the request.
    Cancelled,
    /// The requester did not renew the lease within [`LOG_LEASE`].
    LeaseExpired,
    /// The instance does not exist on this agent (any more).
    InstanceGone,
    /// A stream without `follow` reached the agent's bound on lines, bytes or time; the output
    /// is cut.
    Limit,
    /// podman failed; an `error` event came first.
    Failed,
    /// The agent is shutting down.
    Shutdown,
}

/// Why a request was refused, in its `refused` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum RefusalReason {
    /// The request is not valid ([`LogRequest::validate`]).
    Invalid,
    /// The agent already streams its maximum number of streams.
    AgentLimit,
    /// This client already has its maximum number of streams on the agent.
    ClientLimit,
    /// The agent started as many streams as it may in the current window (a bound on how fast
    /// clients make it start `podman logs` processes): try again later.
    RateLimit,
}

/// One event of a log stream, tagged by `event`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
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
    /// The stream of this instance ended; nothing more comes for it.
    Stopped {
        /// Whose stream ended.
        instance_id: InstanceId,
        /// The request the stream belonged to (absent from agents before issue 14).
        #[serde(default)]
        request_id: Option<String>,
        /// Why it ended (absent from agents before issue 14).
        #[serde(default)]
        reason: Option<StopReason>,
    },
    /// podman could not deliver this instance's logs; a `stopped` (reason `failed`) follows.
    Error {
        /// Whose stream failed.
        instance_id: InstanceId,
        /// The request the stream belonged to.
        #[serde(default)]
        request_id: Option<String>,
        /// What went wrong: podman's last stderr line, or the agent's reason.
        message: String,
    },
    /// The request was accepted: one stream per instance runs (Ankaios' `LogsRequestAccepted`).
    /// Sent once, so a client following a quiet workload knows the agent heard it.
    Accepted {
        /// The accepted request.
        request_id: String,
        /// The instances streamed, each ending with its own `stopped`.
        instance_ids: Vec<InstanceId>,
    },
    /// The whole request was refused; no stream was started and no `stopped` follows.
    Refused {
        /// The refused request.
        request_id: String,
        /// Why, for a program.
        reason: RefusalReason,
        /// Why, for a person.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid() -> ClientId {
        ClientId::new("ank-1").unwrap()
    }

    fn id() -> InstanceId {
        InstanceId::compute("w", "a", "podman", "image: x", &[])
    }

    #[test]
    fn log_events_are_tagged_and_camel_case() {
        let e = LogEvent::Line {
            instance_id: id(),
            line: "hello".into(),
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["event"], "line");
        assert_eq!(json["instanceId"], id().to_string());
        assert_eq!(serde_json::from_value::<LogEvent>(json).unwrap(), e);
        let stopped = LogEvent::Stopped {
            instance_id: id(),
            request_id: Some("r1".into()),
            reason: Some(StopReason::LeaseExpired),
        };
        let json = serde_json::to_value(&stopped).unwrap();
        assert_eq!(json["reason"], "leaseExpired");
        assert_eq!(json["requestId"], "r1");
    }

    #[test]
    fn requests_and_stops_of_older_writers_still_decode() {
        let old = format!(
            r#"{{"id":"r1","clientId":"ank-1","instanceIds":["{}"],"follow":true}}"#,
            id()
        );
        let request: LogRequest = serde_json::from_str(&old).unwrap();
        assert_eq!(request.op, LogOp::Open);
        let renew: LogRequest =
            serde_json::from_str(r#"{"id":"r1","clientId":"ank-1","op":"renew"}"#).unwrap();
        assert_eq!(renew, LogRequest::renew("r1", &cid()));
        let stopped = format!(r#"{{"event":"stopped","instanceId":"{}"}}"#, id());
        let event: LogEvent = serde_json::from_str(&stopped).unwrap();
        assert!(matches!(event, LogEvent::Stopped { reason: None, .. }));
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let good = || LogRequest::open("r1", &cid(), vec![id()]);
        let table: Vec<(LogRequest, Option<&str>)> = vec![
            (good(), None),
            (LogRequest::renew("r1", &cid()), None),
            (LogRequest::cancel("r1", &cid()), None),
            (
                LogRequest {
                    since: Some("2026-12-01T20:43:00Z".into()),
                    until: Some("5m".into()),
                    ..good()
                },
                None,
            ),
            (
                LogRequest {
                    since: Some("1e9s".into()),
                    ..good()
                },
                Some("`since` value `1e9s` is neither"),
            ),
            (
                LogRequest {
                    until: Some("0s".into()),
                    ..good()
                },
                Some("`until` value `0s` is a duration outside"),
            ),
            (
                LogRequest::open("r/1", &cid(), vec![id()]),
                Some("request id `r/1` contains '/'"),
            ),
            (
                LogRequest::open("r1", &cid(), Vec::new()),
                Some("names no instance"),
            ),
            (
                LogRequest::open("r1", &cid(), vec![id(); MAX_LOG_INSTANCES + 1]),
                Some("names 65 instances, the maximum is 64"),
            ),
        ];
        for (request, expected) in table {
            match (request.validate(), expected) {
                (Ok(()), None) => {}
                (Err(e), Some(text)) => assert!(e.to_string().contains(text), "{e}"),
                (got, want) => panic!("{request:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn quoted_outside_text_is_bounded() {
        let long = "x".repeat(10_000);
        let e = LogRequest::open(&long, &cid(), vec![id()])
            .validate()
            .unwrap_err();
        assert!(e.to_string().len() < 200, "{e}");
    }
}
