use std::time::{Duration, Instant};

use ank_bus::{new_epoch, Birth, BusError, ConnectOptions, Session, SessionEvent};
use ank_testkit::eventually;

use crate::harness::{flush, next_event, on_every_broker, retained, TestBroker};

on_every_broker!(
    resubscribes_and_rebirths_after_the_broker_restarts,
    publishes_queued_during_an_outage_land_after_the_reconnect,
);

async fn resubscribes_and_rebirths_after_the_broker_restarts(mut broker: TestBroker) {
    let topics = ank_schemas::Topics::default();
    let birth = Birth {
        topic: topics.agent_status("agent_A"),
        online: br#"{"state":"online"}"#.to_vec(),
        will: br#"{"state":"lost"}"#.to_vec(),
    };
    let (agent, mut events) = broker.connect("agent_A", Some(birth.clone())).await;
    let desired = topics.agent_desired("agent_A");
    agent.subscribe(&desired).await.expect("subscribe");
    // Everything sent and acknowledged: after the restart, only the replay can bring them back.
    flush(&agent, &mut events).await;

    broker.stop().await;
    next_event(&mut events, Duration::from_secs(10), "Disconnected", |e| {
        matches!(e, SessionEvent::Disconnected { .. }).then_some(())
    })
    .await;
    let down = Instant::now();
    broker.start_again().await;
    next_event(&mut events, Duration::from_secs(10), "Connected", |e| {
        matches!(e, SessionEvent::Connected { .. }).then_some(())
    })
    .await;
    eprintln!(
        "reconnected {:?} after the broker came back",
        down.elapsed()
    );
    assert!(agent.is_connected());

    // The restarted broker lost every retained message: the birth must be there again.
    let (controller, _) = broker.connect("controller", None).await;
    let status = eventually("the re-birth", Duration::from_secs(5), || async {
        retained(&controller, &birth.topic).await
    })
    .await;
    assert_eq!(status.payload, birth.online);

    // And the subscription must be live again.
    controller
        .publish(&desired, b"snapshot-2".to_vec(), true)
        .await
        .expect("publish");
    let got = next_event(
        &mut events,
        Duration::from_secs(5),
        "the snapshot",
        |e| match e {
            SessionEvent::Message(m) if m.topic == desired => Some(m),
            _ => None,
        },
    )
    .await;
    assert_eq!(got.payload, b"snapshot-2");
}

async fn publishes_queued_during_an_outage_land_after_the_reconnect(mut broker: TestBroker) {
    let topics = ank_schemas::Topics::default();
    let (agent, mut events) = broker.connect("agent_A", None).await;
    broker.stop().await;
    next_event(&mut events, Duration::from_secs(10), "Disconnected", |e| {
        matches!(e, SessionEvent::Disconnected { .. }).then_some(())
    })
    .await;
    let state = topics.workload_state("agent_A", "nginx");
    agent
        .publish(&state, b"running".to_vec(), true)
        .await
        .expect("queued while down");
    broker.start_again().await;
    let (reader, _) = broker.connect("reader", None).await;
    let got = eventually("the queued publish", Duration::from_secs(10), || async {
        retained(&reader, &state).await
    })
    .await;
    assert_eq!(got.payload, b"running");
}

#[tokio::test]
async fn a_closed_port_is_unreachable_at_once() {
    let port = ank_system_tests::mosquitto::free_port().expect("free port");
    let mut opts =
        ConnectOptions::from_url(&format!("mqtt://127.0.0.1:{port}"), "cli").expect("url");
    // A refused connect must not wait for the connect timeout: make that wait unmistakable.
    opts.connect_timeout = Duration::from_secs(30);
    let started = Instant::now();
    let error = Session::connect(opts, None)
        .await
        .expect_err("nothing listens");
    assert!(
        matches!(&error, BusError::Unreachable { url, .. } if url.ends_with(&port.to_string())),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "at once, not after the 30 s connect timeout: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_silent_broker_is_unreachable_after_the_connect_timeout() {
    // Accepts TCP (the kernel's backlog does) but never answers CONNECT.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr");
    let mut opts = ConnectOptions::from_url(&format!("mqtt://{addr}"), "cli").expect("url");
    opts.connect_timeout = Duration::from_millis(800);
    let started = Instant::now();
    let error = Session::connect(opts, None).await.expect_err("no CONNACK");
    let waited = started.elapsed();
    assert!(matches!(error, BusError::Unreachable { .. }), "{error:?}");
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(10),
        "gives up after its 800 ms, does not hang: {waited:?}"
    );
    let message = format!(
        "{error}: {}",
        std::error::Error::source(&error).expect("source")
    );
    assert!(
        message.contains("unreachable") && message.contains("CONNACK"),
        "{message}"
    );
    drop(silent);
}

#[test]
fn the_epoch_of_a_birth_is_fresh() {
    let before = new_epoch();
    std::thread::sleep(Duration::from_millis(2));
    assert!(new_epoch() > before);
}
