//! A small cluster under passwords and the generated ACL, for tests about roles (issue 18's
//! `viewer`): the controller with its embedded broker (`--passwd`, `--acl`, the dashboard
//! served), or a Mosquitto with the same ACL file, its own password file and a websockets
//! listener (the page then served by an `ank-broker`); one agent logged in as `agent-<name>`,
//! and `ank` as the CLI user `alice`.
//!
//! [`crate::Cluster`] runs without credentials (its third-party reader subscribes to `#`, which
//! the ACL gives nobody), so this is a separate harness; it shares the daemon, podman and
//! polling helpers. Each identity's password is `<user>-pw`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::binaries::{self, Binary};
use crate::daemon::Daemon;
use crate::mosquitto::free_port;
use crate::BrokerKind;
use ank_testkit::blocking::wait_for;

/// How long a process may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The running secured cluster; dropping it kills its processes and removes its containers.
#[derive(Debug)]
pub struct Secured {
    kind: BrokerKind,
    ws: u16,
    dir: tempfile::TempDir,
    prefix: String,
    port: u16,
    http: u16,
    agent: String,
    daemons: Vec<Daemon>,
    failed: bool,
}

/// Starts a secured cluster named after `tag`, runs `scenario`, and fails the test with every
/// log when it returns an error.
pub fn run(kind: BrokerKind, tag: &str, scenario: impl FnOnce(&mut Secured) -> Result<()>) {
    let mut secured = match Secured::start(kind, tag) {
        Ok(s) => s,
        Err(e) => panic!("the secured cluster for {tag} did not start: {e:#}"),
    };
    if let Err(e) = scenario(&mut secured) {
        secured.failed = true;
        drop(secured);
        panic!("{tag} failed: {e:#}");
    }
}

impl Secured {
    fn start(kind: BrokerKind, tag: &str) -> Result<Self> {
        let id = format!(
            "{}_{}",
            tag.chars().take(20).collect::<String>(),
            std::process::id()
        );
        let dir = tempfile::Builder::new()
            .prefix(&format!("ank-secured-{id}-"))
            .tempdir()
            .context("creating the cluster's directory")?;
        let mut s = Self {
            kind,
            ws: free_port()?,
            prefix: format!("systest/{id}/ank/v1"),
            port: free_port()?,
            http: free_port()?,
            agent: format!("{id}_A"),
            dir,
            daemons: Vec::new(),
            failed: false,
        };
        if let Err(e) = s.boot() {
            s.failed = true;
            return Err(e);
        }
        Ok(s)
    }

    fn boot(&mut self) -> Result<()> {
        let dist = crate::browser::built_page()?;
        let root = self.dir.path().to_owned();
        let passwd = root.join("passwd");
        let agent_user = format!("agent-{}", self.agent);
        // A second agent identity that runs no agent: tests play it (issue 15).
        let peer_user = format!("agent-{}", self.peer_agent());
        let users = [
            "controller",
            agent_user.as_str(),
            peer_user.as_str(),
            "alice",
            "viewer",
        ];
        for user in users {
            self.set_password(&passwd, user)?;
        }
        let agents = format!("{},{}", self.agent, self.peer_agent());
        let acl = Command::new(binaries::path(Binary::Broker)?)
            .args(["acl", "--prefix", &self.prefix, "--agents", &agents])
            .args(["--users", "alice,viewer"])
            .output()
            .context("ank-broker acl")?;
        if !acl.status.success() {
            bail!("ank-broker acl: {}", String::from_utf8_lossy(&acl.stderr));
        }
        std::fs::write(root.join("acl"), &acl.stdout)?;
        std::fs::write(root.join("controller-pw"), "controller-pw\n")?;

        if self.kind == BrokerKind::Mosquitto {
            // Not `max_queued_messages 0`: Mosquitto 2.0.11 then drops a client after a publish
            // the ACL refuses (docs/broker.md), which is what this cluster's tests do.
            let conf = root.join("mosquitto.conf");
            std::fs::write(
                &conf,
                format!(
                    "per_listener_settings false\nlistener {} 127.0.0.1\nlistener {} 127.0.0.1\nprotocol websockets\n\
                     allow_anonymous false\npassword_file {}\nacl_file {}\nmax_queued_messages 1000000\n\
                     persistence false\nuser root\nlog_dest stderr\n",
                    self.port,
                    self.ws,
                    passwd.display(),
                    root.join("acl").display()
                ),
            )?;
            let binary = std::env::var("ANK_MOSQUITTO")
                .unwrap_or_else(|_| crate::mosquitto::DEFAULT_BINARY.into());
            let mut mosquitto = Command::new(binary);
            mosquitto.arg("-c").arg(&conf);
            self.spawn("mosquitto", mosquitto)?;
            self.wait_port(self.port)?;
            let mut page = self.command(Binary::Broker)?;
            page.args([
                "--in-memory",
                "--listen",
                "127.0.0.1:0",
                "--dashboard-listen",
            ])
            .arg(format!("127.0.0.1:{}", self.http))
            .arg("--dashboard-dir")
            .arg(&dist);
            self.spawn("page-server", page)?;
            self.wait_port(self.http)?;
            let mut controller = self.command(Binary::Controller)?;
            controller
                .arg("--state-dir")
                .arg(root.join("state"))
                .args([
                    "--topic-prefix",
                    &self.prefix,
                    "--broker",
                    &self.broker_url(),
                ])
                .args(["--username", "controller", "--password-file"])
                .arg(root.join("controller-pw"));
            self.spawn("controller", controller)?;
        } else {
            self.start_embedded(&root, &passwd, &dist)?;
        }
        self.start_agent(&root, &agent_user)?;
        // The agent's status does not say the controller is up (on Mosquitto they start apart):
        // a request is sent only once the controller answers one.
        wait_for("the controller to answer", START_TIMEOUT, || {
            Ok(self.ank(&["get", "state"]).is_ok().then_some(()))
        })
    }

    /// A password for `user` (`<user>-pw`) in the broker's own format: `ank-broker passwd`
    /// (argon2) or `mosquitto_passwd` (Mosquitto's hash).
    fn set_password(&self, passwd: &std::path::Path, user: &str) -> Result<()> {
        if self.kind == BrokerKind::Mosquitto {
            let mut command = Command::new("mosquitto_passwd");
            if !passwd.exists() {
                command.arg("-c");
            }
            let out = command
                .arg("-b")
                .arg(passwd)
                .arg(user)
                .arg(format!("{user}-pw"))
                .output()
                .context("mosquitto_passwd (package mosquitto)")?;
            if !out.status.success() {
                bail!(
                    "mosquitto_passwd {user}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            return Ok(());
        }
        let mut child = Command::new(binaries::path(Binary::Broker)?)
            .arg("passwd")
            .arg(passwd)
            .arg(user)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("ank-broker passwd")?;
        use std::io::Write;
        child
            .stdin
            .take()
            .context("stdin of ank-broker passwd")?
            .write_all(format!("{user}-pw\n").as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "ank-broker passwd {user}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    fn start_embedded(
        &mut self,
        root: &std::path::Path,
        passwd: &std::path::Path,
        dist: &std::path::Path,
    ) -> Result<()> {
        let mut controller = self.command(Binary::Controller)?;
        controller
            .arg("--state-dir")
            .arg(root.join("state"))
            .args(["--topic-prefix", &self.prefix, "--broker", "embedded"])
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--storage-dir")
            .arg(root.join("broker"))
            .arg("--passwd")
            .arg(passwd)
            .arg("--acl")
            .arg(root.join("acl"))
            .args(["--username", "controller", "--password-file"])
            .arg(root.join("controller-pw"))
            .arg("--dashboard-listen")
            .arg(format!("127.0.0.1:{}", self.http))
            .arg("--dashboard-dir")
            .arg(dist);
        self.spawn("controller", controller)?;
        self.wait_port(self.port)?;
        self.wait_port(self.http)
    }

    fn start_agent(&mut self, root: &std::path::Path, agent_user: &str) -> Result<()> {
        let mut agent = self.command(Binary::Agent)?;
        agent
            .args(["--name", &self.agent, "--broker", &self.broker_url()])
            .args(["--topic-prefix", &self.prefix, "--username", agent_user])
            .env("ANK_AGENT_PASSWORD", format!("{agent_user}-pw"))
            .arg("--run-folder")
            .arg(root.join("run"));
        self.spawn("agent", agent)?;
        wait_for("the agent to be online", START_TIMEOUT, || {
            let out = self.ank(&["get", "agents"])?;
            Ok(out.contains(&self.agent).then_some(()))
        })
    }

    fn command(&self, binary: Binary) -> Result<Command> {
        let mut command = Command::new(binaries::path(binary)?);
        command
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .env("CONTAINERS_CONF", crate::podman::containers_conf()?);
        Ok(command)
    }

    fn spawn(&mut self, name: &str, command: Command) -> Result<()> {
        let log = self.dir.path().join(format!("{name}.log"));
        self.daemons.push(Daemon::spawn(name, command, &log)?);
        Ok(())
    }

    fn wait_port(&self, port: u16) -> Result<()> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        wait_for(
            &format!("127.0.0.1:{port} to listen"),
            START_TIMEOUT,
            || Ok(std::net::TcpStream::connect(addr).ok().map(|_| ())),
        )
    }

    fn broker_url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The topic prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The agent's name.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// A second agent name with a password (`agent-<peer>-pw`) and ACL rules, whose agent
    /// does not run: tests play it with their own clients.
    pub fn peer_agent(&self) -> String {
        format!("{}_peer", self.agent)
    }

    /// The cluster's folder (removed with it).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The broker's MQTT port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Which broker it runs on.
    pub fn kind(&self) -> BrokerKind {
        self.kind
    }

    /// The dashboard page: served by the controller (embedded), or by an `ank-broker` and
    /// pointed at Mosquitto's websockets listener (`?broker=`, `?login=1`).
    pub fn page_url(&self) -> String {
        match self.kind {
            BrokerKind::Embedded => format!("http://127.0.0.1:{}/", self.http),
            BrokerKind::Mosquitto => format!(
                "http://127.0.0.1:{}/?broker=ws://127.0.0.1:{}/&prefix={}&login=1",
                self.http, self.ws, self.prefix
            ),
        }
    }

    /// Runs `ank ARGS…` as `alice` and returns its stdout; fails on a non-zero exit.
    pub fn ank(&self, args: &[&str]) -> Result<String> {
        let out = self
            .command(Binary::Ank)?
            .env("HOME", self.dir.path())
            .env_remove("ANK_BROKER")
            .env("ANK_PASSWORD", "alice-pw")
            .args([
                "--broker",
                &self.broker_url(),
                "--topic-prefix",
                &self.prefix,
            ])
            .args(["--username", "alice"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("running ank")?;
        if !out.status.success() {
            bail!(
                "ank {} exited {}: {}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Applies `manifest` as alice (`$AGENT`, `$IMAGE` and `$LONG` replaced) and waits for it.
    pub fn apply(&self, manifest: &str) -> Result<()> {
        let text = manifest
            .replace("$AGENT", &self.agent)
            .replace("$IMAGE", &crate::podman::test_image())
            .replace("$LONG", crate::cluster::LONG_RUNNER);
        let path: PathBuf = self.dir.path().join("manifest.yaml");
        std::fs::write(&path, text)?;
        self.ank(&["apply", path.to_str().context("a UTF-8 path")?])
            .map(|_| ())
    }

    /// `ank get agents` as alice: what the retained agent statuses say.
    pub fn agent_status_as_alice(&self) -> Result<String> {
        self.ank(&["get", "agents"])
    }

    fn dump_logs(&self) {
        for name in ["mosquitto", "page-server", "controller", "agent"] {
            let path = self.dir.path().join(format!("{name}.log"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(60);
            eprintln!("===== {} (last lines)", path.display());
            for line in &lines[from..] {
                eprintln!("{line}");
            }
        }
    }
}

impl Drop for Secured {
    fn drop(&mut self) {
        if self.failed {
            self.dump_logs();
        }
        for daemon in self.daemons.iter_mut().rev() {
            daemon.kill();
        }
        let _ = crate::containers::remove_all_of_agent(&self.agent);
    }
}
