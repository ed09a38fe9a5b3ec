//! Brings up what a measurement needs: a controller (embedded broker or an external one), an
//! agent, a standalone `ank-broker`, in a private run directory on free loopback ports.
//!
//! Every agent name starts with `bench`, so the harness only ever touches containers it created
//! (other people's containers may run on the same podman).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ank_bus::{ConnectOptions, Session};
use ank_schemas::{ControllerStatus, Liveness, Topics};
use ank_system_tests::mosquitto::free_port;
use anyhow::{bail, Context, Result};

use crate::processes::{wait_listening, Binaries, Proc};

/// How long a started process may take to listen or come online before the run fails.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// SIGTERM grace before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Which broker the controller uses.
#[derive(Debug, Clone)]
pub enum BrokerChoice {
    /// Its embedded broker, on a free port.
    Embedded,
    /// An external broker at this URL.
    External(String),
}

/// A running controller.
#[derive(Debug)]
pub struct Controller {
    /// The process.
    pub proc: Proc,
    /// `mqtt://127.0.0.1:<port>` of the broker clients use.
    pub url: String,
    /// The port of that broker.
    pub port: u16,
}

/// Starts `ank-controller` with a fresh state directory under `dir`, embedded broker in memory
/// (unless `storage` asks for the default on-disk store) or an external broker, plus `extra`
/// flags. Returns at once; see [`wait_controller_online`].
pub fn start_controller(
    bins: &Binaries,
    dir: &Path,
    label: &str,
    broker: &BrokerChoice,
    storage: bool,
    extra: &[&str],
) -> Result<Controller> {
    let state_dir = dir.join(format!("{label}-state"));
    let mut args: Vec<String> = vec!["--state-dir".into(), path_arg(&state_dir)];
    let (url, port) = match broker {
        BrokerChoice::Embedded => {
            let port = free_port()?;
            args.extend(["--listen".into(), format!("127.0.0.1:{port}")]);
            if !storage {
                args.push("--in-memory".into());
            }
            (format!("mqtt://127.0.0.1:{port}"), port)
        }
        BrokerChoice::External(url) => {
            args.extend(["--broker".into(), url.clone()]);
            let port = url
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(1883);
            (url.clone(), port)
        }
    };
    args.extend(extra.iter().map(|s| s.to_string()));
    let proc = Proc::spawn(
        &bins.path("ank-controller"),
        &args,
        &dir.join(format!("{label}-controller.log")),
    )?;
    Ok(Controller { proc, url, port })
}

/// Waits until the controller's retained status says `online`.
pub async fn wait_controller_online(ctl: &mut Controller, topics: &Topics) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    wait_listening(ctl.port, READY_TIMEOUT).await?;
    let mut opts =
        ConnectOptions::from_url(&ctl.url, &format!("bench-probe-{}", std::process::id()))?;
    opts.topics = topics.clone();
    let (session, _incoming) = Session::connect(opts, None).await?;
    let result = loop {
        ctl.proc.check_alive()?;
        let status = session.read_retained(&[topics.controller_status()]).await?;
        let online = status.iter().any(|m| {
            serde_json::from_slice::<ControllerStatus>(&m.payload)
                .is_ok_and(|s| s.state == Liveness::Online)
        });
        if online {
            break Ok(());
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!(
                "the controller is not online after {READY_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    session.shutdown(None).await;
    result
}

/// Starts `ank-agent -n <name>` against `url`, with its run folder under `dir`.
pub fn start_agent(bins: &Binaries, dir: &Path, name: &str, url: &str) -> Result<Proc> {
    if !name.starts_with("bench") {
        bail!("benchmark agents are named bench*, so that cleanup touches only their containers");
    }
    let run = dir.join(format!("{name}-run"));
    std::fs::create_dir_all(&run).with_context(|| format!("creating {}", run.display()))?;
    let args = vec![
        "-n".into(),
        name.into(),
        "-b".into(),
        url.into(),
        "-r".into(),
        path_arg(&run),
    ];
    Proc::spawn(
        &bins.path("ank-agent"),
        &args,
        &dir.join(format!("{name}.log")),
    )
}

/// Waits until `agent`'s retained status says `online`.
pub async fn wait_agent_online(url: &str, topics: &Topics, agent: &str) -> Result<()> {
    let mut opts = ConnectOptions::from_url(url, &format!("bench-probe-{}", std::process::id()))?;
    opts.topics = topics.clone();
    let (session, _incoming) = Session::connect(opts, None).await?;
    let deadline = Instant::now() + READY_TIMEOUT;
    let result = loop {
        let status = session.read_retained(&[topics.agent_status(agent)]).await?;
        if status
            .iter()
            .any(|m| String::from_utf8_lossy(&m.payload).contains("\"online\""))
        {
            break Ok(());
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!(
                "agent {agent} is not online after {READY_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    session.shutdown(None).await;
    result
}

/// Starts a standalone `ank-broker` in memory on a free port; returns it and its URL.
pub async fn start_ank_broker(
    bins: &Binaries,
    dir: &Path,
    label: &str,
    extra: &[&str],
) -> Result<(Proc, String)> {
    let port = free_port()?;
    let mut args: Vec<String> = vec![
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--in-memory".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let proc = Proc::spawn(
        &bins.path("ank-broker"),
        &args,
        &dir.join(format!("{label}-broker.log")),
    )?;
    wait_listening(port, READY_TIMEOUT).await?;
    Ok((proc, format!("mqtt://127.0.0.1:{port}")))
}

fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A directory for one run's logs, manifests and state, under the system temp dir.
pub fn run_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("ank-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
