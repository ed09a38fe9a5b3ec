//! A whole ankmq cluster for one test, like jj's `TestEnvironment`: a broker (the controller's
//! embedded one, or a private Mosquitto), the real `ank-controller`, two real `ank-agent`s on
//! real podman, a third-party MQTT reader, and the `ank` CLI pointed at all of it.
//!
//! Everything is unique per test so tests run in parallel: the port, the topic prefix, the
//! agent names (which are podman labels shared by every test on the machine) and a temporary
//! directory holding state, run folders, manifests and logs. The drop guard kills every process
//! it started (by pid), removes every container and pod labelled with its agents, and, when the
//! test failed, prints the tail of every log and keeps the directory.
//!
//! Waiting is always a poll against a deadline (`ank_testkit::blocking`), never a bare sleep.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ank_schemas::Topics;
use anyhow::{bail, Context, Result};

use crate::binaries::{self, Binary};
use crate::bus_log::{self, BusMessage};
use crate::containers::{self, Container};
use crate::daemon::Daemon;
use crate::mosquitto::{free_port, Mosquitto};
use crate::states::{self, TableRow, WorkloadRow};
use ank_testkit::blocking::{wait_for, wait_until};

/// How long any single `ank` call may take before the harness kills it and fails the test.
const CLI_DEADLINE: Duration = Duration::from_secs(90);
/// How long a process may take to come up (connect, publish its birth).
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The default deadline of [`Cluster::wait_state`]: podman starts busybox in about 0.2 s, a pod
/// in about 1.4 s; the rest is slack for a loaded 2-core CI machine.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(30);

/// `commandArgs` of a long-running workload. busybox `sleep` as PID 1 ignores SIGTERM, so each
/// delete would wait out the agent's 10 s stop grace; this shell ends on SIGTERM at once.
pub const LONG_RUNNER: &str = r#"["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]"#;

/// Which broker the cluster runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// The controller's embedded broker (the default deployment): the controller process owns
    /// the broker, so "the broker goes down" means the controller goes down with it.
    Embedded,
    /// A private Mosquitto (`max_queued_messages 0`, no persistence) with the controller in
    /// external-broker mode.
    Mosquitto,
}

/// What an `ank` call printed and how it ended.
#[derive(Debug, Clone)]
pub struct AnkOutput {
    /// The arguments after the global options.
    pub args: Vec<String>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// How long it ran.
    pub elapsed: Duration,
}

impl AnkOutput {
    /// Fails (with everything it printed) unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> Result<&Self> {
        if self.code != Some(code) {
            bail!("expected exit code {code}, got {self}");
        }
        Ok(self)
    }

    /// Fails unless it exited with 0.
    pub fn expect_ok(&self) -> Result<&Self> {
        self.expect_code(0)
    }
}

impl std::fmt::Display for AnkOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`ank {}` exited {:?} after {:?}\n--- stdout\n{}--- stderr\n{}---",
            self.args.join(" "),
            self.code,
            self.elapsed,
            self.stdout,
            self.stderr
        )
    }
}

/// One agent slot: its fixed name and its process while it runs.
#[derive(Debug)]
struct AgentSlot {
    name: String,
    process: Option<Daemon>,
}

/// A running cluster; see the module docs. Dropping it stops and cleans up everything.
#[derive(Debug)]
pub struct Cluster {
    kind: BrokerKind,
    id: String,
    topics: Topics,
    port: u16,
    dir: Option<tempfile::TempDir>,
    mosquitto: Option<Mosquitto>,
    controller: Option<Daemon>,
    agents: Vec<AgentSlot>,
    recorder: Option<Daemon>,
    background: Vec<Daemon>,
    counter: u32,
    failed: bool,
    /// Flags every start of the controller gets on top of the harness's own.
    controller_extra: Vec<String>,
    /// Mosquitto's MQTT-over-WebSocket listener, for the dashboard (issue 18); 0 when embedded.
    ws_port: u16,
}

impl Cluster {
    /// Starts a broker of `kind`, the controller and two agents, and waits until all of them are
    /// online. `tag` (the scenario's name) goes into the agent names, so leftover containers
    /// name their test.
    pub fn start(kind: BrokerKind, tag: &str) -> Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let tag: String = tag
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(20)
            .collect();
        let broker = match kind {
            BrokerKind::Embedded => "e",
            BrokerKind::Mosquitto => "m",
        };
        let id = format!(
            "{tag}_{broker}{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let prefix = format!("systest/{id}/ank/v1");
        let topics = Topics::new(&prefix).context("building the topic prefix")?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("ank-system-{id}-"))
            .tempdir()
            .context("creating the cluster's directory")?;
        for sub in ["logs", "cli", "manifests", "run", "controller"] {
            std::fs::create_dir_all(dir.path().join(sub))
                .with_context(|| format!("creating {sub}/"))?;
        }
        let mut cluster = Self {
            kind,
            agents: ["A", "B"]
                .iter()
                .map(|suffix| AgentSlot {
                    name: format!("{id}_{suffix}"),
                    process: None,
                })
                .collect(),
            id,
            topics,
            port: 0,
            dir: Some(dir),
            mosquitto: None,
            controller: None,
            recorder: None,
            background: Vec::new(),
            counter: 0,
            failed: false,
            controller_extra: Vec::new(),
            ws_port: 0,
        };
        // Every path below can fail; the drop guard then cleans up and shows the logs.
        let started = cluster.boot();
        if let Err(e) = started {
            cluster.failed = true;
            return Err(e);
        }
        Ok(cluster)
    }

    fn boot(&mut self) -> Result<()> {
        for binary in Binary::ALL {
            binaries::path(binary)?;
        }
        match self.kind {
            BrokerKind::Embedded => {
                self.port = free_port()?;
            }
            BrokerKind::Mosquitto => {
                self.ws_port = free_port()?;
                let mosquitto = Mosquitto::start_with(free_port()?, &self.mosquitto_lines())?;
                self.port = mosquitto.port();
                self.mosquitto = Some(mosquitto);
            }
        }
        self.start_controller()?;
        for name in self.agent_names() {
            self.start_agent(&name)?;
        }
        Ok(())
    }

    /// Which broker this cluster runs on.
    pub fn kind(&self) -> BrokerKind {
        self.kind
    }

    /// The unique id of this cluster (part of every name).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The topic prefix.
    pub fn prefix(&self) -> &str {
        self.topics.prefix()
    }

    /// The topics under this cluster's prefix.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// `mqtt://127.0.0.1:<port>`.
    pub fn broker_url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The broker's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map(|d| d.path())
            .unwrap_or(Path::new("."))
    }

    /// The cluster id as a Kubernetes name part: lower case, `-` instead of `_`.
    pub fn kube_id(&self) -> String {
        self.id.to_ascii_lowercase().replace('_', "-")
    }

    /// The first agent's name (`<id>_A`).
    pub fn a(&self) -> &str {
        &self.agents[0].name
    }

    /// The second agent's name (`<id>_B`).
    pub fn b(&self) -> &str {
        &self.agents[1].name
    }

    fn agent_names(&self) -> Vec<String> {
        self.agents.iter().map(|a| a.name.clone()).collect()
    }

    fn next(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir().join("logs").join(format!("{name}.log"))
    }

    fn base_command(&self, binary: Binary) -> Result<Command> {
        let mut command = Command::new(binaries::path(binary)?);
        command
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .env("CONTAINERS_CONF", crate::podman::containers_conf()?);
        Ok(command)
    }

    // ----- the controller and the broker -----

    /// Starts the controller (which, embedded, is also the broker) and waits until it is online
    /// with a new epoch. Its state directory survives restarts.
    pub fn start_controller(&mut self) -> Result<()> {
        self.start_controller_with(&[])
    }

    /// Like [`Cluster::start_controller`], with extra `ank-controller` flags.
    pub fn start_controller_with(&mut self, extra: &[&str]) -> Result<()> {
        if self.controller.is_some() {
            bail!("the controller is already running");
        }
        let previous_epoch = self.controller_status().and_then(|s| epoch_of(&s));
        let dir = self.dir().to_path_buf();
        let mut command = self.base_command(Binary::Controller)?;
        command
            .arg("--state-dir")
            .arg(dir.join("controller"))
            .args(["--topic-prefix", self.prefix()])
            .args(&self.controller_extra);
        match self.kind {
            BrokerKind::Embedded => {
                command
                    .args(["--broker", "embedded", "--listen"])
                    .arg(format!("127.0.0.1:{}", self.port))
                    .arg("--storage-dir")
                    .arg(dir.join("broker"));
            }
            BrokerKind::Mosquitto => {
                command.args(["--broker", &self.broker_url()]);
            }
        }
        command.args(extra);
        let log = self.log_path("controller");
        append_marker(&log, "controller starts")?;
        self.controller = Some(Daemon::spawn("ank-controller", command, &log)?);
        if self.kind == BrokerKind::Embedded {
            self.wait_port_open()?;
        }
        self.ensure_recorder()?;
        let topic = self.topics.controller_status();
        wait_for("the controller to be online", START_TIMEOUT, || {
            if let Some(controller) = self.controller.as_mut() {
                if let Some(status) = controller.try_wait()? {
                    bail!("ank-controller exited ({status}) while starting");
                }
            }
            Ok(self
                .last_message(&topic)
                .filter(|m| is_online(m) && epoch_of(m) != previous_epoch)
                .map(|_| ()))
        })
    }

    /// Kills the controller with SIGKILL (a crash). Embedded, the broker dies with it.
    pub fn kill_controller(&mut self) -> Result<()> {
        let mut controller = self.controller.take().context("no controller runs")?;
        controller.kill();
        if self.kind == BrokerKind::Embedded {
            self.wait_port_closed()?;
        }
        Ok(())
    }

    /// Sends `signal` (e.g. `libc::SIGSTOP`) to the controller. Embedded, the broker too.
    pub fn signal_controller(&self, signal: i32) -> Result<()> {
        self.controller
            .as_ref()
            .context("no controller runs")?
            .signal(signal)
    }

    /// Stops the controller cleanly (SIGTERM: it publishes `offline` first).
    pub fn stop_controller(&mut self) -> Result<()> {
        let mut controller = self.controller.take().context("no controller runs")?;
        let status = controller.terminate(Duration::from_secs(10))?;
        if status.is_none() {
            bail!("the controller did not stop within 10 s of SIGTERM");
        }
        Ok(())
    }

    /// Kills the broker with SIGKILL. Embedded, that is the controller process.
    pub fn kill_broker(&mut self) -> Result<()> {
        match self.kind {
            BrokerKind::Embedded => self.kill_controller(),
            BrokerKind::Mosquitto => {
                let mut mosquitto = self.mosquitto.take().context("no Mosquitto runs")?;
                mosquitto.kill();
                drop(mosquitto);
                self.wait_port_closed()
            }
        }
    }

    /// Starts the broker again on the same port (embedded: the controller). Mosquitto comes
    /// back empty: it keeps no retained messages across a restart.
    pub fn start_broker(&mut self) -> Result<()> {
        match self.kind {
            BrokerKind::Embedded => self.start_controller(),
            BrokerKind::Mosquitto => {
                let deadline = Instant::now() + START_TIMEOUT;
                loop {
                    match Mosquitto::start_with(self.port, &self.mosquitto_lines()) {
                        Ok(m) => {
                            self.mosquitto = Some(m);
                            return self.ensure_recorder();
                        }
                        Err(e) if Instant::now() > deadline => return Err(e),
                        Err(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
            }
        }
    }

    /// Mosquitto's extra config: a WebSocket listener for the dashboard (Debian's 2.0.11 has
    /// websockets built in).
    fn mosquitto_lines(&self) -> String {
        format!("listener {} 127.0.0.1\nprotocol websockets", self.ws_port)
    }

    /// Serves the dashboard page (issue 18) and returns its URL. Embedded: the controller is
    /// restarted with `--dashboard-listen` and a fixed `--ws-listen` (so that a restarted
    /// controller is where the open page reconnects). Mosquitto: an `ank-broker` serves the page,
    /// which `?broker=` points at Mosquitto's WebSocket listener.
    pub fn serve_dashboard(&mut self) -> Result<String> {
        let dist = crate::browser::built_page()?;
        let http = free_port()?;
        match self.kind {
            BrokerKind::Embedded => {
                let ws = free_port()?;
                self.controller_extra = vec![
                    "--dashboard-listen".into(),
                    format!("127.0.0.1:{http}"),
                    "--ws-listen".into(),
                    format!("127.0.0.1:{ws}"),
                    "--dashboard-dir".into(),
                    dist.display().to_string(),
                ];
                self.stop_controller()?;
                self.start_controller()?;
                Ok(format!("http://127.0.0.1:{http}/"))
            }
            BrokerKind::Mosquitto => {
                let mut command = self.base_command(Binary::Broker)?;
                command
                    .args([
                        "--in-memory",
                        "--listen",
                        "127.0.0.1:0",
                        "--dashboard-listen",
                    ])
                    .arg(format!("127.0.0.1:{http}"))
                    .arg("--dashboard-dir")
                    .arg(&dist);
                let log = self.log_path("page-server");
                self.background
                    .push(Daemon::spawn("ank-broker (page)", command, &log)?);
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], http));
                wait_for("the page server to listen", START_TIMEOUT, || {
                    Ok(std::net::TcpStream::connect(addr).ok().map(|_| ()))
                })?;
                Ok(format!(
                    "http://127.0.0.1:{http}/?broker=ws://127.0.0.1:{}/mqtt&prefix={}",
                    self.ws_port,
                    self.prefix()
                ))
            }
        }
    }

    fn wait_port_open(&mut self) -> Result<()> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        wait_for("the embedded broker to listen", START_TIMEOUT, || {
            if let Some(controller) = self.controller.as_mut() {
                if let Some(status) = controller.try_wait()? {
                    bail!("ank-controller exited ({status}) while starting");
                }
            }
            Ok(std::net::TcpStream::connect(addr).ok().map(|_| ()))
        })
    }

    fn wait_port_closed(&self) -> Result<()> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        wait_for("the broker's port to close", START_TIMEOUT, || {
            Ok(std::net::TcpStream::connect(addr).is_err().then_some(()))
        })
    }

    /// The last message the reader saw on the controller's status topic.
    pub fn controller_status(&self) -> Option<BusMessage> {
        self.last_message(&self.topics.controller_status())
    }

    // ----- agents -----

    /// Starts agent `name` (one of [`Cluster::a`], [`Cluster::b`]) and waits until its status
    /// is online with a new epoch.
    pub fn start_agent(&mut self, name: &str) -> Result<()> {
        self.start_agent_with(name, &[])
    }

    /// Like [`Cluster::start_agent`], with extra `ank-agent` flags.
    pub fn start_agent_with(&mut self, name: &str, extra: &[&str]) -> Result<()> {
        let index = self.agent_index(name)?;
        if self.agents[index].process.is_some() {
            bail!("agent {name} is already running");
        }
        let topic = self.topics.agent_status(name);
        let previous_epoch = self.last_message(&topic).and_then(|m| epoch_of(&m));
        let run = self.dir().join("run");
        let mut command = self.base_command(Binary::Agent)?;
        command
            .args(["--name", name, "--broker", &self.broker_url()])
            .args(["--topic-prefix", self.prefix()])
            .arg("--run-folder")
            .arg(run)
            .args(extra);
        let log = self.log_path(&format!("agent-{name}"));
        append_marker(&log, "agent starts")?;
        self.agents[index].process = Some(Daemon::spawn(name, command, &log)?);
        wait_for(&format!("agent {name} to be online"), START_TIMEOUT, || {
            if let Some(agent) = self.agents[index].process.as_mut() {
                if let Some(status) = agent.try_wait()? {
                    bail!("ank-agent {name} exited ({status}) while starting");
                }
            }
            Ok(self
                .last_message(&topic)
                .filter(|m| is_online(m) && epoch_of(m) != previous_epoch)
                .map(|_| ()))
        })
    }

    /// Kills agent `name` with SIGKILL (a crash); its containers keep running.
    pub fn kill_agent(&mut self, name: &str) -> Result<()> {
        let index = self.agent_index(name)?;
        let mut agent = self.agents[index]
            .process
            .take()
            .with_context(|| format!("agent {name} is not running"))?;
        agent.kill();
        Ok(())
    }

    /// Sends `signal` (e.g. `libc::SIGSTOP`, `libc::SIGCONT`) to agent `name`.
    pub fn signal_agent(&self, name: &str, signal: i32) -> Result<()> {
        let index = self.agent_index(name)?;
        self.agents[index]
            .process
            .as_ref()
            .with_context(|| format!("agent {name} is not running"))?
            .signal(signal)
    }

    fn agent_index(&self, name: &str) -> Result<usize> {
        self.agents
            .iter()
            .position(|a| a.name == name)
            .with_context(|| format!("{name} is not an agent of this cluster"))
    }

    /// The last status payload the reader saw for agent `name`.
    pub fn agent_status(&self, name: &str) -> Option<BusMessage> {
        self.last_message(&self.topics.agent_status(name))
    }

    // ----- the third-party reader -----

    fn ensure_recorder(&mut self) -> Result<()> {
        if let Some(recorder) = self.recorder.as_mut() {
            if recorder.try_wait()?.is_none() {
                return Ok(());
            }
        }
        let log = self.log_path("bus");
        let n = self.next();
        let client_id = format!("rec-{}-{n}", self.id);
        let mut command = Command::new("mosquitto_sub");
        command.args(bus_log::subscriber_args(
            self.port,
            self.prefix(),
            &client_id,
        ));
        let daemon = Daemon::spawn("mosquitto_sub", command, &log)
            .context("mosquitto_sub (package mosquitto-clients) is needed by the system tests")?;
        self.recorder = Some(daemon);
        Ok(())
    }

    /// Everything the third-party reader (`mosquitto_sub -t '<prefix>/#'`) received so far.
    pub fn bus_messages(&self) -> Vec<BusMessage> {
        bus_log::read(&self.log_path("bus")).unwrap_or_default()
    }

    /// The last message the reader received on `topic`.
    pub fn last_message(&self, topic: &str) -> Option<BusMessage> {
        self.bus_messages()
            .into_iter()
            .rev()
            .find(|m| m.topic == topic)
    }

    /// The last payload on the state topic of `workload` on `agent`, as JSON (`Null` when the
    /// topic was cleared or never seen).
    pub fn last_workload_state(&self, agent: &str, workload: &str) -> serde_json::Value {
        self.last_message(&self.topics.workload_state(agent, workload))
            .map(|m| m.json())
            .unwrap_or(serde_json::Value::Null)
    }

    // ----- the CLI -----

    /// Runs `ank --broker <url> --topic-prefix <p> ARGS…` to completion (killed after 90 s) and
    /// returns what it printed. Its `HOME` is the cluster directory, so no user config applies.
    pub fn ank(&mut self, args: &[&str]) -> Result<AnkOutput> {
        let n = self.next();
        let out_path = self.dir().join("cli").join(format!("{n}.out"));
        let err_path = self.dir().join("cli").join(format!("{n}.err"));
        let out = std::fs::File::create(&out_path).context("creating a CLI output file")?;
        let err = std::fs::File::create(&err_path).context("creating a CLI output file")?;
        let mut command = self.ank_command(args)?;
        let start = Instant::now();
        let mut child = command
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .context("starting ank")?;
        let status = loop {
            if let Some(status) = child.try_wait().context("waiting for ank")? {
                break Some(status);
            }
            if start.elapsed() > CLI_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let output = AnkOutput {
            args: args.iter().map(|s| s.to_string()).collect(),
            stdout: read_lossy(&out_path),
            stderr: read_lossy(&err_path),
            code: status.and_then(|s| s.code()),
            elapsed: start.elapsed(),
        };
        let _ = append_marker(&self.log_path("cli"), &output.to_string());
        if status.is_none() {
            bail!("ank did not end within {CLI_DEADLINE:?}: {output}");
        }
        Ok(output)
    }

    /// Starts `ank ARGS…` in the background (e.g. `get workloads --watch`, `logs -f`); stdout and
    /// stderr go to one file, read with [`Daemon::output`]. Killed when the cluster drops, or
    /// earlier by the caller.
    pub fn ank_background(&mut self, args: &[&str]) -> Result<&mut Daemon> {
        let n = self.next();
        let command = self.ank_command(args)?;
        let log = self.log_path(&format!("ank-bg-{n}"));
        let daemon = Daemon::spawn(&format!("ank {}", args.join(" ")), command, &log)?;
        self.background.push(daemon);
        let last = self.background.len() - 1;
        Ok(&mut self.background[last])
    }

    fn ank_command(&self, args: &[&str]) -> Result<Command> {
        let mut command = self.base_command(Binary::Ank)?;
        for var in [
            "ANK_BROKER",
            "ANK_TOPIC_PREFIX",
            "ANK_CONFIG",
            "ANK_USERNAME",
        ] {
            command.env_remove(var);
        }
        command
            .env("HOME", self.dir())
            .args([
                "--broker",
                &self.broker_url(),
                "--topic-prefix",
                self.prefix(),
            ])
            .args(args);
        Ok(command)
    }

    /// Replaces `$A`, `$B` (the agent names), `$IMAGE` (the test image), `$LONG` (the
    /// arguments of a long-running process that ends at once on SIGTERM) and `$KID` (this
    /// cluster's id in the form Kubernetes names need: pod names are global in podman) in `text`.
    pub fn manifest(&self, text: &str) -> String {
        text.replace("$LONG", LONG_RUNNER)
            .replace("$KID", &self.kube_id())
            .replace("$IMAGE", &crate::podman::test_image())
            .replace("$A", self.a())
            .replace("$B", self.b())
    }

    /// Writes `text` (after [`Cluster::manifest`]) to a fresh file and returns its path.
    pub fn write_manifest(&mut self, text: &str) -> Result<PathBuf> {
        let n = self.next();
        let path = self.dir().join("manifests").join(format!("{n}.yaml"));
        std::fs::write(&path, self.manifest(text))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// `ank apply [EXTRA…] <manifest>` with `text` written to a file.
    pub fn apply(&mut self, text: &str, extra: &[&str]) -> Result<AnkOutput> {
        let path = self.write_manifest(text)?;
        let path = path.to_string_lossy().into_owned();
        let mut args = vec!["apply"];
        args.extend_from_slice(extra);
        args.push(&path);
        self.ank(&args)
    }

    // ----- observing workloads -----

    /// Every workload instance, from `ank get state -o json workloadStates`.
    pub fn rows(&mut self) -> Result<Vec<WorkloadRow>> {
        let out = self.ank(&["get", "state", "-o", "json", "workloadStates"])?;
        out.expect_ok()?;
        states::rows_from_state_json(&out.stdout)
    }

    /// The `ank get workloads` table, parsed.
    pub fn table(&mut self) -> Result<Vec<TableRow>> {
        let out = self.ank(&["get", "workloads"])?;
        out.expect_ok()?;
        states::parse_workload_table(&out.stdout)
    }

    /// Waits until `workload` has exactly one instance and it is in `state` (display form, e.g.
    /// `Running(Ok)`), within [`STATE_TIMEOUT`].
    pub fn wait_state(&mut self, workload: &str, state: &str) -> Result<WorkloadRow> {
        self.wait_state_within(workload, state, STATE_TIMEOUT)
    }

    /// [`Cluster::wait_state`] with an explicit deadline.
    pub fn wait_state_within(
        &mut self,
        workload: &str,
        state: &str,
        timeout: Duration,
    ) -> Result<WorkloadRow> {
        let rows = self.wait_rows(&format!("{workload} to be {state}"), timeout, |rows| {
            let mine: Vec<_> = rows.iter().filter(|r| r.name == workload).collect();
            mine.len() == 1 && mine[0].state == state
        })?;
        rows.into_iter()
            .find(|r| r.name == workload)
            .context("the row vanished")
    }

    /// Waits until `holds` is true of every instance's row, within `timeout`.
    pub fn wait_rows(
        &mut self,
        what: &str,
        timeout: Duration,
        holds: impl FnMut(&Vec<WorkloadRow>) -> bool,
    ) -> Result<Vec<WorkloadRow>> {
        wait_until(what, timeout, || self.rows(), holds)
    }

    /// Waits until `workload` has no instance left in the state.
    pub fn wait_gone(&mut self, workload: &str) -> Result<()> {
        self.wait_rows(&format!("{workload} to be gone"), STATE_TIMEOUT, |rows| {
            rows.iter().all(|r| r.name != workload)
        })?;
        Ok(())
    }

    /// The containers podman has for `workload` on `agent`.
    pub fn containers(&self, agent: &str, workload: &str) -> Result<Vec<Container>> {
        containers::of_workload(agent, workload)
    }

    /// The one container of `workload` on `agent`; fails when there is none or several.
    pub fn container(&self, agent: &str, workload: &str) -> Result<Container> {
        let mut found = self.containers(agent, workload)?;
        if found.len() != 1 {
            bail!(
                "expected one container of {workload} on {agent}, found {}: {found:#?}",
                found.len()
            );
        }
        Ok(found.remove(0))
    }

    /// The one container of `workload` on `agent` once podman shows it `exited`. The agent
    /// reports an exit from conmon's exit file (issue 17), before podman's own cleanup moves the
    /// container from `stopped` to `exited`, so a look right after the state arrived must wait
    /// for podman.
    pub fn exited_container(&self, agent: &str, workload: &str) -> Result<Container> {
        wait_until(
            &format!("podman to show {workload}'s container exited"),
            Duration::from_secs(30),
            || self.container(agent, workload),
            |container| container.state == "exited",
        )
    }

    /// Every container of both agents, by instance id: a fingerprint that must not change when
    /// "no container is touched" (ids, pids and start times included).
    pub fn all_containers(&self) -> Result<BTreeMap<String, Container>> {
        let mut all = BTreeMap::new();
        for agent in &self.agents {
            for container in containers::of_agent(&agent.name)? {
                all.insert(
                    format!("{}#{}", container.instance(), container.id),
                    container,
                );
            }
        }
        Ok(all)
    }

    // ----- failure reporting -----

    /// Marks the test as failed: the drop guard prints the logs and keeps the directory.
    pub fn mark_failed(&mut self) {
        self.failed = true;
    }

    /// Prints the tail of every log to stderr (the test harness shows it for failed tests).
    pub fn dump_logs(&self) {
        let logs = self.dir().join("logs");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&logs)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        eprintln!(
            "===== cluster {} ({:?}, prefix {}, port {}) kept at {}",
            self.id,
            self.kind,
            self.prefix(),
            self.port,
            self.dir().display()
        );
        for file in files {
            let text = read_lossy(&file);
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(80);
            eprintln!(
                "===== {} (last {} of {} lines)",
                file.display(),
                lines.len() - from,
                lines.len()
            );
            for line in &lines[from..] {
                eprintln!("{line}");
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let failed = self.failed || std::thread::panicking();
        for daemon in &mut self.background {
            daemon.kill();
        }
        for agent in &mut self.agents {
            if let Some(mut process) = agent.process.take() {
                // A stopped (SIGSTOP) process dies of SIGKILL as well.
                process.kill();
            }
        }
        if let Some(mut controller) = self.controller.take() {
            controller.kill();
        }
        if let Some(mut recorder) = self.recorder.take() {
            recorder.kill();
        }
        self.mosquitto = None;
        for agent in &self.agents {
            if let Err(e) = containers::remove_all_of_agent(&agent.name) {
                eprintln!("cleanup of agent {}'s containers failed: {e:#}", agent.name);
            }
        }
        if failed {
            self.dump_logs();
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
            }
        }
    }
}

/// Whether a status payload says `online`.
fn is_online(message: &BusMessage) -> bool {
    message.json()["state"] == "online"
}

/// The `epoch` of a status payload.
fn epoch_of(message: &BusMessage) -> Option<u64> {
    message.json()["epoch"].as_u64()
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn append_marker(log: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let mut file = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    writeln!(file, "===== {now:.3} {text}").with_context(|| format!("writing {}", log.display()))
}

/// Starts a cluster of `kind`, runs `scenario` on it and fails the test (after printing every
/// log) if the scenario returns an error. Used by [`crate::on_both_brokers!`].
pub fn run_scenario(kind: BrokerKind, name: &str, scenario: fn(&mut Cluster) -> Result<()>) {
    let start = Instant::now();
    let mut cluster = match Cluster::start(kind, name) {
        Ok(cluster) => cluster,
        Err(e) => panic!("the {kind:?} cluster for {name} did not start: {e:#}"),
    };
    let result = scenario(&mut cluster);
    if let Err(e) = result {
        cluster.mark_failed();
        drop(cluster);
        panic!("{name} on {kind:?} failed: {e:#}");
    }
    drop(cluster);
    eprintln!("{name} on {kind:?}: {:.1} s", start.elapsed().as_secs_f64());
}
