use super::*;
use ank_schemas::{parse_manifest, WorkloadSpec};

fn manifest(yaml: &str) -> Manifest {
    parse_manifest(yaml).expect("test manifest parses")
}

fn state(yaml: &str) -> Desired {
    Desired::empty()
        .next(manifest(yaml))
        .expect("test state is valid")
}

const BASE: &str = r#"
apiVersion: v1
workloads:
  nginx:
    agent: agent_A
    runtime: podman
    runtimeConfig: "image: {{img.name}}"
    configs: {img: web_image}
    tags: {team: web}
  db: {agent: agent_B, runtime: podman, runtimeConfig: "image: db"}
configs:
  web_image: {name: nginx}
  unused: "x"
"#;

fn workload(yaml: &str) -> WorkloadSpec {
    ank_schemas::yaml::from_str(yaml, &Default::default()).expect("test workload parses")
}

fn id_of(state: &Desired, name: &str) -> InstanceId {
    state.rendered()[name].instance_id.clone()
}

fn names(ids: &[InstanceId]) -> Vec<&str> {
    ids.iter().map(|i| i.workload.as_str()).collect()
}

#[test]
fn apply_replaces_only_the_named_workloads_and_configs() {
    let current = state(BASE);
    let op = RequestOp::Apply {
        manifest: manifest(
            "apiVersion: v1\nworkloads:\n  web2: {agent: agent_C, runtime: podman, runtimeConfig: 'image: w'}\nconfigs:\n  extra: y\n",
        ),
        delete: false,
    };
    let change = apply(&current, &op).unwrap();
    assert!(change.changed);
    assert_eq!(change.state.generation(), current.generation() + 1);
    let m = change.state.manifest();
    assert_eq!(
        m.workloads.keys().collect::<Vec<_>>(),
        ["db", "nginx", "web2"]
    );
    assert!(m.configs.contains_key("extra") && m.configs.contains_key("unused"));
    assert_eq!(names(&change.added), ["web2"]);
    assert!(change.updated.is_empty() && change.deleted.is_empty());
}

#[test]
fn apply_in_delete_mode_removes_exactly_the_named_workloads_and_configs() {
    let current = state(BASE);
    let op = RequestOp::Apply {
        manifest: manifest(
            "apiVersion: v1\nworkloads:\n  db: {agent: x, runtime: podman, runtimeConfig: ''}\nconfigs:\n  unused: ''\n",
        ),
        delete: true,
    };
    let change = apply(&current, &op).unwrap();
    let m = change.state.manifest();
    assert_eq!(m.workloads.keys().collect::<Vec<_>>(), ["nginx"]);
    assert_eq!(m.configs.keys().collect::<Vec<_>>(), ["web_image"]);
    assert_eq!(change.deleted, vec![id_of(&current, "db")]);
}

#[test]
fn changing_only_tags_keeps_the_instance_and_reports_it_updated() {
    let current = state(BASE);
    let mut nginx = current.manifest().workloads["nginx"].clone();
    nginx.tags.insert("team".into(), "ops".into());
    nginx.restart_policy = ank_schemas::RestartPolicy::Always;
    let change = apply(
        &current,
        &RequestOp::RunWorkload {
            name: "nginx".into(),
            workload: nginx,
        },
    )
    .unwrap();
    assert_eq!(change.updated, vec![id_of(&current, "nginx")]);
    assert!(change.added.is_empty() && change.deleted.is_empty());
}

#[test]
fn changing_a_config_value_replaces_the_instances_that_render_it() {
    let current = state(BASE);
    let op = RequestOp::Apply {
        manifest: manifest("apiVersion: v1\nconfigs:\n  web_image: {name: nginx2}\n"),
        delete: false,
    };
    let change = apply(&current, &op).unwrap();
    assert_eq!(change.deleted, vec![id_of(&current, "nginx")]);
    assert_eq!(change.added, vec![id_of(&change.state, "nginx")]);
    assert_ne!(change.added[0], change.deleted[0]);
}

#[test]
fn a_request_that_changes_nothing_keeps_the_generation() {
    let current = state(BASE);
    for op in [
        RequestOp::Apply {
            manifest: manifest(BASE),
            delete: false,
        },
        RequestOp::DeleteWorkloads {
            names: vec!["no_such_workload".into()],
        },
        RequestOp::DeleteConfigs {
            names: vec!["no_such_config".into()],
        },
        RequestOp::SetState {
            masks: vec!["desiredState.workloads.ghost".into()],
            state: json!({}),
        },
    ] {
        let change = apply(&current, &op).unwrap();
        assert!(!change.changed, "{op:?}");
        assert_eq!(change.state, current, "{op:?}");
        assert!(change.added.is_empty() && change.deleted.is_empty() && change.updated.is_empty());
    }
}

#[test]
fn delete_workloads_deletes_their_instances() {
    let current = state(BASE);
    let change = apply(
        &current,
        &RequestOp::DeleteWorkloads {
            names: vec!["db".into(), "nginx".into(), "ghost".into()],
        },
    )
    .unwrap();
    assert!(change.state.manifest().workloads.is_empty());
    assert_eq!(names(&change.deleted), ["db", "nginx"]);
}

#[test]
fn set_state_copies_present_paths_and_removes_absent_ones() {
    let current = state(BASE);
    let op = RequestOp::SetState {
        masks: vec![
            "desiredState.workloads.db".into(),
            "desiredState.workloads.new_one".into(),
            "desiredState.configs.unused".into(),
        ],
        state: json!({"desiredState": {"workloads": {"new_one": {
            "agent": "agent_A", "runtime": "podman", "runtimeConfig": "image: n"}}}}),
    };
    let change = apply(&current, &op).unwrap();
    let m = change.state.manifest();
    assert_eq!(m.workloads.keys().collect::<Vec<_>>(), ["new_one", "nginx"]);
    assert!(!m.configs.contains_key("unused"));
    assert_eq!(names(&change.added), ["new_one"]);
    assert_eq!(names(&change.deleted), ["db"]);
}

#[test]
fn set_state_without_masks_replaces_the_whole_desired_state() {
    let current = state(BASE);
    let op = RequestOp::SetState {
        masks: vec![],
        state: json!({"desiredState": {"apiVersion": "v1", "workloads": {}}}),
    };
    let change = apply(&current, &op).unwrap();
    assert!(change.state.manifest().workloads.is_empty());
    assert!(change.state.manifest().configs.is_empty());
    assert_eq!(change.deleted.len(), 2);
}

#[test]
fn the_current_state_fed_back_through_set_state_is_unchanged() {
    let current = state(BASE);
    let op = RequestOp::SetState {
        masks: vec!["desiredState".into()],
        state: json!({"desiredState": serde_json::to_value(current.manifest()).unwrap()}),
    };
    assert!(!apply(&current, &op).unwrap().changed);
}

/// Every refusal path: (case, operation, a word the errors or message must contain).
#[test]
fn refusals_name_every_problem() {
    let current = state(BASE);
    let cases: Vec<(&str, RequestOp, &str)> = vec![
        (
            "cyclic dependencies",
            RequestOp::Apply {
                manifest: manifest(
                    r#"
apiVersion: v1
workloads:
  a: {agent: x, runtime: podman, runtimeConfig: "image: a", dependencies: {b: ADD_COND_RUNNING}}
  b: {agent: x, runtime: podman, runtimeConfig: "image: b", dependencies: {a: ADD_COND_RUNNING}}
"#,
                ),
                delete: false,
            },
            "cycle",
        ),
        (
            "unknown config",
            RequestOp::RunWorkload {
                name: "w".into(),
                workload: workload(
                    "{agent: x, runtime: podman, runtimeConfig: 'image: {{c}}', configs: {c: nope}}",
                ),
            },
            "nope",
        ),
        (
            "invalid workload name",
            RequestOp::RunWorkload {
                name: "bad.name".into(),
                workload: workload("{agent: x, runtime: podman, runtimeConfig: 'image: a'}"),
            },
            "bad.name",
        ),
        (
            "config in use",
            RequestOp::DeleteConfigs {
                names: vec!["web_image".into()],
            },
            "used by workload 'nginx'",
        ),
        (
            "wrong apiVersion",
            RequestOp::SetState {
                masks: vec![],
                state: json!({"desiredState": {"apiVersion": "v2"}}),
            },
            "v2",
        ),
        (
            "missing apiVersion on a full replace",
            RequestOp::SetState {
                masks: vec![],
                state: json!({"desiredState": {"workloads": {}}}),
            },
            "apiVersion",
        ),
        (
            "unknown field",
            RequestOp::SetState {
                masks: vec!["desiredState.workloads.db".into()],
                state: json!({"desiredState": {"workloads": {"db": {
                    "agent": "a", "runtime": "podman", "runtimeConfig": "", "restartPolcy": "NEVER"}}}}),
            },
            "restartPolcy",
        ),
        (
            "wildcard in an update mask",
            RequestOp::SetState {
                masks: vec!["desiredState.workloads.*".into()],
                state: json!({}),
            },
            "*",
        ),
        (
            "mask outside desiredState",
            RequestOp::SetState {
                masks: vec!["agents.agent_A.tags".into()],
                state: json!({}),
            },
            "desiredState",
        ),
        (
            "getState is not a write",
            RequestOp::GetState { masks: vec![] },
            "getState",
        ),
    ];
    for (case, op, needle) in cases {
        let refusal = apply(&current, &op).expect_err(case);
        let text = refusal.to_string();
        assert!(text.contains(needle), "{case}: {text}");
    }
}

#[test]
fn every_error_of_a_request_is_reported() {
    let current = state(BASE);
    let refusal = apply(
        &current,
        &RequestOp::Apply {
            manifest: manifest(
                r#"
apiVersion: v1
workloads:
  a: {agent: "x.y", runtime: podman, runtimeConfig: "image: a"}
  b: {agent: x, runtime: podman, runtimeConfig: "image: {{c}}", configs: {c: nope}}
"#,
            ),
            delete: false,
        },
    )
    .unwrap_err();
    let workloads: Vec<_> = refusal
        .errors
        .iter()
        .filter_map(|e| e.workload.as_deref())
        .collect();
    assert!(
        workloads.contains(&"a") && workloads.contains(&"b"),
        "{refusal}"
    );
}
