//! The payload of `{p}/agents/{agent}/events`: the controller's pushed changes of the complete
//! state for the event subscriptions agent `agent` holds for its workloads' control interfaces
//! (Ankaios' `subscribeForEvents`, §8.4). Not retained; only the controller writes it and only
//! that agent reads it (ACL). A subscription starts with a `subscribeEvents` request on the
//! agent's request topic, answered with the first masked state.
//!
//! The agent keeps one bounded queue per subscription: a subscriber that does not read loses its
//! subscription with an error (docs/limits.md). No I/O.

#[cfg(feature = "json-schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The most event subscriptions the controller keeps for one agent; more are refused.
pub const MAX_AGENT_SUBSCRIPTIONS: usize = 64;

/// One message for one subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AgentEvent {
    /// The subscription, as the agent named it in `subscribeEvents`.
    pub subscription: String,
    /// A change, or the end of the subscription.
    #[serde(flatten)]
    pub body: AgentEventBody,
}

/// What happened to a subscription, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum AgentEventBody {
    /// The subscribed part of the state changed.
    Event {
        /// Paths present now but not before.
        #[serde(default)]
        added_fields: Vec<String>,
        /// Paths whose value changed.
        #[serde(default)]
        updated_fields: Vec<String>,
        /// Paths present before but not now.
        #[serde(default)]
        removed_fields: Vec<String>,
        /// The new state, narrowed to the added and updated paths.
        complete_state: Value,
    },
    /// The controller ended the subscription (its workload left the agent, its rules no longer
    /// allow the masks, the agent restarted); no more events follow.
    Ended {
        /// Why.
        reason: String,
    },
}
