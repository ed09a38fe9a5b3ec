use std::time::Duration;

use ank_bus::{BusError, Session, SessionEvent};

use crate::harness::{on_every_broker, TestBroker};

on_every_broker!(issue_14_a_publish_the_broker_would_refuse_is_not_sent_and_keeps_the_session);

/// The broker's packet limit the session is told about (the embedded test broker's own).
const LIMIT: usize = 1024 * 1024;

/// Every publish a broker answers by closing the connection is refused by the session with an
/// error naming it; nothing is sent, so the connection stays up and later publishes arrive.
async fn issue_14_a_publish_the_broker_would_refuse_is_not_sent_and_keeps_the_session(
    broker: TestBroker,
) {
    let mut opts = broker.options("refuser");
    opts.publish_limit = Some(LIMIT);
    let (session, mut incoming) = Session::connect(opts, None).await.expect("connects");
    let topics = session.options().topics.clone();
    let sync = topics.sync(session.client());
    session.subscribe(&sync).await.expect("subscribe sync");

    let huge_level = "a".repeat(70_000);
    let refused: [(&str, String, usize); 5] = [
        (
            "NUL in the topic",
            format!("{}/logs/a\0b", topics.prefix()),
            10,
        ),
        (
            "70,000-byte level",
            format!("{}/logs/{huge_level}", topics.prefix()),
            10,
        ),
        ("wildcard +", format!("{}/logs/+", topics.prefix()), 10),
        ("wildcard #", format!("{}/logs/#", topics.prefix()), 10),
        ("over the packet limit", topics.desired_state(), LIMIT),
    ];
    for (case, topic, size) in &refused {
        let err = session
            .publish(topic, vec![b'x'; *size], true)
            .await
            .expect_err(case);
        assert!(
            matches!(err, BusError::InvalidTopic(_) | BusError::TooLarge { .. }),
            "{case}: {err}"
        );
        assert!(
            err.to_string().len() < 400,
            "{case}: the error repeats the topic"
        );
    }
    // Exactly at the limit is sent (and the broker takes it): a 3-byte remaining length.
    let fits = LIMIT - (1 + 3 + 2 + sync.len() + 2);
    assert_eq!(ank_bus::publish_packet_size(sync.len(), fits), LIMIT);
    session
        .publish(&sync, vec![b'y'; fits], false)
        .await
        .expect("a publish at the limit is sent");

    // The connection never dropped: the marker after them comes back on the same connection.
    let marker = b"after-the-refusals".to_vec();
    session
        .publish(&sync, marker.clone(), false)
        .await
        .expect("publish marker");
    let mut disconnects = Vec::new();
    let mut got_big = false;
    let arrived = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = incoming.recv().await {
            match event {
                SessionEvent::Disconnected { reason } => disconnects.push(reason),
                SessionEvent::Message(m) if m.topic == sync && m.payload == marker => return true,
                SessionEvent::Message(m) if m.topic == sync && m.payload.len() == fits => {
                    got_big = true
                }
                _ => {}
            }
        }
        false
    })
    .await;
    assert_eq!(arrived, Ok(true), "the marker did not come back");
    assert!(
        disconnects.is_empty(),
        "the session reconnected: {disconnects:?}"
    );
    assert!(got_big, "the publish at the limit did not arrive");
    assert!(session.is_connected());
    session.shutdown(None).await;
}
