//! Every MQTT payload of ankmq, as JSON with camelCase keys (docs/topics.md has the topics).
//!
//! Compatibility rule: payloads do not deny unknown fields, so a reader keeps working when a
//! newer writer adds one; new fields get a default. Refusing unknown keys is for manifests that
//! users write (`parse.rs`), not for machine-written payloads.

mod agent_tags;
mod complete_state;
mod desired;
mod events;
mod logs;
mod request;
mod status;
mod workload_state;

pub use agent_tags::{
    validate_agent_tags, AgentTags, AgentTagsError, MAX_AGENT_TAGS, MAX_AGENT_TAG_LEN,
};
pub use complete_state::{AgentEntry, AgentLoad, CompleteState, WorkloadStateEntry};
pub use desired::{AgentSnapshot, DesiredStatePayload, DesiredWorkload};
pub use events::{AgentEvent, AgentEventBody, MAX_AGENT_SUBSCRIPTIONS};
pub use logs::{
    validate_log_time, LogEvent, LogOp, LogRequest, LogRequestError, RefusalReason, StopReason,
    LOG_LEASE, LOG_RENEW_INTERVAL, MAX_LOG_INSTANCES,
};
pub use request::{
    Request, RequestOp, Response, ResponseBody, ResponseOutcome, MAX_REQUEST_ID_LEN,
};
pub use status::{AgentStatus, ControllerStatus, Liveness, Resources};
pub use workload_state::WorkloadStatePayload;
