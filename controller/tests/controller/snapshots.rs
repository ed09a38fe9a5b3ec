use ank_testkit::eventually;
use serde_json::json;

use crate::harness::{apply, ok, Env, DEADLINE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_last_workload_goes_gets_an_explicit_empty_snapshot() {
    let env = Env::embedded().await;
    let controller = env.controller().await;
    let cli = env.client("cli-1").await;
    ok(&cli
        .request(apply("apiVersion: v1\nworkloads:\n  w: {agent: agent_A, runtime: podman, runtimeConfig: 'image: x'}\n"))
        .await);
    let topic = env.topics.agent_desired("agent_A");
    let snapshot = cli.retained_json(&topic).await.expect("snapshot retained");
    assert_eq!(snapshot["generation"], 1);
    assert!(snapshot["workloads"]["w"]["instanceId"].as_str().is_some());

    ok(&cli
        .request(json!({"op": "deleteWorkloads", "names": ["w"]}))
        .await);
    let snapshot = cli.retained_json(&topic).await.expect("still retained");
    assert_eq!(snapshot, json!({"generation": 2, "workloads": {}}));
    controller.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_conditions_travel_in_the_snapshot_of_the_dependency() {
    let env = Env::embedded().await;
    let controller = env.controller().await;
    let cli = env.client("cli-1").await;
    ok(&cli
        .request(apply(
            r#"
apiVersion: v1
workloads:
  db: {agent: agent_A, runtime: podman, runtimeConfig: "image: db"}
  web: {agent: agent_B, runtime: podman, runtimeConfig: "image: web", dependencies: {db: ADD_COND_RUNNING}}
  parked: {agent: "", runtime: podman, runtimeConfig: "image: p"}
"#,
        ))
        .await);
    let a = cli
        .retained_json(&env.topics.agent_desired("agent_A"))
        .await
        .expect("agent_A");
    assert_eq!(
        a["workloads"]["db"]["deleteConditions"],
        json!({"web": "DEL_COND_NOT_PENDING_NOR_RUNNING"})
    );
    let b = cli
        .retained_json(&env.topics.agent_desired("agent_B"))
        .await
        .expect("agent_B");
    assert_eq!(
        b["workloads"]["web"]["dependencies"],
        json!({"db": "ADD_COND_RUNNING"})
    );
    let all = cli.retained(&env.topics.all_agent_desired()).await;
    assert_eq!(
        all.len(),
        2,
        "NotScheduled workloads get no snapshot: {:?}",
        all.keys()
    );
    let states = cli.get_state(&["workloadStates"]).await;
    assert_eq!(
        states["workloadStates"][""]["parked"]
            .as_object()
            .map(|o| o.len()),
        Some(1)
    );
    controller.stop().await.expect("clean stop");
}

/// The whole getState once workload `w` (instance hash `hash`) of agent_A is in `state`.
async fn state_when(cli: &crate::harness::Client, hash: &str, state: &str) -> serde_json::Value {
    eventually(&format!("w {state} in getState"), DEADLINE, || async {
        let seen = cli.get_state(&[]).await;
        if seen["workloadStates"]["agent_A"]["w"][hash]["state"] == state {
            Ok(seen)
        } else {
            Err(seen)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reported_states_and_agent_liveness_show_in_get_state() {
    let env = Env::embedded().await;
    let controller = env.controller().await;
    let cli = env.client("cli-1").await;
    let r = cli
        .request(apply("apiVersion: v1\nworkloads:\n  w: {agent: agent_A, runtime: podman, runtimeConfig: 'image: x'}\n"))
        .await;
    let id = ok(&r)["added"][0].as_str().expect("id").to_owned();
    let hash = id.split('.').nth(1).expect("hash").to_owned();

    let agent = env.client("agent_A").await;
    agent
        .publish_retained(
            &env.topics.agent_status("agent_A"),
            json!({"state": "online", "epoch": 1, "tags": {"loc": "car"},
                   "resources": {"cpuUsage": 5, "freeMemory": 1000}}),
        )
        .await;
    agent
        .publish_retained(
            &env.topics.workload_state("agent_A", "w"),
            json!({"instanceId": id, "state": "Running", "subState": "Ok", "additionalInfo": "up"}),
        )
        .await;
    let state = state_when(&cli, &hash, "Running").await;
    assert_eq!(
        state["agents"]["agent_A"],
        json!({"status": {"cpuUsage": 5, "freeMemory": 1000}, "tags": {"loc": "car"}})
    );

    agent
        .publish_retained(
            &env.topics.agent_status("agent_A"),
            json!({"state": "lost", "epoch": 1}),
        )
        .await;
    let state = state_when(&cli, &hash, "AgentDisconnected").await;
    assert!(
        state["agents"].as_object().is_none_or(|a| a.is_empty()),
        "{state:#}"
    );
    controller.stop().await.expect("clean stop");
}
