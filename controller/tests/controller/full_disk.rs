//! The controller's state directory on a full file system (issue 14, point 6): a request that
//! needs a state write is refused with "no space left on device", the state stays as it was,
//! and once space is freed the same request is accepted without a restart. On a small tmpfs;
//! needs root, fails (never skips) without it.

use serde_json::Value;

use ank_system_tests::tmpfs::{fill, Tmpfs};

use crate::harness::{apply, ok, refused, Env, TestBroker};

const FIRST: &str = "apiVersion: v1\nworkloads:\n  a: {agent: agent_A, runtime: podman, runtimeConfig: 'image: a'}\n";
const SECOND: &str = "apiVersion: v1\nworkloads:\n  b: {agent: agent_A, runtime: podman, runtimeConfig: 'image: b'}\n";

async fn scenario(env: Env) {
    let fs = Tmpfs::mount("1m").expect("a tmpfs");
    let state_dir = fs.path().join("controller");
    let config = ank_controller::Config {
        state_dir: state_dir.clone(),
        ..env.config()
    };
    let controller = env.controller_with(config.clone()).await;
    let cli = env.client("cli-1").await;
    ok(&cli.request(apply(FIRST)).await);
    let file_before = std::fs::read(state_dir.join("state.json")).expect("state.json");
    let state_before = cli.get_state(&["desiredState"]).await;

    fill(&fs.path().join("filler")).expect("filled");
    let answer = cli.request(apply(SECOND)).await;
    let error = refused(&answer).to_string();
    assert!(
        !state_dir.join(".state.json.tmp").exists(),
        "a partial temp file is left behind, holding space"
    );
    assert!(
        error.contains("no space left on device"),
        "the refusal names the full disk: {error}"
    );
    assert_eq!(
        std::fs::read(state_dir.join("state.json")).expect("state.json"),
        file_before,
        "state.json changed on a full disk"
    );
    assert_eq!(cli.get_state(&["desiredState"]).await, state_before);

    // Space freed: the same request goes through, without a restart.
    std::fs::remove_file(fs.path().join("filler")).expect("remove the filler");
    ok(&cli.request(apply(SECOND)).await);
    let after: Value = cli.get_state(&["desiredState"]).await;
    let workloads = &after["desiredState"]["workloads"];
    assert!(
        workloads.get("a").is_some() && workloads.get("b").is_some(),
        "{after:#}"
    );

    // Nothing lost: a restart reads both back.
    controller
        .stop()
        .await
        .expect("the controller stops cleanly");
    let _controller = env.controller_with(config).await;
    assert_eq!(cli.get_state(&["desiredState"]).await, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_a_full_state_disk_refuses_the_change_with_no_space_and_keeps_the_state_embedded()
{
    scenario(Env::embedded().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_a_full_state_disk_refuses_the_change_with_no_space_and_keeps_the_state_mosquitto()
{
    scenario(Env::on(TestBroker::mosquitto())).await;
}
