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
    podman(&["rm", "-f", "-t", "0", "--ignore", "--filter", &filter])
        .await
        .map(|_| ())
}

/// The names of every container whose name matches `pattern` (podman's regular expression).
pub async fn names_matching(pattern: &str) -> Result<Vec<String>> {
    let filter = format!("name={pattern}");
    let names = podman(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]).await?;
    Ok(names.lines().map(str::to_owned).collect())
}

/// The id of the container labelled with `instance`.
pub async fn container_of(instance: &str) -> Result<String> {
    let filter = format!("label=ankmq.instance={instance}");
    let ids = podman(&["ps", "-a", "--filter", &filter, "--format", "{{.ID}}"]).await?;
    match ids.lines().next() {
        Some(id) => Ok(id.to_owned()),
        None => bail!("no container is labelled {filter}"),
    }
}

/// What podman recorded about a container's life (wall clock).
#[derive(Debug, Clone, Copy)]
pub struct Lifecycle {
    /// When it was created.
    pub created: SystemTime,
    /// When its process started.
    pub started: SystemTime,
    /// When its process exited, if it did.
    pub finished: Option<SystemTime>,
}

/// [`Lifecycle`] of the container `reference` (name or id), from `podman inspect`.
pub async fn lifecycle(reference: &str) -> Result<Lifecycle> {
    let text = podman(&[
        "inspect",
        "--format",
        "{{.Created.UnixNano}} {{.State.StartedAt.UnixNano}} {{.State.FinishedAt.UnixNano}}",
        reference,
    ])
    .await?;
    let times: Vec<i64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("podman inspect of {reference} printed {text}"))?;
    let at = |nanos: i64| (nanos > 0).then(|| UNIX_EPOCH + Duration::from_nanos(nanos as u64));
    match times[..] {
        [created, started, finished] => Ok(Lifecycle {
            created: at(created).context("no creation time")?,
            started: at(started).context("no start time")?,
            finished: at(finished),
        }),
        _ => bail!("podman inspect of {reference} printed {text}"),
    }
}

/// A `podman events` stream waiting for one container's `died` event: the reference for how
/// fast anyone on this machine can learn of an exit through podman.
pub struct DiedWatch {
    child: tokio::process::Child,
    line: tokio::task::JoinHandle<Option<SystemTime>>,
}

impl DiedWatch {
    /// Starts watching container `name` (which must exist).
    pub fn start(name: &str) -> Result<DiedWatch> {
        use tokio::io::AsyncBufReadExt;
        let conf = ank_system_tests::podman::containers_conf()?;
        let filter = format!("container={name}");
        let mut child = Command::new("podman")
            .env("CONTAINERS_CONF", conf)
            .args([
                "events",
                "--filter",
                &filter,
                "--filter",
                "event=died",
                "--format",
                "{{.ID}}",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting podman events")?;
        let stdout = child.stdout.take().context("podman events has no stdout")?;
        let line = tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            match lines.next_line().await {
                Ok(Some(_)) => Some(SystemTime::now()),
                _ => None,
            }
        });
        Ok(DiedWatch { child, line })
    }

    /// When the `died` event was read, or an error after `timeout`.
    pub async fn wait(mut self, timeout: Duration) -> Result<SystemTime> {
        let got = tokio::time::timeout(timeout, &mut self.line).await;
        let _ = self.child.kill().await;
        match got {
            Ok(Ok(Some(at))) => Ok(at),
            _ => bail!("no died event from podman events within {timeout:?}"),
        }
    }
}

/// `podman --version`, e.g. `podman version 4.3.1`.
pub async fn version() -> String {
    podman(&["--version"])
        .await
        .unwrap_or_else(|e| format!("unknown ({e})"))
}
