use std::time::Duration;

use ank_bus::{new_epoch, Birth};
use ank_testkit::{eventually, stays};

use crate::harness::{on_every_broker, retained, TestBroker};

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
    // The birth is published right after the connect returns, so a read at that moment may
    // see it arrive live (retain unset): wait for the retained copy.
    let status = eventually(
        "the birth from the retained store",
        Duration::from_secs(5),
        || async { retained(&reader, &birth.topic).await.filter(|m| m.retain) },
    )
    .await;
    assert_eq!(status.payload, birth.online);
}

async fn will_is_published_retained_when_the_client_is_killed(broker: TestBroker) {
    let birth = birth("agent_A", new_epoch());
    let (agent, _events) = broker.connect("agent_A", Some(birth.clone())).await;
    let (reader, _) = broker.connect("reader", None).await;
    eventually("the birth", Duration::from_secs(5), || async {
        retained(&reader, &birth.topic)
            .await
            .filter(|m| m.payload == birth.online)
    })
    .await;

    // Drops the TCP connection without DISCONNECT, as a crashed process would.
    let killed = std::time::Instant::now();
    agent.abort();
    eventually("the retained will", Duration::from_secs(5), || async {
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
    eventually("the birth", Duration::from_secs(5), || async {
        retained(&reader, &birth.topic)
            .await
            .filter(|m| m.payload == birth.online)
    })
    .await;

    agent.shutdown(Some(offline.clone())).await;
    eventually("the offline status", Duration::from_secs(5), || async {
        retained(&reader, &birth.topic)
            .await
            .filter(|m| m.payload == offline)
    })
    .await;
    // A will would arrive right after the connection closes; give it ample time to show up.
    stays(
        "the offline status (the will must not fire after a clean shutdown)",
        Duration::from_millis(500),
        || retained_text(&reader, &birth.topic, &offline),
    )
    .await;
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
        eventually("the birth", Duration::from_secs(5), || async {
            retained(&reader, &birth.topic)
                .await
                .filter(|m| m.payload == birth.online)
        })
        .await;
        agent.shutdown(Some(offline.clone())).await;
        eventually("the offline status", Duration::from_secs(5), || async {
            retained(&reader, &birth.topic)
                .await
                .filter(|m| m.payload == offline)
        })
        .await;
        stays(
            &format!("round {round}: the offline status (no will after a clean shutdown)"),
            Duration::from_millis(200),
            || retained_text(&reader, &birth.topic, &offline),
        )
        .await;
    }
}

async fn set_birth_republishes_the_new_status(broker: TestBroker) {
    let birth = birth("agent_A", new_epoch());
    let (agent, _events) = broker.connect("agent_A", Some(birth.clone())).await;
    let (reader, _) = broker.connect("reader", None).await;
    let degraded = br#"{"state":"online","degraded":true}"#.to_vec();
    agent.set_birth(degraded.clone()).await;
    eventually("the new birth", Duration::from_secs(5), || async {
        retained(&reader, &birth.topic)
            .await
            .filter(|m| m.payload == degraded)
    })
    .await;
}

/// Whether the retained payload on `topic` is `expected`, and the payload as text (for the
/// message when it is not).
async fn retained_text(reader: &ank_bus::Session, topic: &str, expected: &[u8]) -> (bool, String) {
    let payload = retained(reader, topic).await.map(|m| m.payload);
    let text = payload
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default()
        .into_owned();
    (payload.as_deref() == Some(expected), text)
}
