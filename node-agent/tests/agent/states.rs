use std::time::Duration;

use ank_schemas::{FileContent, RestartPolicy, WorkloadFile};

use crate::harness::*;

#[tokio::test]
async fn running_succeeded_and_failed_with_the_exit_code_are_reported() {
    let env = Env::start("states").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let mut ctl = Controller::connect(&env).await;
    let agent = InProcessAgent::start(env.config(&name));
    let runs = shell("runs", &name, SERVICE, RestartPolicy::Never);
    let ok = shell("ok", &name, "true", RestartPolicy::Never);
    let fails = shell("fails", &name, "exit 3", RestartPolicy::Never);
    let generation = ctl.publish(&name, &[&runs, &ok, &fails]).await;

    let running = ctl.wait_for(&name, "runs", "Running(Ok)").await;
    assert_eq!(running.instance_id, runs.instance_id);
    assert_eq!(running.observed_generation, generation);
    assert!(!running.since.is_empty());
    let succeeded = ctl.wait_for(&name, "ok", "Succeeded(Ok)").await;
    assert_eq!(succeeded.exit_code, Some(0));
    let failed = ctl.wait_for(&name, "fails", "Failed(ExecFailed)").await;
    assert_eq!(failed.exit_code, Some(3));
    assert_eq!(failed.additional_info, "Exit code: '3'");
    assert_eq!(failed.restart_count, 0);
    agent.stop().await;
}

#[tokio::test]
async fn a_container_removed_by_hand_is_failed_lost() {
    let env = Env::start("lost").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let mut ctl = Controller::connect(&env).await;
    let agent = InProcessAgent::start(env.config(&name));
    let w = shell("w", &name, SERVICE, RestartPolicy::Always);
    ctl.publish(&name, &[&w]).await;
    ctl.wait_for(&name, "w", "Running(Ok)").await;
    let id = the_container(&w.instance_id).id;
    ank_system_tests::podman::run(&["rm", "-f", "-t", "0", &id]).expect("removed by hand");
    ctl.wait_for(&name, "w", "Failed(Lost)").await;
    // Lost never restarts, whatever the policy.
    stays(
        "Failed(Lost) without a new container",
        Duration::from_secs(3),
        || async {
            let found = containers(&w.instance_id);
            let state = ctl.state(&name, "w").map(|s| s.state.to_string());
            (
                found.is_empty() && state.as_deref() == Some("Failed(Lost)"),
                (found, state),
            )
        },
    )
    .await;
    agent.stop().await;
}

#[tokio::test]
async fn bad_runtime_configs_and_unknown_runtimes_are_starting_failed_with_the_reason() {
    let env = Env::start("startfail").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let mut ctl = Controller::connect(&env).await;
    let agent = InProcessAgent::start(env.config(&name));
    let misspelt = workload(
        "misspelt",
        &name,
        "podman",
        "imgae: x",
        RestartPolicy::Never,
        vec![],
    );
    let unknown = workload(
        "unknown",
        &name,
        "containerd",
        "image: x",
        RestartPolicy::Never,
        vec![],
    );
    ctl.publish(&name, &[&misspelt, &unknown]).await;
    let state = ctl
        .wait_for(&name, "misspelt", "Pending(StartingFailed)")
        .await;
    assert!(
        state.additional_info.contains("imgae"),
        "{}",
        state.additional_info
    );
    let state = ctl
        .wait_for(&name, "unknown", "Pending(StartingFailed)")
        .await;
    assert_eq!(state.additional_info, "Unsupported Runtime 'containerd'");
    agent.stop().await;
}

#[tokio::test]
async fn workload_files_are_mounted_read_only() {
    let env = Env::start("files").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let mut ctl = Controller::connect(&env).await;
    let agent = InProcessAgent::start(env.config(&name));
    let files = vec![
        WorkloadFile {
            mount_point: "/etc/app/greeting".into(),
            content: FileContent::Data("hello".into()),
        },
        WorkloadFile {
            mount_point: "/etc/app/bin".into(),
            content: FileContent::BinaryData("d29ybGQ=".into()),
        },
    ];
    let script = r#"test "$(cat /etc/app/greeting)" = hello && test "$(cat /etc/app/bin)" = world && ! echo x > /etc/app/greeting"#;
    let config = format!(
        "image: {}\ncommandArgs: [\"sh\", \"-c\", {}]\n",
        ank_system_tests::podman::test_image(),
        serde_json::to_string(script).expect("a string")
    );
    let w = workload(
        "files",
        &name,
        "podman",
        &config,
        RestartPolicy::Never,
        files,
    );
    ctl.publish(&name, &[&w]).await;
    let state = ctl
        .wait_state(&name, "files", "files to end", |p| {
            matches!(
                p.state.to_string().as_str(),
                "Succeeded(Ok)" | "Failed(ExecFailed)"
            )
        })
        .await;
    assert_eq!(state.state.to_string(), "Succeeded(Ok)", "{state:?}");
    agent.stop().await;
}

#[tokio::test]
async fn a_podman_that_cannot_run_is_reported_as_failed_unknown_not_silence() {
    let env = Env::start("nopodman").await;
    let name = env.agent_name("a");
    let mut ctl = Controller::connect(&env).await;
    let mut config = env.config(&name);
    config.podman = "/nonexistent/podman".into();
    let agent = InProcessAgent::start(config);
    let w = shell("w", &name, SERVICE, RestartPolicy::Never);
    ctl.publish(&name, &[&w]).await;
    let state = ctl.wait_for(&name, "w", "Failed(Unknown)").await;
    assert_eq!(state.instance_id, w.instance_id);
    assert!(
        state.additional_info.contains("/nonexistent/podman"),
        "{}",
        state.additional_info
    );
    agent.stop().await;
}
