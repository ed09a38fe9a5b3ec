use std::time::Duration;

use ank_schemas::RestartPolicy;

use crate::harness::*;
use crate::lifecycle::start_by_hand;

#[tokio::test]
async fn without_a_snapshot_the_agent_changes_nothing() {
    let env = Env::start("nosnap").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let existing = shell("existing", &name, SERVICE, RestartPolicy::Never);
    start_by_hand(&existing, &name);
    let before = the_container(&existing.instance_id);
    let ctl = Controller::connect(&env).await;
    let agent = InProcessAgent::start(env.config(&name));
    eventually("the agent online", DEADLINE, || async {
        let status = ctl.status(&name);
        (status.is_some(), status)
    })
    .await;
    // Longer than a resync, so podman was listed at least twice.
    stays(
        "the container untouched and unreported",
        Duration::from_secs(5),
        || async {
            let now = the_container(&existing.instance_id);
            let reported = ctl.state(&name, "existing");
            (now == before && reported.is_none(), (now, reported))
        },
    )
    .await;
    agent.stop().await;
}

#[tokio::test]
async fn a_thousand_malformed_snapshots_leave_the_agent_and_its_workloads_running() {
    let env = Env::start("malformed").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let mut ctl = Controller::connect(&env).await;
    let agent = InProcessAgent::start(env.config(&name));
    let w = shell("svc", &name, SERVICE, RestartPolicy::Never);
    ctl.publish(&name, &[&w]).await;
    ctl.wait_for(&name, "svc", "Running(Ok)").await;
    let before = the_container(&w.instance_id);
    let other_agent = shell("svc", "someone_else", SERVICE, RestartPolicy::Never);
    let wrong_agent = serde_json::to_vec(&serde_json::json!({
        "generation": 99,
        "workloads": {"svc": other_agent},
    }))
    .expect("json");
    let garbage: [&[u8]; 5] = [
        b"not json",
        b"{\"generation\": \"x\"}",
        b"[]",
        b"{\"generation\": 1, \"workloads\": {\"svc\": {\"instanceId\": \"bad\"}}}",
        &[0xff, 0xfe, 0x00],
    ];
    for i in 0..1_000 {
        let payload = if i % 6 == 5 {
            wrong_agent.clone()
        } else {
            garbage[i % 5].to_vec()
        };
        // Retained, as the controller publishes: each replaces the last good snapshot.
        ctl.publish_raw(&name, payload, true).await;
    }
    // The agent still answers: a good snapshot adding a workload is carried out.
    let extra = shell("extra", &name, SERVICE, RestartPolicy::Never);
    ctl.publish(&name, &[&w, &extra]).await;
    ctl.wait_for(&name, "extra", "Running(Ok)").await;
    assert_eq!(the_container(&w.instance_id), before, "untouched");
    assert_eq!(
        ctl.state(&name, "svc")
            .map(|s| s.state.to_string())
            .as_deref(),
        Some("Running(Ok)")
    );
    agent.stop().await;
}
