use ank_testkit::eventually;
use serde_json::json;

use crate::harness::{apply, manifest_file, ok, Env, DEADLINE};

const TWO_AGENTS: &str = r#"
apiVersion: v1
workloads:
  a: {agent: agent_A, runtime: podman, runtimeConfig: "image: a"}
  b: {agent: agent_B, runtime: podman, runtimeConfig: "image: b"}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_controller_restarts_with_the_same_state_and_identical_snapshots() {
    let env = Env::embedded().await;
    let controller = env.controller().await;
    let cli = env.client("cli-1").await;
    ok(&cli.request(apply(TWO_AGENTS)).await);
    // Changes only agent_B: agent_A's snapshot keeps generation 1.
    ok(&cli
        .request(apply("apiVersion: v1\nworkloads:\n  b: {agent: agent_B, runtime: podman, runtimeConfig: 'image: b2'}\n"))
        .await);
    let before = cli.retained(&env.topics.everything()).await;
    let desired_before = cli.get_state(&["desiredState"]).await;
    let a_topic = env.topics.agent_desired("agent_A");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&before[&a_topic]).expect("json")["generation"],
        1
    );

    let mut agent = env.client("agent_A").await;
    agent.session.subscribe(&a_topic).await.expect("subscribed");
    controller.kill().await;

    // The broker publishes the controller's will.
    eventually("the controller's will (lost)", DEADLINE, || async {
        let status = cli
            .retained_json(&env.topics.controller_status())
            .await
            .expect("status");
        (status["state"] == "lost", status)
    })
    .await;

    let controller = env.controller().await;
    let republished = agent.next_live(&a_topic).await;
    assert_eq!(
        republished, before[&a_topic],
        "the restarted controller changed agent_A's snapshot"
    );
    let after = cli.retained(&env.topics.everything()).await;
    for topic in [
        a_topic.clone(),
        env.topics.agent_desired("agent_B"),
        env.topics.desired_state(),
    ] {
        assert_eq!(
            after[&topic], before[&topic],
            "{topic} changed across the restart"
        );
    }
    assert_eq!(cli.get_state(&["desiredState"]).await, desired_before);

    let r = cli
        .request(json!({"op": "deleteWorkloads", "names": ["a"]}))
        .await;
    assert_eq!(
        ok(&r)["generation"],
        3,
        "the generation continues after a restart"
    );
    controller.stop().await.expect("clean stop");
    let status = cli
        .retained_json(&env.topics.controller_status())
        .await
        .expect("status");
    assert_eq!(status["state"], "offline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_startup_manifest_seeds_only_an_empty_state_dir_and_reset_starts_over() {
    let env = Env::embedded().await;
    let manifests = tempfile::tempdir().expect("dir");
    let seed = manifest_file(
        manifests.path(),
        "apiVersion: v1\nworkloads:\n  seeded: {agent: agent_S, runtime: podman, runtimeConfig: 'image: s'}\n",
    );
    let mut config = env.config();
    config.startup_manifest = Some(seed);
    let cli = env.client("cli-1").await;

    let controller = env.controller_with(config.clone()).await;
    let state = cli.get_state(&["desiredState.workloads"]).await;
    assert!(state["desiredState"]["workloads"]["seeded"].is_object());
    let r = cli
        .request(apply("apiVersion: v1\nworkloads:\n  added: {agent: agent_D, runtime: podman, runtimeConfig: 'image: d'}\n"))
        .await;
    assert_eq!(ok(&r)["generation"], 2);
    controller.stop().await.expect("clean stop");

    // A persisted state wins over the manifest.
    let controller = env.controller_with(config.clone()).await;
    let state = cli.get_state(&["desiredState.workloads"]).await;
    assert!(
        state["desiredState"]["workloads"]["added"].is_object(),
        "{state:#}"
    );
    controller.stop().await.expect("clean stop");

    // --reset-state: back to the manifest, the generation keeps counting, agent_D is told.
    config.reset_state = true;
    let controller = env.controller_with(config).await;
    let state = cli.get_state(&["desiredState.workloads"]).await;
    let names: Vec<&String> = state["desiredState"]["workloads"]
        .as_object()
        .expect("map")
        .keys()
        .collect();
    assert_eq!(names, ["seeded"]);
    let d = cli
        .retained_json(&env.topics.agent_desired("agent_D"))
        .await
        .expect("agent_D snapshot");
    assert_eq!(d, json!({"generation": 3, "workloads": {}}));
    controller.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_startup_manifest_stops_the_start_with_every_error() {
    let env = Env::embedded().await;
    let manifests = tempfile::tempdir().expect("dir");
    let mut config = env.config();
    config.startup_manifest = Some(manifest_file(
        manifests.path(),
        "apiVersion: v1\nworkloads:\n  a: {agent: 'x.y', runtime: podman, runtimeConfig: 'image: a'}\n  b: {agent: x, runtime: podman, runtimeConfig: 'image: {{c}}', configs: {c: nope}}\n",
    ));
    let err = crate::harness::TestController::spawn(config)
        .result()
        .await
        .expect_err("refused");
    let text = format!("{err:#}");
    assert!(
        text.contains("workload 'a'") && text.contains("workload 'b'"),
        "{text}"
    );
    assert!(
        !env.state_dir().join("state.json").exists(),
        "nothing was persisted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_state_dir_still_empties_agents_with_stale_snapshots() {
    let env = Env::embedded().await;
    let controller = env.controller().await;
    let cli = env.client("cli-1").await;
    ok(&cli.request(apply(TWO_AGENTS)).await);
    controller.stop().await.expect("clean stop");
    std::fs::remove_file(env.state_dir().join("state.json")).expect("state removed");

    let controller = env.controller().await;
    for agent in ["agent_A", "agent_B"] {
        let s = cli
            .retained_json(&env.topics.agent_desired(agent))
            .await
            .expect("snapshot");
        assert_eq!(s, json!({"generation": 0, "workloads": {}}), "{agent}");
    }
    controller.stop().await.expect("clean stop");
}
