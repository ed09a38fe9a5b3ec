use std::time::Duration;

use ank_schemas::RestartPolicy;

use crate::harness::*;

#[tokio::test]
async fn a_tags_only_update_keeps_the_container() {
    let env = Env::start("tags").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let mut ctl = Controller::connect(&env).await;
    let agent = InProcessAgent::start(env.config(&name));
    let mut w = shell("web", &name, SERVICE, RestartPolicy::Never);
    ctl.publish(&name, &[&w]).await;
    ctl.wait_for(&name, "web", "Running(Ok)").await;
    let before = the_container(&w.instance_id);
    w.tags.insert("team".into(), "infotainment".into());
    w.restart_policy = RestartPolicy::Always;
    let generation = ctl.publish(&name, &[&w]).await;
    ctl.wait_state(&name, "web", "the new generation", |p| {
        p.observed_generation == generation
    })
    .await;
    assert_eq!(the_container(&w.instance_id), before);
    agent.stop().await;
}

#[tokio::test]
async fn a_changed_config_replaces_the_container_and_a_removed_workload_clears_its_topic() {
    let env = Env::start("update").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let mut ctl = Controller::connect(&env).await;
    let agent = InProcessAgent::start(env.config(&name));
    let old = shell("web", &name, SERVICE, RestartPolicy::Never);
    ctl.publish(&name, &[&old]).await;
    ctl.wait_for(&name, "web", "Running(Ok)").await;
    let new = shell(
        "web",
        &name,
        &format!("{SERVICE} # v2"),
        RestartPolicy::Never,
    );
    ctl.publish(&name, &[&new]).await;
    ctl.wait_state(&name, "web", "the new instance running", |p| {
        p.instance_id == new.instance_id && p.state.to_string() == "Running(Ok)"
    })
    .await;
    assert!(
        containers(&old.instance_id).is_empty(),
        "the old container is gone"
    );
    ctl.publish(&name, &[]).await;
    eventually("the topic cleared", DEADLINE, || async {
        let state = ctl.state(&name, "web");
        (state.is_none(), state)
    })
    .await;
    assert!(containers(&new.instance_id).is_empty());
    agent.stop().await;
}

#[tokio::test]
async fn an_agent_killed_and_restarted_adopts_its_containers_without_restarting_them() {
    let env = Env::start("adopt").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let mut ctl = Controller::connect(&env).await;
    let mut first = BinaryAgent::start(&env, &name);
    let w = shell("svc", &name, SERVICE, RestartPolicy::Never);
    ctl.publish(&name, &[&w]).await;
    ctl.wait_for(&name, "svc", "Running(Ok)").await;
    let before = the_container(&w.instance_id);
    first.kill9();
    eventually("the will", DEADLINE, || async {
        let status = ctl.status(&name);
        let lost = status
            .as_ref()
            .is_some_and(|s| s.state == ank_schemas::Liveness::Lost);
        (lost, status)
    })
    .await;
    let started = std::time::Instant::now();
    let _second = BinaryAgent::start(&env, &name);
    eventually("the new agent online", DEADLINE, || async {
        let status = ctl.status(&name);
        let online = status
            .as_ref()
            .is_some_and(|s| s.state == ank_schemas::Liveness::Online);
        (online, status)
    })
    .await;
    stays(
        "the same container, Running(Ok)",
        Duration::from_secs(3),
        || async {
            let after = the_container(&w.instance_id);
            let state = ctl.state(&name, "svc").map(|s| s.state.to_string());
            (
                after == before && state.as_deref() == Some("Running(Ok)"),
                (after, state),
            )
        },
    )
    .await;
    eprintln!("adoption checked {:?} after the restart", started.elapsed());
}

#[tokio::test]
async fn an_orphan_container_of_this_agent_is_removed() {
    let env = Env::start("orphan").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let orphan = shell("orphan", &name, SERVICE, RestartPolicy::Never);
    start_by_hand(&orphan, &name);
    let mut ctl = Controller::connect(&env).await;
    let agent = InProcessAgent::start(env.config(&name));
    let keep = shell("keep", &name, SERVICE, RestartPolicy::Never);
    ctl.publish(&name, &[&keep]).await;
    ctl.wait_for(&name, "keep", "Running(Ok)").await;
    eventually("the orphan removed", DEADLINE, || async {
        let left = containers(&orphan.instance_id);
        (left.is_empty(), left)
    })
    .await;
    agent.stop().await;
}

/// Runs a container labelled as `w` of `agent`, as an earlier agent run would have.
pub fn start_by_hand(w: &ank_schemas::DesiredWorkload, agent: &str) {
    ank_system_tests::podman::run(&[
        "run",
        "-d",
        "--name",
        &w.instance_id.short(),
        &format!("--label=ankmq.instance={}", w.instance_id),
        &format!("--label=ankmq.agent={agent}"),
        "--label=ankmq.runtime=podman",
        &ank_system_tests::podman::test_image(),
        "sleep",
        "600",
    ])
    .expect("started by hand");
}
