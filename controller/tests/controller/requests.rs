use serde_json::{json, Value};

use crate::harness::{apply, ok, refused, Env};

const BASE: &str = r#"
apiVersion: v1
workloads:
  nginx:
    agent: agent_A
    runtime: podman
    runtimeConfig: "image: {{img.name}}"
    configs: {img: web_image}
  db: {agent: agent_B, runtime: podman, runtimeConfig: "image: db"}
configs:
  web_image: {name: nginx}
"#;

fn ids(body: &Value, list: &str) -> Vec<String> {
    body[list]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|v| v.as_str().expect("instance id string").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_set_state_delete_and_get_state_with_masks() {
    let env = Env::embedded().await;
    let controller = env.controller().await;
    let cli = env.client("cli-1").await;

    let r = cli.request(apply(BASE)).await;
    let body = ok(&r);
    assert_eq!(body["kind"], "updated");
    assert_eq!(body["generation"], 1);
    let added = ids(body, "added");
    assert_eq!(added.len(), 2, "{r:#}");
    let nginx_id = added
        .iter()
        .find(|i| i.starts_with("nginx."))
        .expect("nginx added")
        .clone();

    let agents = cli.get_state(&["desiredState.workloads.*.agent"]).await;
    assert_eq!(
        agents,
        json!({"desiredState": {"apiVersion": "v1", "workloads": {
            "db": {"agent": "agent_B"}, "nginx": {"agent": "agent_A"}}}})
    );
    let states = cli.get_state(&["workloadStates.*.*.*.state"]).await;
    let nginx_hash = nginx_id.split('.').nth(1).expect("hash");
    assert_eq!(
        states["workloadStates"]["agent_A"]["nginx"][nginx_hash],
        json!({"state": "Pending", "subState": "Initial"})
    );

    // Only the tags change: the instance stays and is reported as updated.
    let r = cli
        .request(
            json!({"op": "setState", "masks": ["desiredState.workloads.nginx.tags"],
            "state": {"desiredState": {"workloads": {"nginx": {"tags": {"team": "ops"}}}}}}),
        )
        .await;
    let body = ok(&r);
    assert_eq!(body["generation"], 2);
    assert_eq!(ids(body, "updated"), vec![nginx_id.clone()]);
    assert!(ids(body, "added").is_empty() && ids(body, "deleted").is_empty());

    let r = cli
        .request(json!({"op": "deleteWorkloads", "names": ["db"]}))
        .await;
    let body = ok(&r);
    assert_eq!(body["generation"], 3);
    assert_eq!(ids(body, "deleted").len(), 1);

    // Deleting what does not exist succeeds and changes nothing, generation included.
    let r = cli
        .request(json!({"op": "deleteWorkloads", "names": ["ghost"]}))
        .await;
    assert_eq!(ok(&r)["generation"], 3);

    let r = cli
        .request(json!({"op": "runWorkload", "name": "web2", "workload": {
            "agent": "agent_C", "runtime": "podman", "runtimeConfig": "image: w"}}))
        .await;
    assert_eq!(ok(&r)["generation"], 4);

    let desired = cli
        .retained_json(&env.topics.desired_state())
        .await
        .expect("desired state retained");
    assert_eq!(desired["generation"], 4);
    assert_eq!(
        desired["desiredState"]["workloads"]["nginx"]["tags"],
        json!({"team": "ops"})
    );
    controller.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_leaves_the_state_byte_identical() {
    let env = Env::embedded().await;
    let controller = env.controller().await;
    let cli = env.client("cli-1").await;
    ok(&cli.request(apply(BASE)).await);

    let file_before = env.state_file();
    let retained_before = cli.retained(&env.topics.everything()).await;
    let state_before = cli.get_state(&[]).await;

    // (case, request, whether the refusal lists validation errors)
    let cases: Vec<(&str, Value, bool)> = vec![
        ("invalid agent name", apply("apiVersion: v1\nworkloads:\n  w: {agent: 'a.b', runtime: podman, runtimeConfig: 'image: x'}\n"), true),
        ("unknown config", apply("apiVersion: v1\nworkloads:\n  w: {agent: a, runtime: podman, runtimeConfig: 'image: {{c}}', configs: {c: nope}}\n"), true),
        ("cyclic dependencies", apply("apiVersion: v1\nworkloads:\n  x: {agent: a, runtime: podman, runtimeConfig: 'image: x', dependencies: {y: ADD_COND_RUNNING}}\n  y: {agent: a, runtime: podman, runtimeConfig: 'image: y', dependencies: {x: ADD_COND_RUNNING}}\n"), true),
        ("wrong apiVersion in apply", json!({"op": "apply", "manifest": {"apiVersion": "v2"}}), false),
        ("wrong apiVersion in setState", json!({"op": "setState", "masks": [], "state": {"desiredState": {"apiVersion": "v2"}}}), true),
        ("config in use", json!({"op": "deleteConfigs", "names": ["web_image"]}), true),
        ("wildcard update mask", json!({"op": "setState", "masks": ["desiredState.workloads.*"], "state": {}}), true),
        ("malformed read mask", json!({"op": "getState", "masks": ["a..b"]}), true),
        ("unknown op", json!({"op": "reboot"}), false),
        ("expired", json!({"op": "deleteWorkloads", "names": ["db"], "expiresAtMs": 1}), false),
    ];
    for (case, request, has_errors) in cases {
        let r = cli.request(request).await;
        let error = refused(&r);
        assert!(
            !error["message"].as_str().unwrap_or("").is_empty(),
            "{case}: {r:#}"
        );
        let errors = error["errors"].as_array().map_or(0, Vec::len);
        assert_eq!(errors > 0, has_errors, "{case}: {r:#}");
    }

    assert_eq!(env.state_file(), file_before, "state.json changed");
    let retained_after = cli.retained(&env.topics.everything()).await;
    assert_eq!(retained_after, retained_before, "a retained topic changed");
    assert_eq!(cli.get_state(&[]).await, state_before);
    controller.stop().await.expect("clean stop");
}
