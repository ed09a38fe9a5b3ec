use serde_json::json;

use crate::harness::{apply, ok, refused, Env};

/// A small limit, so that a few KiB of state reach it.
const LIMIT: usize = 16 * 1024;

/// One config of 5,000 characters rendered into four workloads of one agent: the desired state
/// (the config once) fits in 16 KiB, agent_A's snapshot (the config four times) does not.
fn rendered_four_times() -> String {
    let mut text = format!(
        "apiVersion: v1\nconfigs:\n  big: \"{}\"\nworkloads:\n",
        "x".repeat(5_000)
    );
    for i in 0..4 {
        text.push_str(&format!(
            "  w{i}: {{agent: agent_A, runtime: podman, runtimeConfig: \"image: {{{{c}}}}\", configs: {{c: big}}}}\n"
        ));
    }
    text
}

/// A request whose agent snapshot would be over the limit is refused, naming that snapshot, its
/// size and the limit; state.json and every retained topic stay byte-identical, and the next
/// request that fits is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_an_apply_whose_agent_snapshot_would_not_fit_is_refused_naming_the_agent() {
    let env = Env::embedded().await;
    let mut config = env.config();
    config.max_message_size = LIMIT;
    let controller = env.controller_with(config).await;
    let cli = env.client("cli-1").await;
    ok(&cli
        .request(apply(
            "apiVersion: v1\nworkloads:\n  small: {agent: agent_A, runtime: podman, runtimeConfig: 'image: x'}\n",
        ))
        .await);
    let state_before = env.state_file();
    let everything = env.topics.everything();
    let retained_before = cli.retained(&everything).await;

    let r = cli.request(apply(&rendered_four_times())).await;
    let message = refused(&r)["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let topic = env.topics.agent_desired("agent_A");
    for part in [
        "refused: the snapshot of agent 'agent_A'",
        topic.as_str(),
        "over the 16 KiB (16384 bytes) the broker accepts (--max-message-size)",
        "nothing changed",
    ] {
        assert!(message.contains(part), "`{part}` missing: {message}");
    }
    assert!(
        !message.contains("the desired state"),
        "the desired state fits: {message}"
    );
    assert_eq!(env.state_file(), state_before, "state.json changed");
    let retained_after = cli.retained(&everything).await;
    let desired_topics = |r: &std::collections::BTreeMap<String, Vec<u8>>| {
        r.iter()
            .filter(|(t, _)| t.ends_with("/desired"))
            .map(|(t, p)| (t.clone(), p.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        desired_topics(&retained_after),
        desired_topics(&retained_before),
        "a retained desired topic changed"
    );

    let r = cli
        .request(json!({"op": "deleteWorkloads", "names": ["small"]}))
        .await;
    assert_eq!(ok(&r)["generation"], 2);
    controller.stop().await.expect("clean stop");
}

/// A `getState` whose response would be over the limit gets an error response saying so (not
/// silence), while the state itself still fits and masked reads still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_a_get_state_response_over_the_limit_is_answered_with_an_error() {
    let env = Env::embedded().await;
    let mut config = env.config();
    config.max_message_size = LIMIT;
    let controller = env.controller_with(config).await;
    let cli = env.client("cli-1").await;
    // The complete state holds the desired state plus a workload state per workload, so it
    // passes the limit before the desired state does: add workloads until it does.
    let mut refused_read = None;
    for i in 0..200 {
        let r = cli
            .request(
                json!({"op": "runWorkload", "name": format!("w{i}"), "workload":
                {"agent": "agent_A", "runtime": "podman", "runtimeConfig": "image: x"}}),
            )
            .await;
        ok(&r);
        let r = cli.request(json!({"op": "getState", "masks": []})).await;
        if r.get("error").is_some() {
            refused_read = Some(r);
            break;
        }
    }
    let r = refused_read.expect("the complete state never passed the limit");
    let message = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("the response would be")
            && message.contains("over the 16 KiB the broker accepts (--max-message-size)"),
        "{message}"
    );
    let agents = cli.get_state(&["desiredState.workloads.w0.agent"]).await;
    assert_eq!(
        agents["desiredState"]["workloads"]["w0"]["agent"],
        "agent_A"
    );
    controller.stop().await.expect("clean stop");
}
