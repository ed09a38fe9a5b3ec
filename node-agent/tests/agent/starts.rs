//! How a start and an update reach the bus with real podman (issue 17): `Running` comes from
//! `podman run -d` itself, with no `podman ps` of the instance after it, a workload that dies as
//! it starts is never reported running, and an update removes the old container in one call
//! before it starts the new one. A shim in front of the real podman records every call.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ank_schemas::RestartPolicy;

use crate::harness::*;

/// Writes `dir/podman`, which appends its arguments to `dir/calls` and runs the real podman.
fn recording_podman(dir: &Path) -> PathBuf {
    let real = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("podman"))
        .find(|p| p.is_file())
        .expect("podman is installed (scripts/test-env.sh)");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{calls}'\nexec '{real}' \"$@\"\n",
        calls = dir.join("calls").display(),
        real = real.display(),
    );
    let path = dir.join("podman");
    std::fs::write(&path, script).expect("write the shim");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// The podman calls recorded so far whose arguments start with `subcommand`.
fn calls(dir: &Path, subcommand: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split(' ').next() == Some(subcommand))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn issue_17_running_comes_from_the_run_itself_and_an_update_removes_in_one_call() {
    let env = Env::start("starts").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = env.config(&name);
    config.podman = recording_podman(dir.path());
    let mut ctl = Controller::connect(&env).await;
    ctl.record_history();
    let runs = shell("runs", &name, SERVICE, RestartPolicy::Never);
    let dies = shell("dies", &name, "exit 3", RestartPolicy::Never);
    ctl.publish(&name, &[&runs, &dies]).await;
    let agent = InProcessAgent::start(config);

    ctl.wait_for(&name, "runs", "Running(Ok)").await;
    let failed = ctl.wait_for(&name, "dies", "Failed(ExecFailed)").await;
    assert_eq!(failed.exit_code, Some(3));
    let history = ctl.history(&name, "dies");
    assert!(
        !history.iter().any(|s| s == "Running(Ok)"),
        "a workload that dies as it starts is never reported running: {history:?}"
    );
    assert_eq!(the_container(&runs.instance_id).state, "running");

    // An update: the old container goes (one `rm -f -t`, no `stop`), then the new one starts.
    let updated = shell(
        "runs",
        &name,
        &format!("{SERVICE} # v2"),
        RestartPolicy::Never,
    );
    ctl.publish(&name, &[&updated, &dies]).await;
    let now = ctl
        .wait_state(&name, "runs", "the updated instance running", |s| {
            s.instance_id == updated.instance_id && s.state.to_string() == "Running(Ok)"
        })
        .await;
    assert_eq!(now.instance_id, updated.instance_id);
    assert!(
        containers(&runs.instance_id).is_empty(),
        "the old one is gone"
    );
    assert_eq!(the_container(&updated.instance_id).state, "running");

    let instance_ps: Vec<String> = calls(dir.path(), "ps")
        .into_iter()
        .filter(|c| c.contains("label=ankmq.instance="))
        .collect();
    assert!(
        instance_ps.is_empty(),
        "no podman ps of one instance after a run or a delete: {instance_ps:?}"
    );
    assert!(
        calls(dir.path(), "stop").is_empty(),
        "{:?}",
        calls(dir.path(), "stop")
    );
    let removed = calls(dir.path(), "rm");
    assert!(
        removed.iter().any(|c| c.contains("-f -t ")
            && c.contains(&format!("label=ankmq.instance={}", runs.instance_id))),
        "{removed:?}"
    );
    agent.stop().await;
}
