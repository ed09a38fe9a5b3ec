use std::path::PathBuf;

use ank_bus::Message;
use ank_cli::state_view::View;
use ank_schemas::{InstanceId, Topics};
use serde_json::{json, Value};

pub const NGINX_CONFIG: &str = "image: docker.io/library/nginx";
pub const DB_CONFIG: &str = "image: localhost/db";
pub const HELLO_CONFIG: &str = "image: localhost/hello";
pub const LATE_CONFIG: &str = "image: localhost/late";
pub const PARKED_CONFIG: &str = "image: localhost/parked";

pub fn id(name: &str, agent: &str, config: &str) -> InstanceId {
    InstanceId::compute(name, agent, "podman", config, &[])
}

/// (topic, payload) of every retained message of the fixture cluster:
/// - agent_A online with load and tags, running nginx and a failed db;
/// - agent_B lost, with hello (so hello is AgentDisconnected);
/// - agent_C never reported, with late in its snapshot (so late is Pending(Initial));
/// - parked has no agent (NotScheduled).
pub fn retained(topics: &Topics) -> Vec<(String, Value)> {
    let nginx = id("nginx", "agent_A", NGINX_CONFIG);
    let db = id("db", "agent_A", DB_CONFIG);
    let hello = id("hello", "agent_B", HELLO_CONFIG);
    let late = id("late", "agent_C", LATE_CONFIG);
    let workload = |agent: &str, config: &str| json!({"agent": agent, "runtime": "podman", "runtimeConfig": config});
    let desired = |id: &InstanceId, config: &str| json!({"instanceId": id.to_string(), "runtime": "podman", "runtimeConfig": config});
    let state = |id: &InstanceId, state: &str, sub: &str, info: &str| {
        json!({"instanceId": id.to_string(), "state": state, "subState": sub,
               "additionalInfo": info, "observedGeneration": 3, "since": "2025-05-01T10:00:05Z"})
    };
    vec![
        (
            topics.controller_status(),
            json!({"state": "online", "epoch": 1, "version": "0.1.0", "since": "2025-05-01T10:00:00Z"}),
        ),
        (
            topics.desired_state(),
            json!({"generation": 3, "desiredState": {
                "apiVersion": "v1",
                "workloads": {
                    "nginx": {"agent": "agent_A", "runtime": "podman", "runtimeConfig": NGINX_CONFIG,
                              "tags": {"team": "web"}},
                    "db": workload("agent_A", DB_CONFIG),
                    "hello": workload("agent_B", HELLO_CONFIG),
                    "late": workload("agent_C", LATE_CONFIG),
                    "parked": workload("", PARKED_CONFIG),
                },
                "configs": {"web": {"port": "8080"}, "db_settings": "x"}
            }}),
        ),
        (
            topics.agent_status("agent_A"),
            json!({"state": "online", "epoch": 2, "version": "0.1.0", "runtimes": ["podman"],
                   "tags": {"location": "on-car"},
                   "resources": {"cpuUsage": 2, "freeMemory": 7989682176u64},
                   "observedGeneration": 3, "since": "2025-05-01T10:00:01Z"}),
        ),
        (
            topics.agent_status("agent_B"),
            json!({"state": "lost", "epoch": 5}),
        ),
        (
            topics.agent_desired("agent_A"),
            json!({"generation": 3, "workloads": {
                "nginx": desired(&nginx, NGINX_CONFIG), "db": desired(&db, DB_CONFIG)}}),
        ),
        (
            topics.agent_desired("agent_B"),
            json!({"generation": 3, "workloads": {"hello": desired(&hello, HELLO_CONFIG)}}),
        ),
        (
            topics.agent_desired("agent_C"),
            json!({"generation": 3, "workloads": {"late": desired(&late, LATE_CONFIG)}}),
        ),
        (
            topics.workload_state("agent_A", "nginx"),
            state(&nginx, "Running", "Ok", ""),
        ),
        (
            topics.workload_state("agent_A", "db"),
            state(&db, "Failed", "ExecFailed", "Exit code: '1'\nsee the logs"),
        ),
        (
            topics.workload_state("agent_B", "hello"),
            state(&hello, "Running", "Ok", ""),
        ),
    ]
}

pub fn view() -> View {
    let topics = Topics::default();
    let messages: Vec<Message> = retained(&topics)
        .into_iter()
        .map(|(topic, payload)| Message {
            topic,
            payload: serde_json::to_vec(&payload).expect("json"),
            retain: true,
        })
        .collect();
    View::from_messages(&topics, &messages)
}

/// Compares `actual` with `snapshots/<name>.txt` (see main.rs for updating).
pub fn snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli/snapshots")
        .join(format!("{name}.txt"));
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    match std::fs::read_to_string(&path) {
        Ok(expected) if !update => {
            assert!(
                expected == actual,
                "snapshot {name} differs (UPDATE_SNAPSHOTS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}"
            );
        }
        found => {
            std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
            std::fs::write(&path, actual).expect("write snapshot");
            assert!(
                found.is_ok() || update,
                "new snapshot {name} written: review it"
            );
        }
    }
}
