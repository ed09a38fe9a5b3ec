use std::time::{Duration, Instant};

use ank_bus::SessionEvent;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::harness::{apply, ok, Env, DEADLINE};

/// A client id for the rows below (test data, always valid).
fn cid(text: &str) -> ank_schemas::ClientId {
    ank_schemas::ClientId::new(text).expect("a valid client id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_applies_from_fifty_clients_all_land() {
    let env = Env::embedded().await;
    let controller = env.controller().await;
    let mut clients = Vec::new();
    for i in 0..50 {
        clients.push(env.client(&format!("cli-{i}")).await);
    }
    let start = Instant::now();
    let mut set = JoinSet::new();
    for (i, cli) in clients.into_iter().enumerate() {
        set.spawn(async move {
            let r = cli
                .request(apply(&format!(
                    "apiVersion: v1\nworkloads:\n  w{i}: {{agent: agent_{}, runtime: podman, runtimeConfig: 'image: w{i}'}}\n",
                    i % 5
                )))
                .await;
            ok(&r)["generation"].as_u64().expect("generation")
        });
    }
    let mut generations = Vec::new();
    while let Some(g) = set.join_next().await {
        generations.push(g.expect("client task"));
    }
    let elapsed = start.elapsed();
    generations.sort_unstable();
    assert_eq!(
        generations,
        (1..=50).collect::<Vec<u64>>(),
        "each apply is its own generation"
    );
    let cli = env.client("check").await;
    let state = cli.get_state(&["desiredState.workloads"]).await;
    assert_eq!(
        state["desiredState"]["workloads"]
            .as_object()
            .map(|w| w.len()),
        Some(50)
    );
    eprintln!("50 concurrent applies answered in {elapsed:?}");
    controller.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_malformed_payloads_on_every_topic_leave_it_answering() {
    let env = Env::embedded().await;
    let controller = env.controller().await;
    let cli = env.client("cli-1").await;
    ok(&cli
        .request(apply("apiVersion: v1\nworkloads:\n  w: {agent: agent_A, runtime: podman, runtimeConfig: 'image: x'}\n"))
        .await);
    let state_before = cli.get_state(&["desiredState"]).await;

    // A listener counts the error replies sent to `victim` (a session's own reply topic is
    // consumed by ank-bus' request helper, so the listener uses another client id).
    let hostile = env.client("hostile").await;
    let mut listener = env.client("listener").await;
    let replies = env.topics.responses(&cid("victim"));
    listener
        .session
        .subscribe(&replies)
        .await
        .expect("subscribed");
    let huge = vec![b'{'; 256 * 1024];
    let payload = |i: usize| -> Vec<u8> {
        match i % 8 {
            0 => vec![0xff, 0x00, 0xfe, (i % 256) as u8],
            1 => b"null".to_vec(),
            2 => b"[1,2,3]".to_vec(),
            3 => br#"{"state": "dancing", "epoch": "x"}"#.to_vec(),
            4 => br#"{"id": 5, "replyTo": "victim"}"#.to_vec(),
            5 => br#"{"instanceId": "not an id", "state": "Running"}"#.to_vec(),
            6 if i % 200 == 6 => huge.clone(),
            _ => br#"{"id": "x", "replyTo": "../../evil/#"}"#.to_vec(),
        }
    };
    let topics = [
        env.topics.requests(),
        env.topics.agent_status("agent_A"),
        env.topics.workload_state("agent_A", "w"),
    ];
    let start = Instant::now();
    for topic in &topics {
        for i in 0..1000 {
            hostile
                .session
                .publish(topic, payload(i), false)
                .await
                .expect("queued");
        }
    }
    // Requests with a readable id and replyTo but a bad body are answered with an error.
    let answerable = 100;
    for i in 0..answerable {
        let body = json!({"id": format!("bad-{i}"), "replyTo": "victim", "op": "apply", "manifest": "nope"});
        hostile
            .session
            .publish(&topics[0], serde_json::to_vec(&body).expect("json"), false)
            .await
            .expect("queued");
    }
    let mut errors = 0;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while errors < answerable {
        let event = tokio::time::timeout_at(deadline, listener.incoming.recv())
            .await
            .unwrap_or_else(|_| panic!("only {errors} of {answerable} error replies in time"))
            .expect("open");
        if let SessionEvent::Message(m) = event {
            if m.topic == replies {
                let reply: Value = serde_json::from_slice(&m.payload).expect("json reply");
                assert!(reply["error"]["message"].as_str().is_some(), "{reply}");
                errors += 1;
            }
        }
    }
    let r = cli
        .try_request(
            json!({"op": "getState", "masks": ["desiredState"]}),
            Duration::from_secs(10),
        )
        .await
        .expect("still answering");
    assert_eq!(r["ok"]["completeState"], state_before);
    eprintln!(
        "3,100 hostile payloads handled, controller answering after {:?}",
        start.elapsed()
    );
    controller.stop().await.expect("clean stop");
}
