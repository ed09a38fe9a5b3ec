//! The broker's storage on a full file system (issue 14, point 6): a small tmpfs, filled by
//! another writer. Needs root to mount it; without root the test fails and says so, it never
//! skips (CI runs as root).

use crate::harness::{connect, options, unique, Client, WAIT};
use ank_broker::{BrokerConfig, BrokerHandle, Storage};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs of `size` mounted on a fresh directory, (lazily) unmounted on drop.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Self {
        assert_root();
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mount -t tmpfs on {}: {status}",
            dir.path().display()
        );
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: the broker's last tasks may still hold a file there while the test ends;
        // the mount goes once they let go, and the directory is empty by then.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fails unless this process runs as root (the effective uid in /proc/self/status).
fn assert_root() {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(str::to_owned));
    assert_eq!(
        euid.as_deref(),
        Some("0"),
        "this test mounts a tmpfs and must run as root (CI does); it is not skipped"
    );
}

/// Writes zeros to `path` until the file system says ENOSPC; returns the bytes written.
pub fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).expect("create the filler");
    let chunk = vec![0u8; 16 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(libc_enospc()) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    let _ = file.sync_all();
    written
}

fn libc_enospc() -> i32 {
    28
}

/// Polls `condition` every 20 ms until it holds, failing after `WAIT`.
async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

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
    let fs = Tmpfs::mount("4m");
    let storage = fs.path().join("state/broker");
    let reserve = storage.join(".space-reserve");
    let broker = start(storage.clone()).await;
    let addr = broker.mqtt_addr();
    let topic = "ank/v1/agents/a/status";
    let mut writer = connect(options(addr, "writer")).await.unwrap();
    writer.publish(topic, b"online", true).await;

    // Another writer fills the disk: the broker releases its reserve and keeps serving.
    let filled = fill(&fs.path().join("filler"));
    eprintln!("filled {filled} bytes");
    // No waiting for the watcher: the retained publish right after the fill must be stored on
    // disk too (checked after the restart below), and every new client must get in.
    writer.publish(topic, b"still-online", true).await;
    for _ in 0..20 {
        assert_eq!(read_retained(addr, topic).await, b"still-online");
    }

    // Space comes back: the reserve is taken again, without a restart.
    std::fs::remove_file(fs.path().join("filler")).unwrap();
    until("the reserve to be restored", || reserve.exists()).await;
    assert_eq!(read_retained(addr, topic).await, b"still-online");

    // Full again, then a restart on the full disk: the reserve is what it starts on.
    drop(writer);
    fill(&fs.path().join("filler"));
    until("the reserve to be released", || !reserve.exists()).await;
    broker.stop().await;
    let broker = start(storage.clone()).await;
    assert_eq!(
        read_retained(broker.mqtt_addr(), topic).await,
        b"still-online",
        "nothing lost across the restart on a full disk"
    );
    broker.stop().await;
}
