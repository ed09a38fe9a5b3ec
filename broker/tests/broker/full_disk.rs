//! The broker's storage on a full file system (issue 14, point 6): a small tmpfs, filled by
//! another writer. Needs root to mount it; without root the test fails and says so, it never
//! skips (CI runs as root).

use crate::harness::{connect, options, unique, Client, WAIT};
use ank_broker::{BrokerConfig, BrokerHandle, Storage};
use ank_system_tests::tmpfs::{fill, Tmpfs};
use ank_testkit::eventually;
use std::path::PathBuf;

/// Connects a new client (no retry: the broker must not refuse it) and reads the retained
/// message on `topic`.
async fn read_retained(addr: std::net::SocketAddr, topic: &str) -> Vec<u8> {
    let mut reader: Client = connect(options(addr, &unique("reader")))
        .await
        .unwrap_or_else(|e| panic!("a new client connects: {e}"));
    reader.subscribe_ok(topic).await;
    let p = reader
        .next_publish(WAIT)
        .await
        .unwrap_or_else(|| panic!("the retained message on {topic} is delivered"));
    let _ = reader.client.disconnect().await;
    p.payload.to_vec()
}

async fn start(storage: PathBuf) -> BrokerHandle {
    ank_broker::start(BrokerConfig {
        storage: Storage::Dir(storage),
        ..BrokerConfig::for_tests()
    })
    .await
    .expect("the broker starts")
}

#[tokio::test]
async fn issue_14_a_full_storage_disk_keeps_the_broker_serving_and_a_restart_works() {
    let fs = Tmpfs::mount("4m").expect("a tmpfs");
    let storage = fs.path().join("state/broker");
    let reserve = storage.join(".space-reserve");
    let broker = start(storage.clone()).await;
    let addr = broker.mqtt_addr();
    let topic = "ank/v1/agents/a/status";
    let mut writer = connect(options(addr, "writer")).await.unwrap();
    writer.publish(topic, b"online", true).await;

    // Another writer fills the disk: the broker releases its reserve and keeps serving.
    let filled = fill(&fs.path().join("filler")).expect("filled");
    eprintln!("filled {filled} bytes");
    // No waiting for the watcher: the retained publish right after the fill must be stored on
    // disk too (checked after the restart below), and every new client must get in.
    writer.publish(topic, b"still-online", true).await;
    for _ in 0..20 {
        assert_eq!(read_retained(addr, topic).await, b"still-online");
    }

    // Space comes back: the reserve is taken again, without a restart.
    std::fs::remove_file(fs.path().join("filler")).unwrap();
    eventually("the reserve to be restored", WAIT, || async {
        reserve.exists()
    })
    .await;
    assert_eq!(read_retained(addr, topic).await, b"still-online");

    // Full again, then a restart on the full disk: the reserve is what it starts on.
    drop(writer);
    fill(&fs.path().join("filler")).expect("filled");
    eventually("the reserve to be released", WAIT, || async {
        !reserve.exists()
    })
    .await;
    broker.stop().await;
    let broker = start(storage.clone()).await;
    assert_eq!(
        read_retained(broker.mqtt_addr(), topic).await,
        b"still-online",
        "nothing lost across the restart on a full disk"
    );
    broker.stop().await;
}
