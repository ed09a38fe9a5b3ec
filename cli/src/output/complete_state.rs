//! The CompleteState document as Ankaios 1.0.1's `ank get state` prints it (issue 16 point 4),
//! so scripts that parse it read ours unchanged: keys in Ankaios' order (desiredState,
//! workloadStates, agents; a workload's agent, restartPolicy, dependencies, tags, runtime,
//! runtimeConfig, controlInterfaceAccess, configs, files) and a workload's or agent's empty
//! `tags`, `dependencies`, `configs`, `files`, `controlInterfaceAccess` (and an access's empty
//! `allowRules`/`denyRules`) left out, as Ankaios
//! leaves them out. The top-level `workloads`, `workloadStates` and `agents` stay even when
//! empty (`{}`), as in Ankaios. Captured from the real binaries: cli/tests/cli/output.rs.
//!
//! Pure: a JSON value in, a value that serializes in that order out.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

/// Where a map sits in the CompleteState, which decides its key order and what is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Root,
    Desired,
    Workloads,
    Workload,
    Agents,
    Agent,
    Access,
    Other,
}

impl Place {
    /// The place of the value under `key` of a map at `self`.
    fn child(self, key: &str) -> Place {
        match (self, key) {
            (Place::Root, "desiredState") => Place::Desired,
            (Place::Root, "agents") => Place::Agents,
            (Place::Desired, "workloads") => Place::Workloads,
            (Place::Workloads, _) => Place::Workload,
            (Place::Agents, _) => Place::Agent,
            (Place::Workload, "controlInterfaceAccess") => Place::Access,
            _ => Place::Other,
        }
    }

    /// Ankaios' key order here; keys not named follow in alphabetical order.
    fn order(self) -> &'static [&'static str] {
        match self {
            Place::Root => &["desiredState", "workloadStates", "agents"],
            Place::Desired => &["apiVersion", "workloads", "configs"],
            Place::Workload => &[
                "agent",
                "restartPolicy",
                "dependencies",
                "tags",
                "runtime",
                "runtimeConfig",
                "controlInterfaceAccess",
                "configs",
                "files",
            ],
            Place::Agent => &["status", "tags"],
            Place::Access => &["allowRules", "denyRules"],
            Place::Workloads | Place::Agents | Place::Other => &[],
        }
    }

    /// Whether Ankaios leaves `value` under `key` out here.
    fn leaves_out(self, key: &str, value: &Value) -> bool {
        let optional = match self {
            Place::Desired => key == "configs",
            Place::Workload => matches!(
                key,
                "tags" | "dependencies" | "configs" | "files" | "controlInterfaceAccess"
            ),
            Place::Agent => key == "tags",
            Place::Access => matches!(key, "allowRules" | "denyRules"),
            _ => false,
        };
        optional && is_empty(value)
    }
}

/// An empty map or list, or a map of only those (an access without rules).
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.values().all(is_empty),
        Value::Array(list) => list.is_empty(),
        _ => false,
    }
}

/// A JSON value whose maps serialize in Ankaios' order, without what Ankaios leaves out.
#[derive(Debug, Clone, PartialEq)]
pub enum Shaped {
    /// A map, its entries in order.
    Map(Vec<(String, Shaped)>),
    /// A list.
    List(Vec<Shaped>),
    /// Anything else, as it is.
    Leaf(Value),
}

/// Shapes a CompleteState (or a part selected by field masks, which keeps its place).
pub fn shape(state: &Value) -> Shaped {
    shape_at(state, Place::Root)
}

fn shape_at(value: &Value, place: Place) -> Shaped {
    match value {
        Value::Object(map) => {
            let order = place.order();
            let rank = |key: &str| order.iter().position(|k| *k == key).unwrap_or(order.len());
            let mut entries: Vec<(&String, &Value)> = map
                .iter()
                .filter(|(key, value)| !place.leaves_out(key, value))
                .collect();
            // Stable: keys Ankaios does not order keep the map's (alphabetical) order.
            entries.sort_by_key(|(key, _)| rank(key));
            Shaped::Map(
                entries
                    .into_iter()
                    .map(|(key, value)| (key.clone(), shape_at(value, place.child(key))))
                    .collect(),
            )
        }
        Value::Array(list) => {
            Shaped::List(list.iter().map(|v| shape_at(v, Place::Other)).collect())
        }
        other => Shaped::Leaf(other.clone()),
    }
}

impl Serialize for Shaped {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Shaped::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
            Shaped::List(list) => serializer.collect_seq(list),
            Shaped::Leaf(value) => value.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(shaped: &Shaped) -> Vec<&str> {
        match shaped {
            Shaped::Map(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    fn child<'a>(shaped: &'a Shaped, key: &str) -> &'a Shaped {
        match shaped {
            Shaped::Map(entries) => &entries.iter().find(|(k, _)| k == key).expect(key).1,
            _ => panic!("not a map"),
        }
    }

    #[test]
    fn issue_16_empty_optional_maps_are_left_out_and_keys_follow_ankaios_order() {
        let state = json!({
            "agents": {"a": {"tags": {}, "status": {"freeMemory": 1, "cpuUsage": 2}}},
            "desiredState": {
                "configs": {},
                "apiVersion": "v1",
                "workloads": {"w": {
                    "tags": {}, "dependencies": {}, "configs": {}, "files": [],
                    "controlInterfaceAccess": {"allowRules": [], "denyRules": []},
                    "runtimeConfig": "x", "runtime": "podman", "restartPolicy": "NEVER",
                    "agent": "a"
                }, "v": {
                    "tags": {"k": "v"}, "dependencies": {"w": "ADD_COND_RUNNING"},
                    "controlInterfaceAccess": {"allowRules": [{"type": "StateRule"}], "denyRules": []},
                    "files": [{"mountPoint": "/f", "data": "d"}], "configs": {"c": "k"},
                    "runtimeConfig": "x", "runtime": "podman", "restartPolicy": "NEVER",
                    "agent": "a"
                }}
            },
            "workloadStates": {}
        });
        let shaped = shape(&state);
        assert_eq!(keys(&shaped), ["desiredState", "workloadStates", "agents"]);
        let desired = child(&shaped, "desiredState");
        assert_eq!(keys(desired), ["apiVersion", "workloads"]);
        let workloads = child(desired, "workloads");
        assert_eq!(
            keys(child(workloads, "w")),
            ["agent", "restartPolicy", "runtime", "runtimeConfig"]
        );
        assert_eq!(
            keys(child(workloads, "v")),
            [
                "agent",
                "restartPolicy",
                "dependencies",
                "tags",
                "runtime",
                "runtimeConfig",
                "controlInterfaceAccess",
                "configs",
                "files"
            ]
        );
        assert_eq!(
            keys(child(child(workloads, "v"), "controlInterfaceAccess")),
            ["allowRules"]
        );
        let agent = child(child(&shaped, "agents"), "a");
        assert_eq!(keys(agent), ["status"]);
        assert_eq!(keys(child(agent, "status")), ["cpuUsage", "freeMemory"]);
        // What the shape keeps of an empty state: Ankaios prints these `{}`.
        let empty = shape(
            &json!({"desiredState": {"apiVersion": "v1", "workloads": {}},
                                  "workloadStates": {}, "agents": {}}),
        );
        assert_eq!(
            serde_json::to_string(&empty).expect("json"),
            r#"{"desiredState":{"apiVersion":"v1","workloads":{}},"workloadStates":{},"agents":{}}"#
        );
    }
}
