//! The reference side of the apply and exit measurements: raw `podman` calls, the same the agent
//! makes, timed the same way. Besides the agent's runtime layer, this is the one place in the
//! workspace that spells `podman` outside tests, because a reference must not go through our code.

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use tokio::process::Command;

/// The local test image (`scripts/test-env.sh` builds it).
pub fn image() -> String {
    ank_system_tests::podman::test_image()
}

async fn podman(args: &[&str]) -> Result<String> {
    let conf = ank_system_tests::podman::containers_conf()?;
    let out = Command::new("podman")
        .env("CONTAINERS_CONF", conf)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .context("podman is not installed: run scripts/test-env.sh")?;
    if !out.status.success() {
        bail!(
            "podman {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `podman run -d --name <name> <image> <command…>`, timed from spawn to exit.
pub async fn run_detached(name: &str, command: &[&str]) -> Result<Duration> {
    let image = image();
    let mut args = vec!["run", "-d", "--name", name, image.as_str()];
    args.extend_from_slice(command);
    let started = Instant::now();
    podman(&args).await?;
    Ok(started.elapsed())
}

/// `podman rm -f -t 0 <name>`.
pub async fn remove(name: &str) -> Result<()> {
    podman(&["rm", "-f", "-t", "0", name]).await.map(|_| ())
}

/// Removes every container labelled as belonging to `agent` (cleanup after a run).
pub async fn remove_agent_containers(agent: &str) -> Result<()> {
    let filter = format!("label=ankmq.agent={agent}");
    podman(&["rm", "-f", "-t", "0", "--ignore", "--filter", &filter]).await.map(|_| ())
}

/// When the container of `instance` exited, as podman recorded it.
pub async fn finished_at(instance: &str) -> Result<SystemTime> {
    let filter = format!("label=ankmq.instance={instance}");
    let ids = podman(&["ps", "-a", "--filter", &filter, "--format", "{{.ID}}"]).await?;
    let Some(id) = ids.lines().next() else {
        bail!("no container is labelled {filter}");
    };
    let nanos = podman(&["inspect", "--format", "{{.State.FinishedAt.UnixNano}}", id]).await?;
    let nanos: i64 = nanos
        .parse()
        .with_context(|| format!("podman's FinishedAt of {id} is not a number: {nanos}"))?;
    if nanos <= 0 {
        bail!("container {id} has not finished");
    }
    Ok(UNIX_EPOCH + Duration::from_nanos(nanos as u64))
}

/// `podman --version`, e.g. `podman version 4.3.1`.
pub async fn version() -> String {
    podman(&["--version"]).await.unwrap_or_else(|e| format!("unknown ({e})"))
}
