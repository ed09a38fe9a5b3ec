use std::time::Duration;

use ank_bus::{new_epoch, Birth};

use crate::harness::{eventually, on_every_broker, retained, TestBroker};

on_every_broker!(
    birth_is_retained_on_connect,
    will_is_published_retained_when_the_client_is_killed,
    clean_shutdown_publishes_offline_and_no_will,
    clean_shutdown_never_fires_the_will_while_the_broker_echoes_our_own_status,
    set_birth_republishes_the_new_status,
);

fn birth(agent: &str, epoch: u64) -> Birth {
    Birth {
        topic: ank_schemas::Topics::default().agent_status(agent),
        online: format!(r#"{{"state":"online","epoch":{epoch}}}"#).into_bytes(),
        will: format!(r#"{{"state":"lost","epoch":{epoch}}}"#).into_bytes(),
    }
}

async fn birth_is_retained_on_connect(broker: TestBroker) {
    let birth = birth("agent_A", new_epoch());
    let (_agent, _events) = broker.connect("agent_A", Some(birth.clone())).await;
    let (reader, _) = broker.connect("reader", None).await;
    let status = eventually(Duration::from_secs(5), "the birth", || async {
        retained(&reader, &birth.topic).await
    })
    .await;
    assert_eq!(status.payload, birth.online);
    assert!(status.retain, "delivered from the retained store");
}

async fn will_is_published_retained_when_the_client_is_killed(broker: TestBroker) {
    let birth = birth("agent_A", new_epoch());
    let (agent, _events) = broker.connect("agent_A", Some(birth.clone())).await;
    let (reader, _) = broker.connect("reader", None).await;
    eventually(Duration::from_secs(5), "the birth", || async {
        retained(&reader, &birth.topic)
            .await
            .filter(|m| m.payload == birth.online)
    })
    .await;

    // Drops the TCP connection without DISCONNECT, as a crashed process would.
    let killed = std::time::Instant::now();
    agent.abort();
    eventually(Duration::from_secs(5), "the retained will", || async {
        retained(&reader, &birth.topic)
            .await
            .filter(|m| m.payload == birth.will)
    })
    .await;
    eprintln!("will retained {:?} after the kill", killed.elapsed());
}

async fn clean_shutdown_publishes_offline_and_no_will(broker: TestBroker) {
    let epoch = new_epoch();
    let birth = birth("agent_A", epoch);
    let offline = format!(r#"{{"state":"offline","epoch":{epoch}}}"#).into_bytes();
    let (agent, _events) = broker.connect("agent_A", Some(birth.clone())).await;
    let (reader, _) = broker.connect("reader", None).await;
    eventually(Duration::from_secs(5), "the birth", || async {
        retained(&reader, &birth.topic)
            .await
            .filter(|m| m.payload == birth.online)
    })
    .await;

    agent.shutdown(Some(offline.clone())).await;
    eventually(Duration::from_secs(5), "the offline status", || async {
        retained(&reader, &birth.topic)
            .await
            .filter(|m| m.payload == offline)
    })
    .await;
    // A will would arrive right after the connection closes; give it ample time to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = retained(&reader, &birth.topic).await.expect("status");
    assert_eq!(
        String::from_utf8_lossy(&status.payload),
        String::from_utf8_lossy(&offline),
        "the will must not fire after a clean shutdown"
    );
}

/// The regression the agent found: a client subscribed to its own status topic got its
/// `offline` echoed back while it closed the socket, and the broker fired the will (7 of 15
/// stops on the embedded broker, 5 of 15 on Mosquitto).
async fn clean_shutdown_never_fires_the_will_while_the_broker_echoes_our_own_status(
    broker: TestBroker,
) {
    let (reader, _) = broker.connect("reader", None).await;
    let statuses = ank_schemas::Topics::default().all_agent_statuses();
    for round in 0..8 {
        let epoch = new_epoch() + round;
        let birth = birth("agent_A", epoch);
        let offline = format!(r#"{{"state":"offline","epoch":{epoch}}}"#).into_bytes();
        let (agent, _events) = broker.connect("agent_A", Some(birth.clone())).await;
        agent.subscribe(&statuses).await.expect("subscribe");
        eventually(Duration::from_secs(5), "the birth", || async {
            retained(&reader, &birth.topic)
                .await
                .filter(|m| m.payload == birth.online)
        })
        .await;
        agent.shutdown(Some(offline.clone())).await;
        eventually(Duration::from_secs(5), "the offline status", || async {
            retained(&reader, &birth.topic)
                .await
                .filter(|m| m.payload == offline)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let status = retained(&reader, &birth.topic).await.expect("status");
        assert_eq!(
            String::from_utf8_lossy(&status.payload),
            String::from_utf8_lossy(&offline),
            "round {round}: the will fired after a clean shutdown"
        );
    }
}

async fn set_birth_republishes_the_new_status(broker: TestBroker) {
    let birth = birth("agent_A", new_epoch());
    let (agent, _events) = broker.connect("agent_A", Some(birth.clone())).await;
    let (reader, _) = broker.connect("reader", None).await;
    let degraded = br#"{"state":"online","degraded":true}"#.to_vec();
    agent.set_birth(degraded.clone()).await;
    eventually(Duration::from_secs(5), "the new birth", || async {
        retained(&reader, &birth.topic)
            .await
            .filter(|m| m.payload == degraded)
    })
    .await;
}
