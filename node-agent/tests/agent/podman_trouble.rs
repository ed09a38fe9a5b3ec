//! A podman that fails or hangs (issue 14): real podman behind a small shim that misbehaves on
//! `ps` while a flag file exists, so the workload itself still runs for real.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ank_schemas::RestartPolicy;

use crate::harness::*;

/// Writes `dir/podman`: while `dir/flag` exists, `ps` misbehaves as `trouble` says (a shell
/// snippet); every other call, and `ps` without the flag, is the real podman.
fn shim(dir: &Path, trouble: &str) -> PathBuf {
    let real = which_podman();
    let flag = dir.join("flag");
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = ps ] && [ -e '{flag}' ]; then {trouble}; fi\nexec '{real}' \"$@\"\n",
        flag = flag.display(),
        real = real.display(),
    );
    let path = dir.join("podman");
    std::fs::write(&path, script).expect("write the shim");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(&flag, "").expect("raise the flag");
    path
}

fn which_podman() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("podman"))
        .find(|p| p.is_file())
        .expect("podman is installed (scripts/test-env.sh)")
}

#[tokio::test]
async fn issue_14_a_listing_that_fails_once_is_not_reported_as_failed_unknown() {
    let env = Env::start("flakyps").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let dir = tempfile::tempdir().expect("temp dir");
    // The first `ps` fails (and lowers the flag); the next one works.
    let podman = shim(
        dir.path(),
        &format!(
            "rm -f '{}'; echo 'Error: database is locked' >&2; exit 125",
            dir.path().join("flag").display()
        ),
    );
    let mut config = env.config(&name);
    config.podman = podman;
    let mut ctl = Controller::connect(&env).await;
    ctl.record_history();
    let w = shell("steady", &name, SERVICE, RestartPolicy::Never);
    ctl.publish(&name, &[&w]).await;
    let agent = InProcessAgent::start(config);
    ctl.wait_for(&name, "steady", "Running(Ok)").await;
    assert!(
        !dir.path().join("flag").exists(),
        "the shim's failing `ps` was called"
    );
    let seen = ctl.history(&name, "steady");
    assert!(
        seen.iter().all(|s| !s.starts_with("Failed")),
        "a single failed listing was reported: {seen:?}"
    );
    agent.stop().await;
}

#[tokio::test]
async fn issue_14_a_hanging_podman_is_reported_with_a_reason_instead_of_silence() {
    let env = Env::start("hangps").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let dir = tempfile::tempdir().expect("temp dir");
    let podman = shim(dir.path(), "exec sleep 3600");
    let mut config = env.config(&name);
    config.podman = podman;
    let mut ctl = Controller::connect(&env).await;
    let w = shell("patient", &name, SERVICE, RestartPolicy::Never);
    ctl.publish(&name, &[&w]).await;
    let agent = InProcessAgent::start(config);
    let state = ctl
        .wait_state(&name, "patient", "Failed(Unknown) naming the hang", |p| {
            p.state.to_string() == "Failed(Unknown)" && p.additional_info.contains("did not finish")
        })
        .await;
    assert!(
        state.additional_info.contains(" ps "),
        "names the command: {state:?}"
    );
    // podman answers again: the agent recovers and runs the workload.
    std::fs::remove_file(dir.path().join("flag")).expect("lower the flag");
    ctl.wait_for(&name, "patient", "Running(Ok)").await;
    agent.stop().await;
}
