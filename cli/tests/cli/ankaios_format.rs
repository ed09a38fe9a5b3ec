//! `ank get state` compared byte for byte with what the real Ankaios 1.0.1 `ank` printed for the
//! same cluster (issue 16 point 4): Ankaios leaves a workload's and an agent's empty maps out and
//! orders keys its own way; a script that parses its output must read ours.
//!
//! The expected texts were captured with the binaries in ../shared/peers/ankaios-1.0.1:
//! ```sh
//! ank-server --insecure --address 127.0.0.1:25716 --startup-manifest m1v1.yaml
//! ank-agent --insecure --name agent_d16 --server-url http://127.0.0.1:25716 \
//!   --run-folder /tmp/d16/run --tag location=on-car
//! ank --insecure --server-url http://127.0.0.1:25716 get state > cap.yaml
//! ank --insecure --server-url http://127.0.0.1:25716 get state -o json > cap.json
//! ank --insecure --server-url http://127.0.0.1:25716 get state desiredState.workloads.nginx
//! ```
//! with `m1v1.yaml` = [`MANIFEST`]. Only the instance id (Ankaios hashes differently) is put in
//! with ours.

use ank_bus::Message;
use ank_cli::commands::get::state::{read_masks, selected_state, write_state};
use ank_cli::output::document::Format;
use ank_cli::state_view::View;
use ank_schemas::{InstanceId, Topics};
use serde_json::json;

/// The startup manifest of the capture.
#[allow(dead_code)]
const MANIFEST: &str = r#"apiVersion: v1
workloads:
  nginx:
    runtime: podman
    agent: agent_d16
    restartPolicy: NEVER
    runtimeConfig: |
      image: localhost/ank-test/busybox:latest
      commandArgs: ["sleep", "3600"]"#;

const CONFIG: &str = "image: localhost/ank-test/busybox:latest\ncommandArgs: [\"sleep\", \"3600\"]";

const ANKAIOS_YAML: &str = r#"desiredState:
  apiVersion: v1
  workloads:
    nginx:
      agent: agent_d16
      restartPolicy: NEVER
      runtime: podman
      runtimeConfig: |-
        image: localhost/ank-test/busybox:latest
        commandArgs: ["sleep", "3600"]
workloadStates:
  agent_d16:
    nginx:
      a15c0d9422cbd9fe39ab804c65f9f3980a4b4836b85bc1055ed783135844bb5b:
        additionalInfo: ''
        state: Running
        subState: Ok
agents:
  agent_d16:
    status:
      cpuUsage: 100
      freeMemory: 6626054144
    tags:
      location: on-car

"#;

const ANKAIOS_JSON: &str = r#"{
  "desiredState": {
    "apiVersion": "v1",
    "workloads": {
      "nginx": {
        "agent": "agent_d16",
        "restartPolicy": "NEVER",
        "runtime": "podman",
        "runtimeConfig": "image: localhost/ank-test/busybox:latest\ncommandArgs: [\"sleep\", \"3600\"]"
      }
    }
  },
  "workloadStates": {
    "agent_d16": {
      "nginx": {
        "a15c0d9422cbd9fe39ab804c65f9f3980a4b4836b85bc1055ed783135844bb5b": {
          "additionalInfo": "",
          "state": "Running",
          "subState": "Ok"
        }
      }
    }
  },
  "agents": {
    "agent_d16": {
      "status": {
        "cpuUsage": 100,
        "freeMemory": 6626054144
      },
      "tags": {
        "location": "on-car"
      }
    }
  }
}
"#;

const ANKAIOS_MASK_YAML: &str = r#"desiredState:
  apiVersion: v1
  workloads:
    nginx:
      agent: agent_d16
      restartPolicy: NEVER
      runtime: podman
      runtimeConfig: |-
        image: localhost/ank-test/busybox:latest
        commandArgs: ["sleep", "3600"]

"#;

/// The id Ankaios computed in the capture.
const ANKAIOS_ID: &str = "a15c0d9422cbd9fe39ab804c65f9f3980a4b4836b85bc1055ed783135844bb5b";

/// The captured cluster as ankmq's retained messages.
fn view() -> (View, InstanceId) {
    let topics = Topics::default();
    let id = InstanceId::compute("nginx", "agent_d16", "podman", CONFIG, &[]);
    let retained = [
        (
            topics.controller_status(),
            json!({"state": "online", "epoch": 1, "version": "0.1.0", "since": "2026-12-02T02:13:00Z"}),
        ),
        (
            topics.desired_state(),
            json!({"generation": 1, "desiredState": {"apiVersion": "v1", "workloads": {
                "nginx": {"agent": "agent_d16", "restartPolicy": "NEVER", "runtime": "podman",
                          "runtimeConfig": CONFIG}}}}),
        ),
        (
            topics.agent_status("agent_d16"),
            json!({"state": "online", "epoch": 2, "version": "0.1.0", "runtimes": ["podman"],
                   "tags": {"location": "on-car"},
                   "resources": {"cpuUsage": 100, "freeMemory": 6626054144u64},
                   "observedGeneration": 1, "since": "2026-12-02T02:13:01Z"}),
        ),
        (
            topics.agent_desired("agent_d16"),
            json!({"generation": 1, "workloads": {"nginx": {
                "instanceId": id.to_string(), "runtime": "podman", "runtimeConfig": CONFIG}}}),
        ),
        (
            topics.workload_state("agent_d16", "nginx"),
            json!({"instanceId": id.to_string(), "state": "Running", "subState": "Ok",
                   "additionalInfo": "", "observedGeneration": 1, "since": "2026-12-02T02:13:05Z"}),
        ),
    ];
    let messages: Vec<Message> = retained
        .into_iter()
        .map(|(topic, payload)| Message {
            topic,
            payload: serde_json::to_vec(&payload).expect("json"),
            retain: true,
        })
        .collect();
    (View::from_messages(&topics, &messages), id)
}

#[test]
fn issue_16_get_state_prints_what_ankaios_1_0_1_prints() {
    let (view, id) = view();
    // (masks, format, Ankaios' stdout)
    let cases: [(&[&str], Format, &str); 3] = [
        (&[], Format::Yaml, ANKAIOS_YAML),
        (&[], Format::Json, ANKAIOS_JSON),
        (
            &["desiredState.workloads.nginx"],
            Format::Yaml,
            ANKAIOS_MASK_YAML,
        ),
    ];
    for (masks, format, ankaios) in cases {
        let masks: Vec<String> = masks.iter().map(|m| (*m).to_owned()).collect();
        let state = selected_state(&view, &read_masks(&masks).expect("masks")).expect("state");
        let mut out = Vec::new();
        write_state(&mut out, &state, format).expect("in memory");
        let expected = ankaios.replace(ANKAIOS_ID, &id.hash);
        let actual = String::from_utf8(out).expect("utf-8");
        assert!(
            actual == expected,
            "{masks:?} {format:?} differs from Ankaios 1.0.1\n--- Ankaios\n{expected}\n--- ankmq\n{actual}"
        );
    }
}
