//! The controller's state directory on a full file system (issue 14, point 6): a request that
//! needs a state write is refused with "no space left on device", the state stays as it was,
//! and once space is freed the same request is accepted without a restart. On a small tmpfs;
//! needs root, fails (never skips) without it.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::harness::{apply, ok, refused, Env, TestBroker};

/// A tmpfs mounted on a fresh directory, (lazily) unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Self {
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
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(mounted.success(), "mount -t tmpfs: {mounted}");
        Self(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: the broker's last tasks may still hold a file there while the test ends;
        // the mount goes once they let go, and the directory is empty by then.
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("create the filler");
    let chunk = vec![0u8; 16 * 1024];
    while file.write(&chunk).is_ok_and(|n| n > 0) {}
}

const FIRST: &str = "apiVersion: v1\nworkloads:\n  a: {agent: agent_A, runtime: podman, runtimeConfig: 'image: a'}\n";
const SECOND: &str = "apiVersion: v1\nworkloads:\n  b: {agent: agent_A, runtime: podman, runtimeConfig: 'image: b'}\n";

async fn scenario(env: Env) {
    let fs = Tmpfs::mount("1m");
    let state_dir = fs.0.path().join("controller");
    let config = ank_controller::Config {
        state_dir: state_dir.clone(),
        ..env.config()
    };
    let controller = env.controller_with(config.clone()).await;
    let cli = env.client("cli-1").await;
    ok(&cli.request(apply(FIRST)).await);
    let file_before = std::fs::read(state_dir.join("state.json")).expect("state.json");
    let state_before = cli.get_state(&["desiredState"]).await;

    fill(&fs.0.path().join("filler"));
    let answer = cli.request(apply(SECOND)).await;
    let error = refused(&answer).to_string();
    assert!(
        !state_dir.join(".state.json.tmp").exists(),
        "a partial temp file is left behind, holding space"
    );
    assert!(
        error.contains("no space left on device"),
        "the refusal names the full disk: {error}"
    );
    assert_eq!(
        std::fs::read(state_dir.join("state.json")).expect("state.json"),
        file_before,
        "state.json changed on a full disk"
    );
    assert_eq!(cli.get_state(&["desiredState"]).await, state_before);

    // Space freed: the same request goes through, without a restart.
    std::fs::remove_file(fs.0.path().join("filler")).expect("remove the filler");
    ok(&cli.request(apply(SECOND)).await);
    let after: Value = cli.get_state(&["desiredState"]).await;
    let workloads = &after["desiredState"]["workloads"];
    assert!(
        workloads.get("a").is_some() && workloads.get("b").is_some(),
        "{after:#}"
    );

    // Nothing lost: a restart reads both back.
    controller
        .stop()
        .await
        .expect("the controller stops cleanly");
    let _controller = env.controller_with(config).await;
    assert_eq!(cli.get_state(&["desiredState"]).await, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_a_full_state_disk_refuses_the_change_with_no_space_and_keeps_the_state_embedded()
{
    scenario(Env::embedded().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_a_full_state_disk_refuses_the_change_with_no_space_and_keeps_the_state_mosquitto()
{
    scenario(Env::on(TestBroker::mosquitto())).await;
}
