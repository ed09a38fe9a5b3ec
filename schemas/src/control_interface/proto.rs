//! The protobuf messages of Ankaios' control interface (packages `ank_base` and `control_api`),
//! written by hand from the facts (names, field numbers, types) that the Ankaios SDKs' generated
//! descriptors show (docs/control-interface.md). prost's derives encode them, so the build needs
//! no protoc and no build script. Only what the SDKs 1.0.1/1.1.x send or expect is here; the
//! post-1.0.1 `CompleteState.effectiveState` (field 4) is left out, so an SDK 1.x never sees it.
//!
//! No I/O, no policy: framing is `framing.rs`, the JSON mapping `convert.rs`.
// The oneofs mirror the wire as prost-build would generate them; boxing variants would only
// make the conversions harder to read.
#![allow(clippy::large_enum_variant)]

use std::collections::BTreeMap;

/// What a workload writes to its `output` FIFO (`control_api.ToAnkaios`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ToAnkaios {
    /// A Hello or a request.
    #[prost(oneof = "to_ankaios::Content", tags = "1, 3")]
    pub content: Option<to_ankaios::Content>,
}

/// The oneof of [`ToAnkaios`].
pub mod to_ankaios {
    /// `ToAnkaiosEnum`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Content {
        /// The first message of a session.
        #[prost(message, tag = "1")]
        Hello(super::Hello),
        /// Any later message.
        #[prost(message, tag = "3")]
        Request(super::Request),
    }
}

/// `control_api.Hello`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Hello {
    /// A semantic version; its major must be 1.
    #[prost(string, tag = "2")]
    pub protocol_version: String,
}

/// What the agent writes to a workload's `input` FIFO (`control_api.FromAnkaios`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct FromAnkaios {
    /// A response, the handshake's acceptance or the end of the session.
    #[prost(oneof = "from_ankaios::Content", tags = "3, 4, 5")]
    pub content: Option<from_ankaios::Content>,
}

/// The oneof of [`FromAnkaios`].
pub mod from_ankaios {
    /// `FromAnkaiosEnum`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Content {
        /// The answer to a request.
        #[prost(message, tag = "3")]
        Response(super::Response),
        /// The Hello was accepted.
        #[prost(message, tag = "4")]
        ControlInterfaceAccepted(super::ControlInterfaceAccepted),
        /// The session ends, with the reason.
        #[prost(message, tag = "5")]
        ConnectionClosed(super::ConnectionClosed),
    }
}

/// `control_api.ControlInterfaceAccepted`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ControlInterfaceAccepted {}

/// `control_api.ConnectionClosed`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConnectionClosed {
    /// Why, e.g. "Unsupported protocol version '0.7.0'. Currently supported '1'".
    #[prost(string, tag = "1")]
    pub reason: String,
}

/// `ank_base.Request`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    /// Chosen by the workload; echoed in every response.
    #[prost(string, tag = "1")]
    pub request_id: String,
    /// What is asked; absent is answered with an error.
    #[prost(oneof = "request::Content", tags = "2, 3, 4, 5, 6")]
    pub content: Option<request::Content>,
}

/// The oneof of [`Request`].
pub mod request {
    /// `RequestContent`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Content {
        /// Change the desired state (or agent tags).
        #[prost(message, tag = "2")]
        UpdateStateRequest(super::UpdateStateRequest),
        /// Read the complete state, optionally subscribing to its changes.
        #[prost(message, tag = "3")]
        CompleteStateRequest(super::CompleteStateRequest),
        /// Read workloads' logs.
        #[prost(message, tag = "4")]
        LogsRequest(super::LogsRequest),
        /// Stop the logs of the request with the same id.
        #[prost(message, tag = "5")]
        LogsCancelRequest(super::LogsCancelRequest),
        /// Stop the events of the request with the same id.
        #[prost(message, tag = "6")]
        EventsCancelRequest(super::EventsCancelRequest),
    }
}

/// `ank_base.Response`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Response {
    /// The request's id.
    #[prost(string, tag = "1")]
    pub request_id: String,
    /// The answer.
    #[prost(oneof = "response::Content", tags = "3, 4, 5, 6, 7, 8, 9, 10")]
    pub content: Option<response::Content>,
}

/// The oneof of [`Response`].
pub mod response {
    /// `ResponseContent`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Content {
        /// Refused or failed.
        #[prost(message, tag = "3")]
        Error(super::Error),
        /// A state, or with `alteredFields` an event.
        #[prost(message, tag = "4")]
        CompleteStateResponse(super::CompleteStateResponse),
        /// The update was applied (field name `UpdateStateSuccess` on the wire).
        #[prost(message, tag = "5")]
        UpdateStateSuccess(super::UpdateStateSuccess),
        /// The logs request was accepted for these instances.
        #[prost(message, tag = "6")]
        LogsRequestAccepted(super::LogsRequestAccepted),
        /// Log lines.
        #[prost(message, tag = "7")]
        LogEntriesResponse(super::LogEntriesResponse),
        /// One instance's logs ended.
        #[prost(message, tag = "8")]
        LogsStopResponse(super::LogsStopResponse),
        /// The logs were cancelled.
        #[prost(message, tag = "9")]
        LogsCancelAccepted(super::LogsCancelAccepted),
        /// The events were cancelled.
        #[prost(message, tag = "10")]
        EventsCancelAccepted(super::EventsCancelAccepted),
    }
}

/// `ank_base.Error`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Error {
    /// One line, e.g. "Access denied".
    #[prost(string, tag = "1")]
    pub message: String,
}

/// `ank_base.UpdateStateRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UpdateStateRequest {
    /// The parts named by `update_mask` are taken from here.
    #[prost(message, optional, tag = "1")]
    pub new_state: Option<CompleteState>,
    /// Paths without wildcards; empty means the whole desired state.
    #[prost(string, repeated, tag = "2")]
    pub update_mask: Vec<String>,
}

/// `ank_base.UpdateStateSuccess`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UpdateStateSuccess {
    /// `<name>.<id>.<agent>` of new instances.
    #[prost(string, repeated, tag = "1")]
    pub added_workloads: Vec<String>,
    /// `<name>.<id>.<agent>` of removed instances.
    #[prost(string, repeated, tag = "2")]
    pub deleted_workloads: Vec<String>,
}

/// `ank_base.CompleteStateRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CompleteStateRequest {
    /// Paths, `*` matching any one segment; empty means everything.
    #[prost(string, repeated, tag = "1")]
    pub field_mask: Vec<String>,
    /// Keep sending the changes until an EventsCancelRequest.
    #[prost(bool, tag = "2")]
    pub subscribe_for_events: bool,
}

/// `ank_base.CompleteStateResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CompleteStateResponse {
    /// The (masked) state; for an event only the changed fields.
    #[prost(message, optional, tag = "1")]
    pub complete_state: Option<CompleteState>,
    /// Present only in events.
    #[prost(message, optional, tag = "2")]
    pub altered_fields: Option<AlteredFields>,
}

/// `ank_base.AlteredFields`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AlteredFields {
    /// Paths that appeared.
    #[prost(string, repeated, tag = "1")]
    pub added_fields: Vec<String>,
    /// Leaf paths that changed.
    #[prost(string, repeated, tag = "2")]
    pub updated_fields: Vec<String>,
    /// Paths that disappeared.
    #[prost(string, repeated, tag = "3")]
    pub removed_fields: Vec<String>,
}

/// `ank_base.LogsRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogsRequest {
    /// The instances.
    #[prost(message, repeated, tag = "1")]
    pub workload_names: Vec<WorkloadInstanceName>,
    /// Keep streaming.
    #[prost(bool, optional, tag = "2")]
    pub follow: Option<bool>,
    /// The last n lines; -1 means all.
    #[prost(int32, optional, tag = "3")]
    pub tail: Option<i32>,
    /// A time (RFC 3339 or a duration).
    #[prost(string, optional, tag = "4")]
    pub since: Option<String>,
    /// A time (RFC 3339 or a duration).
    #[prost(string, optional, tag = "5")]
    pub until: Option<String>,
}

/// `ank_base.LogsCancelRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogsCancelRequest {}

/// `ank_base.EventsCancelRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EventsCancelRequest {}

/// `ank_base.LogsRequestAccepted`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogsRequestAccepted {
    /// The instances whose logs will come.
    #[prost(message, repeated, tag = "1")]
    pub workload_names: Vec<WorkloadInstanceName>,
}

/// `ank_base.LogEntriesResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogEntriesResponse {
    /// Lines.
    #[prost(message, repeated, tag = "1")]
    pub log_entries: Vec<LogEntry>,
}

/// `ank_base.LogEntry`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogEntry {
    /// Whose line.
    #[prost(message, optional, tag = "1")]
    pub workload_name: Option<WorkloadInstanceName>,
    /// The line.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// `ank_base.LogsStopResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogsStopResponse {
    /// Whose logs ended.
    #[prost(message, optional, tag = "1")]
    pub workload_name: Option<WorkloadInstanceName>,
}

/// `ank_base.LogsCancelAccepted`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogsCancelAccepted {}

/// `ank_base.EventsCancelAccepted`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EventsCancelAccepted {}

/// `ank_base.WorkloadInstanceName`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct WorkloadInstanceName {
    /// The workload.
    #[prost(string, tag = "1")]
    pub workload_name: String,
    /// Its agent.
    #[prost(string, tag = "2")]
    pub agent_name: String,
    /// The instance hash.
    #[prost(string, tag = "3")]
    pub id: String,
}

/// `ank_base.CompleteState`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CompleteState {
    /// The desired state.
    #[prost(message, optional, tag = "1")]
    pub desired_state: Option<State>,
    /// Agent → workload → instance hash → state.
    #[prost(message, optional, tag = "2")]
    pub workload_states: Option<WorkloadStatesMap>,
    /// Connected agents.
    #[prost(message, optional, tag = "3")]
    pub agents: Option<AgentMap>,
}

/// `ank_base.WorkloadStatesMap`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkloadStatesMap {
    /// By agent.
    #[prost(btree_map = "string, message", tag = "1")]
    pub agent_state_map: BTreeMap<String, ExecutionsStatesOfWorkload>,
}

/// `ank_base.ExecutionsStatesOfWorkload`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutionsStatesOfWorkload {
    /// By workload name.
    #[prost(btree_map = "string, message", tag = "1")]
    pub wl_name_state_map: BTreeMap<String, ExecutionsStatesForId>,
}

/// `ank_base.ExecutionsStatesForId`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutionsStatesForId {
    /// By instance hash.
    #[prost(btree_map = "string, message", tag = "1")]
    pub id_state_map: BTreeMap<String, ExecutionState>,
}

/// `ank_base.ExecutionState`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutionState {
    /// Free text from the runtime or the agent.
    #[prost(string, optional, tag = "1")]
    pub additional_info: Option<String>,
    /// The state and its sub-state.
    #[prost(oneof = "execution_state::State", tags = "2, 3, 4, 5, 6, 7, 8, 9")]
    pub execution_state_enum: Option<execution_state::State>,
}

/// The oneof of [`ExecutionState`]; each variant carries its sub-state enum as an `i32`.
pub mod execution_state {
    /// `ExecutionStateEnum`.
    #[derive(Clone, Copy, PartialEq, Eq, prost::Oneof)]
    pub enum State {
        /// [`super::AgentDisconnected`].
        #[prost(enumeration = "super::AgentDisconnected", tag = "2")]
        AgentDisconnected(i32),
        /// [`super::Pending`].
        #[prost(enumeration = "super::Pending", tag = "3")]
        Pending(i32),
        /// [`super::Running`].
        #[prost(enumeration = "super::Running", tag = "4")]
        Running(i32),
        /// [`super::Stopping`].
        #[prost(enumeration = "super::Stopping", tag = "5")]
        Stopping(i32),
        /// [`super::Succeeded`].
        #[prost(enumeration = "super::Succeeded", tag = "6")]
        Succeeded(i32),
        /// [`super::Failed`].
        #[prost(enumeration = "super::Failed", tag = "7")]
        Failed(i32),
        /// [`super::NotScheduled`].
        #[prost(enumeration = "super::NotScheduled", tag = "8")]
        NotScheduled(i32),
        /// [`super::Removed`].
        #[prost(enumeration = "super::Removed", tag = "9")]
        Removed(i32),
    }
}

/// `ank_base.AgentMap`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentMap {
    /// By agent name.
    #[prost(btree_map = "string, message", tag = "1")]
    pub agents: BTreeMap<String, AgentAttributes>,
}

/// `ank_base.AgentAttributes`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentAttributes {
    /// Load.
    #[prost(message, optional, tag = "1")]
    pub status: Option<AgentStatus>,
    /// Tags.
    #[prost(message, optional, tag = "2")]
    pub tags: Option<Tags>,
}

/// `ank_base.AgentStatus`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentStatus {
    /// CPU usage.
    #[prost(message, optional, tag = "1")]
    pub cpu_usage: Option<CpuUsage>,
    /// Free memory.
    #[prost(message, optional, tag = "2")]
    pub free_memory: Option<FreeMemory>,
}

/// `ank_base.CpuUsage` (field `cpu_usage` in snake case on the wire too).
#[derive(Clone, PartialEq, prost::Message)]
pub struct CpuUsage {
    /// Percent.
    #[prost(uint32, tag = "1")]
    pub cpu_usage: u32,
}

/// `ank_base.FreeMemory`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FreeMemory {
    /// Bytes.
    #[prost(uint64, tag = "1")]
    pub free_memory: u64,
}

/// `ank_base.State`: a manifest.
#[derive(Clone, PartialEq, prost::Message)]
pub struct State {
    /// `v1` or `v0.1`.
    #[prost(string, tag = "1")]
    pub api_version: String,
    /// Workloads.
    #[prost(message, optional, tag = "2")]
    pub workloads: Option<WorkloadMap>,
    /// Config items.
    #[prost(message, optional, tag = "3")]
    pub configs: Option<ConfigMap>,
}

/// `ank_base.WorkloadMap`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkloadMap {
    /// By name.
    #[prost(btree_map = "string, message", tag = "1")]
    pub workloads: BTreeMap<String, Workload>,
}

/// `ank_base.Workload`: every field optional, because a masked read may return a part.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Workload {
    /// The agent.
    #[prost(string, optional, tag = "1")]
    pub agent: Option<String>,
    /// [`RestartPolicy`].
    #[prost(enumeration = "RestartPolicy", optional, tag = "2")]
    pub restart_policy: Option<i32>,
    /// Dependencies.
    #[prost(message, optional, tag = "3")]
    pub dependencies: Option<Dependencies>,
    /// Tags.
    #[prost(message, optional, tag = "4")]
    pub tags: Option<Tags>,
    /// The runtime.
    #[prost(string, optional, tag = "5")]
    pub runtime: Option<String>,
    /// The runtime's configuration.
    #[prost(string, optional, tag = "6")]
    pub runtime_config: Option<String>,
    /// Access rules.
    #[prost(message, optional, tag = "7")]
    pub control_interface_access: Option<ControlInterfaceAccess>,
    /// Template alias → config key.
    #[prost(message, optional, tag = "8")]
    pub configs: Option<ConfigMappings>,
    /// Workload files.
    #[prost(message, optional, tag = "9")]
    pub files: Option<Files>,
}

/// `ank_base.Tags`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Tags {
    /// Key → value.
    #[prost(btree_map = "string, string", tag = "1")]
    pub tags: BTreeMap<String, String>,
}

/// `ank_base.Dependencies`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dependencies {
    /// Workload → [`AddCondition`].
    #[prost(btree_map = "string, enumeration(AddCondition)", tag = "1")]
    pub dependencies: BTreeMap<String, i32>,
}

/// `ank_base.ControlInterfaceAccess`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ControlInterfaceAccess {
    /// Allowed.
    #[prost(message, repeated, tag = "1")]
    pub allow_rules: Vec<AccessRightsRule>,
    /// Denied, even if allowed.
    #[prost(message, repeated, tag = "2")]
    pub deny_rules: Vec<AccessRightsRule>,
}

/// `ank_base.AccessRightsRule`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AccessRightsRule {
    /// A state or a log rule.
    #[prost(oneof = "access_rights_rule::Rule", tags = "1, 2")]
    pub access_rights_rule_enum: Option<access_rights_rule::Rule>,
}

/// The oneof of [`AccessRightsRule`].
pub mod access_rights_rule {
    /// `AccessRightsRuleEnum`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Rule {
        /// [`super::StateRule`].
        #[prost(message, tag = "1")]
        StateRule(super::StateRule),
        /// [`super::LogRule`].
        #[prost(message, tag = "2")]
        LogRule(super::LogRule),
    }
}

/// `ank_base.StateRule`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StateRule {
    /// [`ReadWriteEnum`].
    #[prost(enumeration = "ReadWriteEnum", tag = "1")]
    pub operation: i32,
    /// Masks.
    #[prost(string, repeated, tag = "2")]
    pub filter_masks: Vec<String>,
}

/// `ank_base.LogRule`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRule {
    /// Names with at most one `*`.
    #[prost(string, repeated, tag = "1")]
    pub workload_names: Vec<String>,
}

/// `ank_base.ConfigMappings`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfigMappings {
    /// Alias → config key.
    #[prost(btree_map = "string, string", tag = "1")]
    pub configs: BTreeMap<String, String>,
}

/// `ank_base.Files`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Files {
    /// The files.
    #[prost(message, repeated, tag = "1")]
    pub files: Vec<File>,
}

/// `ank_base.File`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct File {
    /// Absolute path in the container.
    #[prost(string, tag = "1")]
    pub mount_point: String,
    /// Text or base64.
    #[prost(oneof = "file::Content", tags = "2, 3")]
    pub file_content: Option<file::Content>,
}

/// The oneof of [`File`].
pub mod file {
    /// `FileContent`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Content {
        /// Text.
        #[prost(string, tag = "2")]
        Data(String),
        /// Base64.
        #[prost(string, tag = "3")]
        BinaryData(String),
    }
}

/// `ank_base.ConfigMap`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfigMap {
    /// By key.
    #[prost(btree_map = "string, message", tag = "1")]
    pub configs: BTreeMap<String, ConfigItem>,
}

/// `ank_base.ConfigItem`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfigItem {
    /// A string, an array or an object.
    #[prost(oneof = "config_item::Item", tags = "1, 2, 3")]
    pub config_item_enum: Option<config_item::Item>,
}

/// The oneof of [`ConfigItem`].
pub mod config_item {
    /// `ConfigItemEnum`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Item {
        /// Field `String` on the wire.
        #[prost(string, tag = "1")]
        String(String),
        /// An array.
        #[prost(message, tag = "2")]
        Array(super::ConfigArray),
        /// An object.
        #[prost(message, tag = "3")]
        Object(super::ConfigObject),
    }
}

/// `ank_base.ConfigArray`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfigArray {
    /// The items.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<ConfigItem>,
}

/// `ank_base.ConfigObject`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfigObject {
    /// By key.
    #[prost(btree_map = "string, message", tag = "1")]
    pub fields: BTreeMap<String, ConfigItem>,
}

/// `ank_base.AddCondition`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AddCondition {
    /// `ADD_COND_RUNNING`
    AddCondRunning = 0,
    /// `ADD_COND_SUCCEEDED`
    AddCondSucceeded = 1,
    /// `ADD_COND_FAILED`
    AddCondFailed = 2,
}

/// `ank_base.RestartPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum RestartPolicy {
    /// `NEVER`
    Never = 0,
    /// `ON_FAILURE`
    OnFailure = 1,
    /// `ALWAYS`
    Always = 2,
}

/// `ank_base.ReadWriteEnum`; note `RW_READ_WRITE = 5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ReadWriteEnum {
    /// `RW_NOTHING`
    RwNothing = 0,
    /// `RW_READ`
    RwRead = 1,
    /// `RW_WRITE`
    RwWrite = 2,
    /// `RW_READ_WRITE`
    RwReadWrite = 5,
}

/// `ank_base.AgentDisconnected`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AgentDisconnected {
    /// `AGENT_DISCONNECTED`
    AgentDisconnected = 0,
}

/// `ank_base.Pending`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Pending {
    /// `PENDING_INITIAL`
    Initial = 0,
    /// `PENDING_WAITING_TO_START`
    WaitingToStart = 1,
    /// `PENDING_STARTING`
    Starting = 2,
    /// `PENDING_STARTING_FAILED`
    StartingFailed = 8,
}

/// `ank_base.Running`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Running {
    /// `RUNNING_OK`
    Ok = 0,
}

/// `ank_base.Stopping`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Stopping {
    /// `STOPPING`
    Stopping = 0,
    /// `STOPPING_WAITING_TO_STOP`
    WaitingToStop = 1,
    /// `STOPPING_REQUESTED_AT_RUNTIME`
    RequestedAtRuntime = 2,
    /// `STOPPING_DELETE_FAILED`
    DeleteFailed = 8,
}

/// `ank_base.Succeeded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Succeeded {
    /// `SUCCEEDED_OK`
    Ok = 0,
}

/// `ank_base.Failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Failed {
    /// `FAILED_EXEC_FAILED`
    ExecFailed = 0,
    /// `FAILED_UNKNOWN`
    Unknown = 1,
    /// `FAILED_LOST`
    Lost = 2,
}

/// `ank_base.NotScheduled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum NotScheduled {
    /// `NOT_SCHEDULED`
    NotScheduled = 0,
}

/// `ank_base.Removed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Removed {
    /// `REMOVED`
    Removed = 0,
}
