//! `ank-schemas`: the contract of ankmq. No I/O, no tokio, no MQTT client.
//!
//! Layout:
//! - [`topics`]: every MQTT topic, built from the prefix and parsed back.
//! - `subscriptions`: which filters each component subscribes to (what the fuzz test hits).
//! - `field_mask`: selecting and replacing parts of a CompleteState by dot-separated masks.
//! - `names`: the name rules (`[A-Za-z0-9_-]`, lengths) and [`ClientId`], a validated topic level.
//! - `manifest`: the manifest types (Ankaios' `State`), also the wire form.
//! - `parse`: manifest text → [`Manifest`], refusing unknown keys with line and suggestion.
//! - [`json`]: the bounds of JSON payloads (size, depth).
//! - [`yaml`]: the one bounded way YAML text is read (size, alias expansion, depth, nodes).
//! - `yaml_tree`: a parsed document whose nodes know their lines, for `parse`.
//! - `validation`: [`ValidationError`] and [`validate`], every rule at once.
//! - `render`: Handlebars rendering of the templated fields, the `indent` partial (feature
//!   `render`, with [`validate`], which renders; the agent, broker and bus do without).
//! - `runtime_kind`: [`RuntimeKind`], the runtimes as a type (unknown ones kept as data).
//! - `runtime_config`: the `runtimeConfig` of `podman` and `podman-kube`.
//! - `runtime_check`: what a runtime requires of a workload, judged by its agent.
//! - `files`: the workload-file rules both the controller and the agent apply.
//! - `private_key`: the file-mode rule of private key files (like ssh's), for every binary.
//! - `instance_id`: `<name>.<hash>.<agent>` and what the hash covers.
//! - `state`: execution states, their display, JSON and filters.
//! - [`state_diff`]: what changed between two CompleteStates, as Ankaios' events.
//! - `shown_state`: the state readers show from retained topics (AgentDisconnected & co.).
//! - [`control_interface`]: Ankaios' control interface: protobuf messages, framing, access rules.
//! - `conditions`: add/delete conditions and when a state meets them.
//! - `payloads`: every MQTT payload.
//! - `log_time`: the `since`/`until` rule of log requests, shared by `ank logs` and the agent.
//! - `tag_arg`: the `KEY=VALUE` tag of command lines.
//! - `json_schema`: the JSON Schemas generated from these types (committed in `schemas/json/`;
//!   feature `json-schema`, which no binary needs: only this crate's test and example).
//!
//! Features (both on by default for this crate's own tests; the workspace declares it with
//! `default-features = false`, so each crate names what it uses): `render` (handlebars) for the
//! controller, `ank` and the system tests; `json-schema` (schemars) for nobody else.
#![warn(missing_docs)]

mod conditions;
pub mod control_interface;
mod field_mask;
mod files;
mod instance_id;
pub mod json;
#[cfg(feature = "json-schema")]
pub mod json_schema;
mod log_time;
mod manifest;
mod names;
mod parse;
mod payloads;
mod private_key;
#[cfg(feature = "render")]
mod render;
mod runtime_check;
mod runtime_config;
mod runtime_kind;
mod shown_state;
mod state;
pub mod state_diff;
mod subscriptions;
mod suggest;
mod tag_arg;
pub mod topics;
mod validation;
pub mod yaml;
mod yaml_tree;

pub use conditions::{AddCondition, DeleteCondition};
pub use field_mask::{select, update, FieldMask, MaskError};
pub use files::{check_mount_point, file_bytes, FileProblem};
pub use instance_id::{InstanceId, InvalidInstanceId};
pub use log_time::{parse_log_time, LogTime, LogTimeError, MAX_LOG_DURATION, MAX_LOG_TIME_LEN};
pub use manifest::{
    AccessRule, ApiVersion, ConfigItem, ControlInterfaceAccess, FileContent, LogRule, Manifest,
    ReadWriteEnum, RestartPolicy, StateRule, WorkloadFile, WorkloadSpec,
};
pub use names::{
    client_id_belongs_to, is_valid_agent, is_valid_name, name_problem, ClientId, InvalidName,
    MAX_NAME_LEN, NAME_CHARSET,
};
pub use parse::{parse_manifest, parse_manifest_json, ParseWarning, ParsedManifest};
pub use payloads::{
    validate_agent_tags, validate_log_time, AgentEntry, AgentEvent, AgentEventBody, AgentLoad,
    AgentSnapshot, AgentStatus, AgentTags, AgentTagsError, CompleteState, ControllerStatus,
    DesiredStatePayload, DesiredWorkload, Liveness, LogEvent, LogOp, LogRequest, LogRequestError,
    RefusalReason, Request, RequestOp, Resources, Response, ResponseBody, ResponseOutcome,
    StopReason, WorkloadStateEntry, WorkloadStatePayload, LOG_LEASE, LOG_RENEW_INTERVAL,
    MAX_AGENT_SUBSCRIPTIONS, MAX_AGENT_TAGS, MAX_AGENT_TAG_LEN, MAX_LOG_INSTANCES,
    MAX_REQUEST_ID_LEN,
};
pub use private_key::{check_private_key_mode, KeyModeError, PRIVATE_KEY_FORBIDDEN_BITS};
#[cfg(feature = "render")]
pub use render::{render, render_workload, RenderedWorkload};
pub use runtime_check::{check_for_runtime, FileBytes, RuntimeProblem, RuntimeReady};
pub use runtime_config::{PodmanConfig, PodmanKubeConfig, RuntimeConfig, RuntimeConfigError};
pub use runtime_kind::RuntimeKind;
pub use shown_state::shown_state;
pub use state::{
    ExecutionState, FailedSubstate, PendingSubstate, RunningSubstate, StateFilter, StateKind,
    StoppingSubstate, SucceededSubstate, UnknownState,
};
pub use tag_arg::parse_tag;
pub use topics::{PrefixError, Topic, Topics, DEFAULT_PREFIX};
pub use validation::{
    dependency_cycles, is_valid_filter_mask, is_valid_workload_pattern, ValidationError,
};
#[cfg(feature = "render")]
pub use validation::{validate, validate_workload};
