use std::time::{Duration, Instant};

use ank_bus::{BusError, Session, SessionEvent};
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::harness::{flush, on_every_broker, TestBroker};

on_every_broker!(
    concurrent_requests_are_matched_by_id,
    a_request_without_an_answer_times_out,
);

/// A controller stand-in: answers `{id, replyTo, n}` with `{id, double}` on `responses/{replyTo}`, in an
/// order scrambled by per-request delays, after first sending garbage that must be dropped.
async fn spawn_doubler(broker: &TestBroker) -> Session {
    let (responder, mut incoming) = broker.connect("controller", None).await;
    let requests = ank_schemas::Topics::default().requests();
    responder.subscribe(&requests).await.expect("subscribe");
    // `subscribe` returns once queued, and the CLI is another connection: without this, under
    // load its first requests could reach the broker before this subscription and be lost
    // (each then timed out after 20 s: the flake of session 3).
    flush(&responder, &mut incoming).await;
    let session = responder.clone();
    tokio::spawn(async move {
        while let Some(event) = incoming.recv().await {
            let SessionEvent::Message(message) = event else {
                continue;
            };
            let Ok(request) = serde_json::from_slice::<Value>(&message.payload) else {
                continue;
            };
            let (Some(id), Some(reply_to), Some(n)) = (
                request["id"].as_str().map(str::to_owned),
                request["replyTo"]
                    .as_str()
                    .and_then(|client| ank_schemas::ClientId::new(client).ok())
                    .map(|client| ank_schemas::Topics::default().responses(&client)),
                request["n"].as_u64(),
            ) else {
                continue;
            };
            let session = session.clone();
            tokio::spawn(async move {
                for garbage in [
                    b"not json".to_vec(),
                    br#"{"id": 7}"#.to_vec(),
                    br#"{"id": "someone-else-1", "double": 0}"#.to_vec(),
                ] {
                    let _ = session.publish(&reply_to, garbage, false).await;
                }
                tokio::time::sleep(Duration::from_millis((n * 7919) % 50)).await;
                let reply = json!({"id": id, "double": n * 2});
                let _ = session
                    .publish(&reply_to, reply.to_string().into_bytes(), false)
                    .await;
            });
        }
    });
    responder
}

async fn concurrent_requests_are_matched_by_id(broker: TestBroker) {
    let _controller = spawn_doubler(&broker).await;
    let (cli, _events) = broker.connect("cli-1", None).await;
    let started = Instant::now();
    let mut requests = JoinSet::new();
    for n in 0..200u64 {
        let cli = cli.clone();
        requests.spawn(async move {
            let reply = cli
                .request(
                    |id, reply_to| {
                        json!({"id": id, "replyTo": reply_to, "n": n})
                            .to_string()
                            .into_bytes()
                    },
                    Duration::from_secs(20),
                )
                .await
                .expect("answered");
            let reply: Value = serde_json::from_slice(&reply).expect("json");
            (n, reply["double"].as_u64())
        });
    }
    let mut answered = 0;
    while let Some(result) = requests.join_next().await {
        let (n, double) = result.expect("task");
        assert_eq!(double, Some(n * 2), "request {n} got someone else's reply");
        answered += 1;
    }
    assert_eq!(answered, 200);
    eprintln!(
        "200 concurrent requests answered in {:?}",
        started.elapsed()
    );
}

async fn a_request_without_an_answer_times_out(broker: TestBroker) {
    let (cli, _events) = broker.connect("cli-1", None).await;
    let started = Instant::now();
    let error = cli
        .request(|id, _| id.as_bytes().to_vec(), Duration::from_millis(300))
        .await
        .expect_err("nobody answers");
    let waited = started.elapsed();
    assert!(
        matches!(error, BusError::Timeout { after } if after == Duration::from_millis(300)),
        "{error:?}"
    );
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(10),
        "gives up after its 300 ms, does not hang: {waited:?}"
    );
}
