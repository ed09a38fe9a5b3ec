//! The mapping between the control interface's protobuf messages and ankmq's JSON forms of the
//! complete state and the manifest (`payloads/complete_state.rs`, `manifest.rs`).
//!
//! Both directions work on JSON *values*, not on the typed structs, because masked reads and
//! updates carry parts of a state: a workload with only its `agent`, a state without
//! `desiredState`. Field names are the same on both sides (camelCase); what differs is protobuf's
//! wrappers (`WorkloadMap{workloads}`, `Tags{tags}`, `ConfigMap{configs}`…), its enums
//! (`RestartPolicy`, `AddCondition`, `ReadWriteEnum`) and the `ExecutionState` oneof, whose
//! variant is the state and whose enum value is the sub-state. A value of an unexpected shape is
//! left out rather than guessed; the controller validates whatever arrives. No I/O.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::proto;
use crate::state::{ExecutionState, StateKind};

/// ankmq's JSON names (the same as Ankaios' manifest names) of the proto enums.
const RESTART_POLICIES: [(&str, proto::RestartPolicy); 3] = [
    ("NEVER", proto::RestartPolicy::Never),
    ("ON_FAILURE", proto::RestartPolicy::OnFailure),
    ("ALWAYS", proto::RestartPolicy::Always),
];
const ADD_CONDITIONS: [(&str, proto::AddCondition); 3] = [
    ("ADD_COND_RUNNING", proto::AddCondition::AddCondRunning),
    ("ADD_COND_SUCCEEDED", proto::AddCondition::AddCondSucceeded),
    ("ADD_COND_FAILED", proto::AddCondition::AddCondFailed),
];

/// The proto form of a (possibly masked) complete state in ankmq's JSON form.
pub fn complete_state_to_proto(state: &Value) -> proto::CompleteState {
    proto::CompleteState {
        desired_state: state.get("desiredState").map(state_to_proto),
        workload_states: state.get("workloadStates").map(workload_states_to_proto),
        agents: state.get("agents").map(agents_to_proto),
    }
}

/// The JSON form of a proto complete state (the `newState` of an update). Absent parts stay
/// absent, so an update mask can name what it replaces.
pub fn complete_state_from_proto(state: &proto::CompleteState) -> Value {
    let mut out = Map::new();
    if let Some(desired) = &state.desired_state {
        out.insert("desiredState".into(), state_from_proto(desired));
    }
    if let Some(agents) = &state.agents {
        let agents: Map<String, Value> = agents
            .agents
            .iter()
            .map(|(name, a)| {
                let mut entry = Map::new();
                if let Some(tags) = &a.tags {
                    entry.insert("tags".into(), json!(tags.tags));
                }
                if let Some(status) = &a.status {
                    entry.insert(
                        "status".into(),
                        json!({
                            "cpuUsage": status.cpu_usage.as_ref().map_or(0, |c| c.cpu_usage),
                            "freeMemory": status.free_memory.as_ref().map_or(0, |f| f.free_memory),
                        }),
                    );
                }
                (name.clone(), Value::Object(entry))
            })
            .collect();
        out.insert("agents".into(), Value::Object(agents));
    }
    // workloadStates are the agents' to report: an update never carries them.
    Value::Object(out)
}

fn strings(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn str_field(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn state_to_proto(state: &Value) -> proto::State {
    proto::State {
        api_version: str_field(state, "apiVersion").unwrap_or_default(),
        workloads: state
            .get("workloads")
            .and_then(Value::as_object)
            .map(|m| proto::WorkloadMap {
                workloads: m
                    .iter()
                    .map(|(k, w)| (k.clone(), workload_to_proto(w)))
                    .collect(),
            }),
        configs: state
            .get("configs")
            .and_then(Value::as_object)
            .map(|m| proto::ConfigMap {
                configs: m
                    .iter()
                    .map(|(k, v)| (k.clone(), config_item_to_proto(v)))
                    .collect(),
            }),
    }
}

fn workload_to_proto(w: &Value) -> proto::Workload {
    proto::Workload {
        agent: str_field(w, "agent"),
        restart_policy: w
            .get("restartPolicy")
            .and_then(Value::as_str)
            .and_then(|p| RESTART_POLICIES.iter().find(|(name, _)| *name == p))
            .map(|(_, p)| *p as i32),
        dependencies: w.get("dependencies").map(|d| proto::Dependencies {
            dependencies: strings(Some(d))
                .into_iter()
                .filter_map(|(k, v)| {
                    let (_, c) = ADD_CONDITIONS.iter().find(|(name, _)| *name == v)?;
                    Some((k, *c as i32))
                })
                .collect(),
        }),
        tags: w.get("tags").map(|t| proto::Tags {
            tags: strings(Some(t)),
        }),
        runtime: str_field(w, "runtime"),
        runtime_config: str_field(w, "runtimeConfig"),
        control_interface_access: w.get("controlInterfaceAccess").map(|a| {
            proto::ControlInterfaceAccess {
                allow_rules: rules_to_proto(a.get("allowRules")),
                deny_rules: rules_to_proto(a.get("denyRules")),
            }
        }),
        configs: w.get("configs").map(|c| proto::ConfigMappings {
            configs: strings(Some(c)),
        }),
        files: w
            .get("files")
            .and_then(Value::as_array)
            .map(|files| proto::Files {
                files: files
                    .iter()
                    .map(|f| proto::File {
                        mount_point: str_field(f, "mountPoint").unwrap_or_default(),
                        file_content: match (str_field(f, "data"), str_field(f, "binaryData")) {
                            (Some(d), _) => Some(proto::file::Content::Data(d)),
                            (None, Some(b)) => Some(proto::file::Content::BinaryData(b)),
                            (None, None) => None,
                        },
                    })
                    .collect(),
            }),
    }
}

fn rules_to_proto(rules: Option<&Value>) -> Vec<proto::AccessRightsRule> {
    let Some(rules) = rules.and_then(Value::as_array) else {
        return Vec::new();
    };
    let list = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    rules
        .iter()
        .filter_map(|r| {
            let rule = match r.get("type").and_then(Value::as_str)? {
                "StateRule" => proto::access_rights_rule::Rule::StateRule(proto::StateRule {
                    operation: match r.get("operation").and_then(Value::as_str) {
                        Some("Read") => proto::ReadWriteEnum::RwRead,
                        Some("Write") => proto::ReadWriteEnum::RwWrite,
                        Some("ReadWrite") => proto::ReadWriteEnum::RwReadWrite,
                        _ => proto::ReadWriteEnum::RwNothing,
                    } as i32,
                    filter_masks: list(r.get("filterMasks")),
                }),
                "LogRule" => proto::access_rights_rule::Rule::LogRule(proto::LogRule {
                    workload_names: list(r.get("workloadNames")),
                }),
                _ => return None,
            };
            Some(proto::AccessRightsRule {
                access_rights_rule_enum: Some(rule),
            })
        })
        .collect()
}

fn config_item_to_proto(v: &Value) -> proto::ConfigItem {
    use proto::config_item::Item;
    let item = match v {
        Value::String(s) => Some(Item::String(s.clone())),
        Value::Array(a) => Some(Item::Array(proto::ConfigArray {
            values: a.iter().map(config_item_to_proto).collect(),
        })),
        Value::Object(o) => Some(Item::Object(proto::ConfigObject {
            fields: o
                .iter()
                .map(|(k, v)| (k.clone(), config_item_to_proto(v)))
                .collect(),
        })),
        _ => None,
    };
    proto::ConfigItem {
        config_item_enum: item,
    }
}

fn config_item_from_proto(item: &proto::ConfigItem) -> Value {
    use proto::config_item::Item;
    match &item.config_item_enum {
        Some(Item::String(s)) => Value::String(s.clone()),
        Some(Item::Array(a)) => Value::Array(a.values.iter().map(config_item_from_proto).collect()),
        Some(Item::Object(o)) => Value::Object(
            o.fields
                .iter()
                .map(|(k, v)| (k.clone(), config_item_from_proto(v)))
                .collect(),
        ),
        None => Value::Null,
    }
}

fn state_from_proto(state: &proto::State) -> Value {
    let mut out = Map::new();
    let api_version = if state.api_version.is_empty() {
        "v1"
    } else {
        state.api_version.as_str()
    };
    out.insert("apiVersion".into(), json!(api_version));
    if let Some(workloads) = &state.workloads {
        let map: Map<String, Value> = workloads
            .workloads
            .iter()
            .map(|(k, w)| (k.clone(), workload_from_proto(w)))
            .collect();
        out.insert("workloads".into(), Value::Object(map));
    }
    if let Some(configs) = &state.configs {
        let map: Map<String, Value> = configs
            .configs
            .iter()
            .map(|(k, v)| (k.clone(), config_item_from_proto(v)))
            .collect();
        out.insert("configs".into(), Value::Object(map));
    }
    Value::Object(out)
}

fn workload_from_proto(w: &proto::Workload) -> Value {
    let mut out = Map::new();
    if let Some(agent) = &w.agent {
        out.insert("agent".into(), json!(agent));
    }
    if let Some(runtime) = &w.runtime {
        out.insert("runtime".into(), json!(runtime));
    }
    if let Some(config) = &w.runtime_config {
        out.insert("runtimeConfig".into(), json!(config));
    }
    if let Some(policy) = w
        .restart_policy
        .and_then(|p| proto::RestartPolicy::try_from(p).ok())
    {
        if let Some((name, _)) = RESTART_POLICIES.iter().find(|(_, p)| *p == policy) {
            out.insert("restartPolicy".into(), json!(name));
        }
    }
    if let Some(deps) = &w.dependencies {
        let map: Map<String, Value> = deps
            .dependencies
            .iter()
            .filter_map(|(k, c)| {
                let c = proto::AddCondition::try_from(*c).ok()?;
                let (name, _) = ADD_CONDITIONS.iter().find(|(_, known)| *known == c)?;
                Some((k.clone(), json!(name)))
            })
            .collect();
        out.insert("dependencies".into(), Value::Object(map));
    }
    if let Some(tags) = &w.tags {
        out.insert("tags".into(), json!(tags.tags));
    }
    if let Some(configs) = &w.configs {
        out.insert("configs".into(), json!(configs.configs));
    }
    if let Some(files) = &w.files {
        let files: Vec<Value> = files
            .files
            .iter()
            .map(|f| match &f.file_content {
                Some(proto::file::Content::Data(d)) => {
                    json!({"mountPoint": f.mount_point, "data": d})
                }
                Some(proto::file::Content::BinaryData(b)) => {
                    json!({"mountPoint": f.mount_point, "binaryData": b})
                }
                None => json!({"mountPoint": f.mount_point}),
            })
            .collect();
        out.insert("files".into(), Value::Array(files));
    }
    if let Some(access) = &w.control_interface_access {
        out.insert(
            "controlInterfaceAccess".into(),
            json!({
                "allowRules": rules_from_proto(&access.allow_rules),
                "denyRules": rules_from_proto(&access.deny_rules),
            }),
        );
    }
    Value::Object(out)
}

fn rules_from_proto(rules: &[proto::AccessRightsRule]) -> Vec<Value> {
    use proto::access_rights_rule::Rule;
    rules
        .iter()
        .filter_map(|r| match r.access_rights_rule_enum.as_ref()? {
            Rule::StateRule(s) => {
                let operation = match proto::ReadWriteEnum::try_from(s.operation) {
                    Ok(proto::ReadWriteEnum::RwRead) => "Read",
                    Ok(proto::ReadWriteEnum::RwWrite) => "Write",
                    Ok(proto::ReadWriteEnum::RwReadWrite) => "ReadWrite",
                    _ => "Nothing",
                };
                Some(json!({"type": "StateRule", "operation": operation,
                    "filterMasks": s.filter_masks}))
            }
            Rule::LogRule(l) => Some(json!({"type": "LogRule", "workloadNames": l.workload_names})),
        })
        .collect()
}

fn workload_states_to_proto(v: &Value) -> proto::WorkloadStatesMap {
    let objects = |v: &Value| v.as_object().cloned().unwrap_or_default();
    proto::WorkloadStatesMap {
        agent_state_map: objects(v)
            .iter()
            .map(|(agent, by_name)| {
                let wl_name_state_map = objects(by_name)
                    .iter()
                    .map(|(name, by_id)| {
                        let id_state_map = objects(by_id)
                            .iter()
                            .filter_map(|(id, s)| Some((id.clone(), execution_state_to_proto(s)?)))
                            .collect();
                        (name.clone(), proto::ExecutionsStatesForId { id_state_map })
                    })
                    .collect();
                (
                    agent.clone(),
                    proto::ExecutionsStatesOfWorkload { wl_name_state_map },
                )
            })
            .collect(),
    }
}

/// `{state, subState, additionalInfo}` → the proto oneof; `None` for a masked part without a
/// readable state (e.g. only `additionalInfo` was asked for: kept with no state).
fn execution_state_to_proto(v: &Value) -> Option<proto::ExecutionState> {
    use proto::execution_state::State as S;
    let additional_info = str_field(v, "additionalInfo");
    let state = serde_json::from_value::<ExecutionState>(v.clone()).ok();
    let Some(state) = state else {
        return additional_info.map(|info| proto::ExecutionState {
            additional_info: Some(info),
            execution_state_enum: None,
        });
    };
    let sub = state.sub_state_name();
    let state_enum = match state.kind() {
        StateKind::AgentDisconnected => S::AgentDisconnected(0),
        StateKind::NotScheduled => S::NotScheduled(0),
        StateKind::Removed => S::Removed(0),
        StateKind::Running => S::Running(0),
        StateKind::Succeeded => S::Succeeded(0),
        StateKind::Pending => S::Pending(match sub {
            "WaitingToStart" => proto::Pending::WaitingToStart,
            "Starting" => proto::Pending::Starting,
            "StartingFailed" => proto::Pending::StartingFailed,
            _ => proto::Pending::Initial,
        } as i32),
        StateKind::Stopping => S::Stopping(match sub {
            "WaitingToStop" => proto::Stopping::WaitingToStop,
            "RequestedAtRuntime" => proto::Stopping::RequestedAtRuntime,
            "DeleteFailed" => proto::Stopping::DeleteFailed,
            _ => proto::Stopping::Stopping,
        } as i32),
        StateKind::Failed => S::Failed(match sub {
            "Unknown" => proto::Failed::Unknown,
            "Lost" => proto::Failed::Lost,
            _ => proto::Failed::ExecFailed,
        } as i32),
    };
    Some(proto::ExecutionState {
        additional_info: Some(additional_info.unwrap_or_default()),
        execution_state_enum: Some(state_enum),
    })
}

fn agents_to_proto(v: &Value) -> proto::AgentMap {
    proto::AgentMap {
        agents: v
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(name, a)| {
                        let status = a.get("status").map(|s| proto::AgentStatus {
                            cpu_usage: s.get("cpuUsage").and_then(Value::as_u64).map(|c| {
                                proto::CpuUsage {
                                    cpu_usage: u32::try_from(c).unwrap_or(u32::MAX),
                                }
                            }),
                            free_memory: s
                                .get("freeMemory")
                                .and_then(Value::as_u64)
                                .map(|f| proto::FreeMemory { free_memory: f }),
                        });
                        let tags = a.get("tags").map(|t| proto::Tags {
                            tags: strings(Some(t)),
                        });
                        (name.clone(), proto::AgentAttributes { status, tags })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        json!({
            "desiredState": {
                "apiVersion": "v1",
                "workloads": {
                    "nginx": {
                        "agent": "agent_A",
                        "runtime": "podman",
                        "runtimeConfig": "image: nginx",
                        "restartPolicy": "ON_FAILURE",
                        "dependencies": {"db": "ADD_COND_RUNNING"},
                        "tags": {"owner": "me"},
                        "configs": {"port": "web_port"},
                        "files": [{"mountPoint": "/a", "data": "x"}, {"mountPoint": "/b", "binaryData": "eA=="}],
                        "controlInterfaceAccess": {
                            "allowRules": [
                                {"type": "StateRule", "operation": "ReadWrite", "filterMasks": ["desiredState"]},
                                {"type": "LogRule", "workloadNames": ["a*"]}
                            ],
                            "denyRules": []
                        }
                    }
                },
                "configs": {"web_port": "80", "list": ["a", {"b": "c"}]}
            },
            "workloadStates": {
                "agent_A": {"nginx": {"abc": {"state": "Pending", "subState": "StartingFailed", "additionalInfo": "boom"}}}
            },
            "agents": {"agent_A": {"status": {"cpuUsage": 3, "freeMemory": 100}, "tags": {"k": "v"}}}
        })
    }

    #[test]
    fn the_desired_state_and_agents_survive_a_round_trip_through_proto() {
        let proto = complete_state_to_proto(&sample());
        let bytes = prost::Message::encode_to_vec(&proto);
        let decoded: proto::CompleteState = prost::Message::decode(bytes.as_slice()).unwrap();
        let back = complete_state_from_proto(&decoded);
        assert_eq!(back["desiredState"], sample()["desiredState"]);
        assert_eq!(back["agents"], sample()["agents"]);
        assert!(back.get("workloadStates").is_none());
    }

    #[test]
    fn execution_states_map_onto_the_proto_oneof_with_ankaios_enum_values() {
        let proto = complete_state_to_proto(&sample());
        let state = &proto.workload_states.unwrap().agent_state_map["agent_A"].wl_name_state_map
            ["nginx"]
            .id_state_map["abc"];
        assert_eq!(
            state.execution_state_enum,
            Some(proto::execution_state::State::Pending(8))
        );
        assert_eq!(state.additional_info.as_deref(), Some("boom"));
    }

    #[test]
    fn a_masked_part_converts_without_the_rest() {
        let part = json!({"desiredState": {"workloads": {"nginx": {"agent": "agent_B"}}}});
        let proto = complete_state_to_proto(&part);
        let w = &proto.desired_state.unwrap().workloads.unwrap().workloads["nginx"];
        assert_eq!(w.agent.as_deref(), Some("agent_B"));
        assert_eq!(w.runtime, None);
        assert!(proto.agents.is_none());
    }
}
