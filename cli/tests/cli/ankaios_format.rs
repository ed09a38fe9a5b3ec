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

/// `ank get workloads` and `ank get agents` with stdout not a terminal, from the same capture
/// (`ank … get workloads > capw.txt`, `ank … get agents > capa.txt`): every cell padded, the
/// last one too. Our agents table adds STATUS after Ankaios' columns.
#[test]
fn issue_16_get_workloads_and_agents_tables_are_ankaios_bytes_off_a_terminal() {
    use ank_cli::commands::get::workloads::{rows, GetWorkloadsArgs};
    use ank_cli::output::rows::agent_rows;
    use ank_cli::output::table;

    const ANKAIOS_WORKLOADS: &str =
        "WORKLOAD NAME   AGENT       RUNTIME   EXECUTION STATE   ADDITIONAL INFO\n\
        nginx           agent_d16   podman    Running(Ok)                      \n";
    const ANKAIOS_AGENTS: &str = "NAME        WORKLOADS   CPU USAGE   FREE MEMORY \n\
        agent_d16   1           100%        6626054144B\n";

    let (view, _) = view();
    let args = GetWorkloadsArgs {
        agent: None,
        state: None,
        watch: false,
        names: vec![],
    };
    let mut out = Vec::new();
    table::render(&mut out, &rows(&view, &args), None).expect("in memory");
    assert_eq!(String::from_utf8(out).expect("utf-8"), ANKAIOS_WORKLOADS);

    let mut out = Vec::new();
    table::render(&mut out, &agent_rows(&view), None).expect("in memory");
    let ours = String::from_utf8(out).expect("utf-8");
    // Ankaios' columns, byte for byte, then ours.
    let expected: Vec<&str> = ANKAIOS_AGENTS.lines().collect();
    let lines: Vec<&str> = ours.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{ours}");
    for (line, ankaios) in lines.iter().zip(&expected) {
        assert!(
            line.starts_with(ankaios.trim_end()),
            "{line:?} does not start with Ankaios' {ankaios:?}"
        );
    }
    assert!(
        lines[0].ends_with("STATUS") && lines[1].ends_with("online"),
        "{ours}"
    );
}

/// `ank apply m2.yaml > apply.out` (a one-shot `job` on agent_d16): Ankaios prints a table per
/// update after an empty line, the spinner in front of the state, and an empty line at the end.
/// Two of its updates (it repeats a table per spinner tick; ours one per change).
#[test]
fn issue_16_apply_tables_on_stdout_are_ankaios_bytes() {
    use ank_cli::live::{ankaios_table, KnownRuntimes};
    use ank_cli::wait::{Change, Progress};
    use ank_schemas::{ExecutionState, PendingSubstate, SucceededSubstate};

    const ANKAIOS_PENDING: &str = "\n\
        WORKLOAD NAME   AGENT       RUNTIME     EXECUTION STATE     ADDITIONAL INFO      \n\
        job             agent_d16   podman    | Pending(Starting)   Triggered at runtime.\n";
    const ANKAIOS_DONE: &str = "\n\
        WORKLOAD NAME   AGENT       RUNTIME     EXECUTION STATE   ADDITIONAL INFO\n\
        job             agent_d16   podman      Succeeded(Ok)                    \n";

    // Our fixture's workload is `nginx`: it takes the captured `job`'s place (both are padded
    // to the header's 13 characters).
    let (view, id) = view();
    let runtimes = KnownRuntimes::from(&view);
    let progress = |state, info: &str, done| Progress {
        id: id.clone(),
        change: Change::Added,
        state,
        additional_info: info.to_owned(),
        done,
    };
    let pending = ankaios_table(
        &runtimes,
        &[progress(
            ExecutionState::Pending(PendingSubstate::Starting),
            "Triggered at runtime.",
            false,
        )],
    )
    .expect("in memory");
    let done = ankaios_table(
        &runtimes,
        &[progress(
            ExecutionState::Succeeded(SucceededSubstate::Ok),
            "",
            true,
        )],
    )
    .expect("in memory");
    let ankaios = |text: &str| text.replace("job  ", "nginx");
    assert_eq!(pending, ankaios(ANKAIOS_PENDING));
    assert_eq!(done, ankaios(ANKAIOS_DONE));
}
