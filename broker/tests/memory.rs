//! Memory stays bounded under churn (issue 3). A binary of its own: it measures the RSS of its
//! whole process, so no other test may run beside it.

#[path = "broker/harness.rs"]
mod harness;
#[path = "broker/wire.rs"]
mod wire;

use harness::{client, rss_kib};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CYCLES: usize = 5_000;
const PUBLISHES: usize = 100_000;
const TOPICS: usize = 10;
/// The bound this test states: after the churn, RSS may exceed the warmed-up baseline by at
/// most 16 MiB. Measured growth is about 5 MiB (docs/broker.md). A leak of 3.3 KiB per client
/// id (5,000 of them) or 170 bytes per message (100,000) would exceed it.
const MAX_GROWTH_KIB: u64 = 16 * 1024;

/// CONNECT, CONNACK, DISCONNECT, close: `n` times with distinct client ids.
async fn churn(addr: std::net::SocketAddr, round: usize, n: usize) {
    let mut lanes = tokio::task::JoinSet::new();
    for lane in 0..8 {
        lanes.spawn(async move {
            for i in (lane..n).step_by(8) {
                let id = format!("churn-{round}-{i}");
                let mut s = wire::connected(addr, id.as_bytes()).await;
                s.write_all(&[0xE0, 0x00]).await.expect("DISCONNECT");
                let _ = wire::closed_within(&mut s, Duration::from_secs(5)).await;
            }
        });
    }
    while let Some(done) = lanes.join_next().await {
        done.expect("churn lane");
    }
}

/// `n` retained QoS 1 publishes over `TOPICS` topics, pipelined on one raw connection, with a
/// QoS 1 subscriber receiving every one of them.
async fn publish_burst(addr: std::net::SocketAddr, round: usize, n: usize) {
    let mut reader = client(addr, &format!("mem-reader-{round}")).await;
    reader.subscribe_ok("mem/+").await;
    let mut writer = wire::connected(addr, format!("mem-writer-{round}").as_bytes()).await;
    let (mut rd, mut wr) = writer.split();
    let send = async {
        let mut batch = Vec::new();
        for i in 0..n {
            let topic = format!("mem/{}", i % TOPICS);
            let payload = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(100));
            batch.extend(wire::publish(
                topic.as_bytes(),
                payload.as_bytes(),
                1,
                true,
                (i % 60_000 + 1) as u16,
            ));
            if batch.len() > 256 * 1024 {
                wr.write_all(&batch).await.expect("send");
                batch.clear();
            }
        }
        wr.write_all(&batch).await.expect("send");
    };
    let acks = async {
        let mut buf = vec![0u8; 64 * 1024];
        let mut bytes = 0;
        while bytes < n * 4 {
            let k = tokio::time::timeout(Duration::from_secs(30), rd.read(&mut buf))
                .await
                .expect("PUBACKs keep coming")
                .expect("read");
            assert!(k > 0, "broker closed the writer");
            bytes += k;
        }
    };
    let receive = async {
        let mut got = 0;
        while got < n {
            if reader.next_publish(Duration::from_secs(30)).await.is_none() {
                panic!("subscriber got {got} of {n}");
            }
            got += 1;
        }
    };
    tokio::join!(send, acks, receive);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_after_5000_connections_and_100000_publishes() {
    let broker = harness::broker().await;
    let addr = broker.mqtt_addr();

    // Warm-up: allocator arenas, tokio's pools, buffers of every kind reach their working size.
    churn(addr, 0, 500).await;
    publish_burst(addr, 0, 10_000).await;
    let baseline = rss_kib();

    let started = Instant::now();
    churn(addr, 1, CYCLES).await;
    let after_churn = rss_kib();
    let churn_time = started.elapsed();
    let started = Instant::now();
    publish_burst(addr, 1, PUBLISHES).await;
    let after_publishes = rss_kib();
    let publish_time = started.elapsed();

    // The broker must still serve.
    harness::assert_healthy(addr, "churn-1-0", "the memory churn").await;
    eprintln!(
        "RSS KiB: baseline {baseline}, after {CYCLES} connect/disconnect {after_churn} ({churn_time:?}), \
         after {PUBLISHES} publishes over {TOPICS} topics {after_publishes} ({publish_time:?}); \
         bound: baseline + {MAX_GROWTH_KIB}"
    );
    assert!(
        after_churn.max(after_publishes) <= baseline + MAX_GROWTH_KIB,
        "RSS grew from {baseline} KiB to {} KiB",
        after_churn.max(after_publishes)
    );
    broker.stop().await;
}
