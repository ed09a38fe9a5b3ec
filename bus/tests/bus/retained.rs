use std::time::{Duration, Instant};

use ank_bus::WatchEvent;
use ank_testkit::stays;

use crate::harness::{flush, on_every_broker, TestBroker};

on_every_broker!(
    read_retained_returns_all_2000_retained_topics,
    watch_gives_a_snapshot_then_updates_and_removals,
    read_retained_keeps_the_session_traffic_apart,
    issue_17_a_read_of_70_filters_gets_the_retained_messages_of_each,
);

const TOPICS: usize = 2_000;

async fn read_retained_returns_all_2000_retained_topics(broker: TestBroker) {
    let topics = ank_schemas::Topics::default();
    let (agent, mut events) = broker.connect("agent_A", None).await;
    let started = Instant::now();
    for i in 0..TOPICS {
        let topic = topics.workload_state(&format!("agent_{}", i % 10), &format!("w{i}"));
        agent
            .publish(&topic, format!("state-{i}").into_bytes(), true)
            .await
            .expect("publish");
    }
    flush(&agent, &mut events).await;
    eprintln!(
        "{TOPICS} retained publishes stored in {:?}",
        started.elapsed()
    );

    let (cli, _) = broker.connect("cli-1", None).await;
    let started = Instant::now();
    let snapshot = cli
        .read_retained(&[topics.all_workload_states()])
        .await
        .expect("read");
    eprintln!(
        "{} retained messages read in {:?}",
        snapshot.len(),
        started.elapsed()
    );
    assert_eq!(
        snapshot.len(),
        TOPICS,
        "every retained message, none missing"
    );
    for message in &snapshot {
        let Some(ank_schemas::Topic::WorkloadState { workload, .. }) = topics.parse(&message.topic)
        else {
            panic!("unexpected topic {}", message.topic);
        };
        let i = workload.trim_start_matches('w');
        assert_eq!(message.payload, format!("state-{i}").into_bytes());
        assert!(message.retain);
    }
    let mut sorted = snapshot.iter().map(|m| m.topic.clone()).collect::<Vec<_>>();
    sorted.sort();
    assert!(
        snapshot.iter().map(|m| &m.topic).eq(sorted.iter()),
        "sorted by topic"
    );
}

async fn watch_gives_a_snapshot_then_updates_and_removals(broker: TestBroker) {
    let topics = ank_schemas::Topics::default();
    let (agent, mut events) = broker.connect("agent_A", None).await;
    let nginx = topics.workload_state("agent_A", "nginx");
    let db = topics.workload_state("agent_A", "db");
    agent
        .publish(&nginx, b"running".to_vec(), true)
        .await
        .expect("publish");
    flush(&agent, &mut events).await;

    let (cli, _) = broker.connect("cli-1", None).await;
    let mut watch = cli
        .watch_retained(&[topics.agent_workload_states("agent_A")])
        .await
        .expect("watch");
    match next(&mut watch).await {
        WatchEvent::Snapshot(snapshot) => {
            assert_eq!(snapshot.len(), 1);
            assert_eq!(snapshot[0].topic, nginx);
            assert_eq!(snapshot[0].payload, b"running");
        }
        other => panic!("expected the snapshot first, got {other:?}"),
    }
    agent
        .publish(&db, b"pending".to_vec(), true)
        .await
        .expect("publish");
    assert!(matches!(
        next(&mut watch).await,
        WatchEvent::Update(m) if m.topic == db && m.payload == b"pending"
    ));
    // Clearing a retained topic reaches watchers as an update with an empty payload.
    agent
        .publish(&nginx, Vec::new(), true)
        .await
        .expect("clear");
    assert!(matches!(
        next(&mut watch).await,
        WatchEvent::Update(m) if m.topic == nginx && m.payload.is_empty()
    ));
    watch.close().await;

    // A new read no longer sees the cleared topic.
    let snapshot = cli
        .read_retained(&[topics.agent_workload_states("agent_A")])
        .await
        .expect("read");
    let seen: Vec<&str> = snapshot.iter().map(|m| m.topic.as_str()).collect();
    assert_eq!(seen, [db.as_str()]);
}

async fn next(watch: &mut ank_bus::Watch) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("in time")
        .expect("open")
}

async fn read_retained_keeps_the_session_traffic_apart(broker: TestBroker) {
    let topics = ank_schemas::Topics::default();
    let (agent, mut agent_events) = broker.connect("agent_A", None).await;
    let status = topics.agent_status("agent_A");
    agent
        .publish(&status, b"online".to_vec(), true)
        .await
        .expect("publish");
    flush(&agent, &mut agent_events).await;

    // The controller follows statuses on its own session and reads them on the side.
    let (controller, mut events) = broker.connect("controller", None).await;
    controller
        .subscribe(&topics.all_agent_statuses())
        .await
        .expect("subscribe");
    let first =
        crate::harness::next_event(&mut events, Duration::from_secs(5), "status", |e| match e {
            ank_bus::SessionEvent::Message(m) => Some(m),
            _ => None,
        })
        .await;
    assert_eq!(first.topic, status);
    let snapshot = controller
        .read_retained(&[topics.all_agent_statuses()])
        .await
        .expect("read");
    assert_eq!(snapshot.len(), 1);
    // The side read must not replay retained copies into the session's own stream.
    stays(
        "no retained copy leaking into the session",
        Duration::from_millis(200),
        || {
            let leaked = std::iter::from_fn(|| events.try_recv())
                .find(|event| matches!(event, ank_bus::SessionEvent::Message(_)));
            std::future::ready((leaked.is_none(), leaked))
        },
    )
    .await;
}

/// A reader subscribes to all its filters in as few SUBSCRIBE packets as it can (64 filters
/// each), so 70 filters are two packets: the sync marker still comes back only after the
/// retained messages of both, and a filter that is not valid refuses the whole read.
async fn issue_17_a_read_of_70_filters_gets_the_retained_messages_of_each(broker: TestBroker) {
    let topics = ank_schemas::Topics::default();
    let (agent, mut events) = broker.connect("agent_A", None).await;
    let mut filters = Vec::new();
    for i in 0..70 {
        let topic = topics.workload_state(&format!("agent_{i}"), "w");
        agent
            .publish(&topic, format!("state-{i}").into_bytes(), true)
            .await
            .expect("publish");
        filters.push(topic);
    }
    flush(&agent, &mut events).await;

    let (cli, _) = broker.connect("cli-70", None).await;
    let snapshot = cli.read_retained(&filters).await.expect("read");
    let mut got: Vec<_> = snapshot.iter().map(|m| m.topic.clone()).collect();
    got.sort();
    let mut want = filters.clone();
    want.sort();
    assert_eq!(got, want, "one retained message per filter, none missing");

    filters.push(format!("{}/a#b", topics.prefix()));
    let err = cli
        .read_retained(&filters)
        .await
        .expect_err("an invalid filter refuses the read");
    assert!(matches!(err, ank_bus::BusError::InvalidTopic(_)), "{err}");
}
