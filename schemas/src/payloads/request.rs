//! Requests on `{p}/requests` and the controller's responses on `{p}/responses/{clientId}`.
//!
//! RULE: every response has a top-level string field `id`, equal to the request's `id`, because
//! the bus matches replies by it (MQTT 3.1.1 has no correlation data). Requests carry `replyTo`,
//! the client id whose response topic gets the answer.

#[cfg(feature = "json-schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::instance_id::InstanceId;
use crate::manifest::{Manifest, WorkloadSpec};
use crate::names::ClientId;
use crate::validation::ValidationError;

/// The longest request `id` the controller answers: the response repeats it, so an unbounded one
/// would let a request make its own answer too large to publish. The bus's ids are about 20.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// A request to the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// Chosen by the client, unique among its open requests; echoed in the response. At most
    /// [`MAX_REQUEST_ID_LEN`] bytes, or the controller drops the request.
    pub id: String,
    /// The client id whose `{p}/responses/{clientId}` topic gets the response; validated when
    /// the request is decoded, since it becomes a topic level (issue 14).
    pub reply_to: ClientId,
    /// Unix time in milliseconds after which the controller refuses the request (answering "the
    /// request expired before it was handled") instead of carrying it out late.
    #[serde(default)]
    pub expires_at_ms: Option<u64>,
    /// The workload an agent asks for through the control interface. Read only on the agent's
    /// own request topic (`{p}/agents/<agent>/requests`), where the controller re-checks that
    /// workload's access rules; ignored on `{p}/requests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    /// What to do.
    #[serde(flatten)]
    pub op: RequestOp,
}

/// The operation of a request, tagged by `op`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum RequestOp {
    /// Read the complete state, narrowed by field masks (empty: everything).
    GetState {
        /// Field masks; `*` matches any segment.
        #[serde(default)]
        masks: Vec<String>,
    },
    /// Add or replace (or with `delete`, remove) the workloads and configs of a manifest.
    Apply {
        /// The manifest, as parsed by the client.
        manifest: Manifest,
        /// Remove the manifest's workloads instead of applying them (`ank apply -d`).
        #[serde(default)]
        delete: bool,
    },
    /// Replace the parts of the desired state named by `masks` with those of `state`.
    SetState {
        /// Update masks, without wildcards; empty replaces the whole desired state.
        #[serde(default)]
        masks: Vec<String>,
        /// A CompleteState-shaped object, `{desiredState: …}`.
        state: serde_json::Value,
    },
    /// Delete workloads by name.
    DeleteWorkloads {
        /// The workloads.
        names: Vec<String>,
    },
    /// Delete config items by key.
    DeleteConfigs {
        /// The config keys.
        names: Vec<String>,
    },
    /// Add or replace one workload (`ank run workload`).
    RunWorkload {
        /// The workload's name.
        name: String,
        /// The workload.
        workload: WorkloadSpec,
    },
    /// Start an event subscription for a workload's control interface (issue 15): answered
    /// with the masked state (`state`), then the changes are pushed on
    /// `{p}/agents/<agent>/events` as [`crate::AgentEvent`]s. Only on an agent's own request
    /// topic.
    SubscribeEvents {
        /// The agent's name for the subscription, unique among its open ones; at most
        /// [`MAX_REQUEST_ID_LEN`] bytes.
        subscription: String,
        /// Read masks; `*` matches any segment; empty: everything.
        #[serde(default)]
        masks: Vec<String>,
    },
    /// End an event subscription (always allowed, like Ankaios' `EventsCancelRequest`).
    CancelEvents {
        /// The subscription to end.
        subscription: String,
    },
    /// Which of these instances are in the rendered desired state (Ankaios keeps only those
    /// for a `LogsRequest`, §8.5); answered with `instances`. At most
    /// [`crate::MAX_LOG_INSTANCES`] are looked at.
    LogTargets {
        /// The instances a log request names.
        instances: Vec<InstanceId>,
    },
}

/// The controller's answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The request's `id`.
    pub id: String,
    /// `ok` or `error`.
    #[serde(flatten)]
    pub outcome: ResponseOutcome,
}

/// Success or failure, as a single `ok` or `error` key beside `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum ResponseOutcome {
    /// The request was carried out.
    Ok(ResponseBody),
    /// The request was refused; the state is untouched.
    Error {
        /// One line saying why, e.g. "the manifest is invalid" or "access denied".
        #[serde(default)]
        message: String,
        /// Every validation error, when the refusal is about the content.
        #[serde(default)]
        errors: Vec<ValidationError>,
    },
}

/// What a successful request returns, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ResponseBody {
    /// The desired state changed (or was already as asked).
    Updated {
        /// The generation of the new desired state.
        generation: u64,
        /// Instances that are new.
        #[serde(default)]
        added: Vec<InstanceId>,
        /// Instances whose workload changed without needing a new container (same id).
        #[serde(default)]
        updated: Vec<InstanceId>,
        /// Instances that are gone.
        #[serde(default)]
        deleted: Vec<InstanceId>,
    },
    /// The complete state (or the part the masks selected).
    State {
        /// A CompleteState-shaped object.
        complete_state: serde_json::Value,
    },
    /// The instances of a `logTargets` request that are in the desired state, in its order.
    Instances {
        /// Those instances.
        instances: Vec<InstanceId>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_flatten_the_op_beside_id_and_reply_to() {
        let r = Request {
            id: "1".into(),
            reply_to: ClientId::new("cli-1").unwrap(),
            expires_at_ms: Some(5),
            on_behalf_of: None,
            op: RequestOp::DeleteWorkloads {
                names: vec!["nginx".into()],
            },
        };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id":"1","replyTo":"cli-1","expiresAtMs":5,
                "op":"deleteWorkloads","names":["nginx"]})
        );
        assert_eq!(serde_json::from_value::<Request>(json).unwrap(), r);
    }

    #[test]
    fn issue_14_a_request_whose_reply_to_cannot_name_a_topic_does_not_decode() {
        let huge = "a".repeat(70_000);
        for reply_to in ["", "a\0b", "a/b", "+", "#", huge.as_str()] {
            let json = serde_json::json!({"id":"1","replyTo":reply_to,"op":"getState"});
            let err = serde_json::from_value::<Request>(json).unwrap_err();
            assert!(err.to_string().contains("invalid client id"), "{err}");
        }
    }

    #[test]
    fn an_apply_carries_the_manifest_as_json() {
        let json = serde_json::json!({"id":"2","replyTo":"c","op":"apply",
            "manifest":{"apiVersion":"v1","workloads":{}}});
        let r: Request = serde_json::from_value(json).unwrap();
        assert!(matches!(r.op, RequestOp::Apply { delete: false, .. }));
    }

    #[test]
    fn every_response_has_a_top_level_id() {
        let id = InstanceId::compute("w", "a", "podman", "image: x", &[]);
        let responses = [
            ResponseOutcome::Ok(ResponseBody::Updated {
                generation: 3,
                added: vec![id],
                updated: vec![],
                deleted: vec![],
            }),
            ResponseOutcome::Ok(ResponseBody::State {
                complete_state: serde_json::json!({}),
            }),
            ResponseOutcome::Error {
                message: "invalid".into(),
                errors: vec![ValidationError::new(
                    Some("w"),
                    "runtime",
                    "unknown runtime 'x'",
                )],
            },
        ];
        for outcome in responses {
            let r = Response {
                id: "7".into(),
                outcome,
            };
            let json = serde_json::to_value(&r).unwrap();
            assert_eq!(json["id"], "7", "{json}");
            assert!(
                json.get("ok").is_some() != json.get("error").is_some(),
                "{json}"
            );
            assert_eq!(serde_json::from_value::<Response>(json).unwrap(), r);
        }
    }
}
