//! `ank-broker setup` (issue 13): what it writes secures the whole slice in one step, on both
//! brokers, under mutual TLS and under passwords with the generated ACL. Each scenario runs the
//! setup into a temp dir, starts the broker (the controller's embedded one, or Mosquitto with
//! the generated `mosquitto.conf`), the controller and an agent with what setup made, applies a
//! workload that runs in podman, reads it back with `ank get workloads` and `ank logs` as the CLI
//! user (under mTLS with the generated `ank` config, no `--username`), reads the retained states
//! as `viewer` with a third-party client (`mosquitto_sub`) whose publish is refused, and proves a
//! client without credentials refused on every listener.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use ank_system_tests::binaries::{self, Binary};
use ank_system_tests::daemon::Daemon;
use ank_system_tests::mosquitto::free_port;
use ank_system_tests::BrokerKind;
use ank_testkit::blocking::wait_for;
use anyhow::{bail, ensure, Context, Result};

const START: Duration = Duration::from_secs(30);
const USER: &str = "alice";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    MutualTls,
    Passwords,
}

#[test]
fn issue_13_secure_setup_under_mutual_tls_on_the_embedded_broker() {
    run(BrokerKind::Embedded, Auth::MutualTls, "setup_te");
}

#[test]
fn issue_13_secure_setup_under_mutual_tls_on_mosquitto() {
    run(BrokerKind::Mosquitto, Auth::MutualTls, "setup_tm");
}

#[test]
fn issue_13_secure_setup_under_passwords_and_acls_on_the_embedded_broker() {
    run(BrokerKind::Embedded, Auth::Passwords, "setup_pe");
}

#[test]
fn issue_13_secure_setup_under_passwords_and_acls_on_mosquitto() {
    run(BrokerKind::Mosquitto, Auth::Passwords, "setup_pm");
}

/// Every binary that reads a private key refuses one that group or others may read, naming the
/// file, its mode and the fix, as ssh does; before, each used it silently.
#[test]
fn issue_13_a_private_key_readable_by_others_is_refused_by_every_binary() {
    if let Err(e) = key_modes() {
        panic!("{e:#}");
    }
}

fn key_modes() -> Result<()> {
    let setup = Setup::new(BrokerKind::Embedded, Auth::MutualTls, "keymode")?;
    setup.run_setup()?;
    let key = |name: &str| setup.file(&format!("{name}.key"));
    let agent = format!("agent-{}", setup.agent);
    for name in ["server", agent.as_str(), USER] {
        std::fs::set_permissions(key(name), std::fs::Permissions::from_mode(0o644))?;
    }
    let tls_listen = format!("127.0.0.1:{}", setup.tls_port);
    let url = format!("mqtts://{tls_listen}");
    let mut controller = command(Binary::Controller)?;
    controller
        .arg("--state-dir")
        .arg(setup.tmp.path().join("state"))
        .args(["--tls-listen", &tls_listen])
        .arg("--ca-pem")
        .arg(setup.file("ca.pem"))
        .arg("--crt-pem")
        .arg(setup.file("server.pem"))
        .arg("--key-pem")
        .arg(key("server"));
    let mut broker = command(Binary::Broker)?;
    broker
        .args(["--in-memory", "--tls-listen", &tls_listen, "--tls-cert"])
        .arg(setup.file("server.pem"))
        .arg("--tls-key")
        .arg(key("server"));
    let mut agent_cmd = command(Binary::Agent)?;
    agent_cmd
        .args(["--name", &setup.agent, "--broker", &url])
        .arg("--run-folder")
        .arg(setup.tmp.path().join("run"))
        .arg("--ca-pem")
        .arg(setup.file("ca.pem"))
        .arg("--crt-pem")
        .arg(setup.file(&format!("{agent}.pem")))
        .arg("--key-pem")
        .arg(key(&agent));
    let mut ank = command(Binary::Ank)?;
    ank.arg("-x")
        .arg(setup.file(&format!("{USER}.toml")))
        .args(["get", "workloads"]);
    for (name, file, command) in [
        ("ank-controller", key("server"), controller),
        ("ank-broker", key("server"), broker),
        ("ank-agent", key(&agent), agent_cmd),
        ("ank", key(USER), ank),
    ] {
        let log = setup.tmp.path().join(format!("{name}.log"));
        let mut daemon = Daemon::spawn(name, command, &log)?;
        let status = daemon.wait_timeout(START)?;
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        let expected = format!(
            "the private key {0} is accessible by group or others (mode 0644); refusing to use \
             it: run `chmod 600 {0}`",
            file.display()
        );
        ensure!(
            status.and_then(|s| s.code()) == Some(1) && output.contains(&expected),
            "{name} with a 0644 key: exit {status:?}, expected `{expected}` in:\n{output}"
        );
    }
    Ok(())
}

fn run(kind: BrokerKind, auth: Auth, tag: &str) {
    let mut setup = match Setup::new(kind, auth, tag) {
        Ok(s) => s,
        Err(e) => panic!("{tag}: the setup did not start: {e:#}"),
    };
    if let Err(e) = setup.scenario() {
        setup.dump_logs();
        panic!("{tag} failed: {e:#}");
    }
}

/// One secured system, started from what `ank-broker setup` wrote.
struct Setup {
    kind: BrokerKind,
    auth: Auth,
    tmp: tempfile::TempDir,
    prefix: String,
    agent: String,
    tls_port: u16,
    plain_port: u16,
    daemons: Vec<Daemon>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        for daemon in self.daemons.iter_mut().rev() {
            daemon.kill();
        }
        let _ = ank_system_tests::containers::remove_all_of_agent(&self.agent);
    }
}

fn command(binary: Binary) -> Result<Command> {
    let mut command = Command::new(binaries::path(binary)?);
    command
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .env("HOME", "/nonexistent")
        .env(
            "CONTAINERS_CONF",
            ank_system_tests::podman::containers_conf()?,
        )
        .stdin(Stdio::null());
    for var in [
        "ANK_BROKER",
        "ANK_CONFIG",
        "ANK_USERNAME",
        "ANK_PASSWORD",
        "ANK_TOPIC_PREFIX",
        "ANK_CA_PEM",
        "ANK_CRT_PEM",
        "ANK_KEY_PEM",
    ] {
        command.env_remove(var);
    }
    Ok(command)
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn mode(path: &Path) -> Result<u32> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("stat {}", path.display()))?
        .permissions()
        .mode()
        & 0o777)
}

impl Setup {
    fn new(kind: BrokerKind, auth: Auth, tag: &str) -> Result<Self> {
        let id = format!("{tag}{}", std::process::id());
        Ok(Self {
            kind,
            auth,
            tmp: tempfile::Builder::new()
                .prefix(&format!("ank-{id}-"))
                .tempdir()?,
            prefix: format!("systest/{id}/ank/v1"),
            agent: format!("{id}_A"),
            tls_port: free_port()?,
            plain_port: free_port()?,
            daemons: Vec::new(),
        })
    }

    fn dir(&self) -> PathBuf {
        self.tmp.path().join("secure")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    fn spawn(&mut self, name: &str, command: Command) -> Result<()> {
        let log = self.tmp.path().join(format!("{name}.log"));
        self.daemons.push(Daemon::spawn(name, command, &log)?);
        Ok(())
    }

    fn dump_logs(&self) {
        for name in ["mosquitto", "controller", "agent"] {
            let path = self.tmp.path().join(format!("{name}.log"));
            if let Ok(log) = std::fs::read_to_string(&path) {
                let lines: Vec<&str> = log.lines().collect();
                let from = lines.len().saturating_sub(60);
                eprintln!(
                    "===== {name}.log (last lines)\n{}",
                    lines[from..].join("\n")
                );
            }
        }
    }

    fn wait_port(port: u16) -> Result<()> {
        wait_for(&format!("127.0.0.1:{port} to listen"), START, || {
            Ok(std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(drop))
        })
    }

    /// The URL clients use and the login flags of `identity` (`--crt-pem…` or `--username…`).
    fn login(&self, identity: &str) -> (String, Vec<String>) {
        let path = |name: String| self.file(&name).display().to_string();
        match self.auth {
            Auth::MutualTls => (
                format!("mqtts://127.0.0.1:{}", self.tls_port),
                vec![
                    "--ca-pem".into(),
                    path("ca.pem".into()),
                    "--crt-pem".into(),
                    path(format!("{identity}.pem")),
                    "--key-pem".into(),
                    path(format!("{identity}.key")),
                ],
            ),
            Auth::Passwords => (
                format!("mqtt://127.0.0.1:{}", self.plain_port),
                vec![
                    "--username".into(),
                    identity.into(),
                    "--password-file".into(),
                    path(format!("{identity}.password")),
                ],
            ),
        }
    }

    fn run_setup(&self) -> Result<()> {
        let out = command(Binary::Broker)?
            .arg("setup")
            .arg(self.dir())
            .args([
                "--prefix",
                &self.prefix,
                "--agent",
                &self.agent,
                "--user",
                USER,
            ])
            .args(["--tls-listen", &format!("127.0.0.1:{}", self.tls_port)])
            .args(["--listen", &format!("127.0.0.1:{}", self.plain_port)])
            .output()
            .context("ank-broker setup")?;
        ensure!(out.status.success(), "ank-broker setup: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        ensure!(
            stdout.contains(&format!("ank-agent --name {}", self.agent)),
            "the instructions say how to start the agent: {stdout}"
        );
        ensure!(mode(&self.dir())? == 0o700, "the directory is 0700");
        for name in [
            "ca.key",
            "server.key",
            "controller.key",
            "viewer.key",
            "passwd",
        ] {
            ensure!(mode(&self.file(name))? == 0o600, "{name} is 0600");
        }
        let again = command(Binary::Broker)?
            .arg("setup")
            .arg(self.dir())
            .output()?;
        ensure!(
            again.status.code() == Some(1)
                && String::from_utf8_lossy(&again.stderr).contains("never overwrites"),
            "a second setup into the same directory is refused: {}",
            text(&again)
        );
        Ok(())
    }

    fn start_broker_and_controller(&mut self) -> Result<()> {
        let mut controller = command(Binary::Controller)?;
        controller
            .arg("--state-dir")
            .arg(self.tmp.path().join("state"))
            .args(["--topic-prefix", &self.prefix]);
        if self.kind == BrokerKind::Mosquitto {
            // The generated configuration as it is, plus what a test needs: stay root (the keys
            // are root's 0600 files) and log to the test's log.
            let name = match self.auth {
                Auth::MutualTls => "mosquitto.conf",
                Auth::Passwords => "mosquitto-passwords.conf",
            };
            let conf = self.tmp.path().join("mosquitto-test.conf");
            let generated = std::fs::read_to_string(self.file(name))?;
            std::fs::write(
                &conf,
                format!("user root\npersistence false\nlog_dest stderr\n{generated}"),
            )?;
            let binary = std::env::var("ANK_MOSQUITTO")
                .unwrap_or_else(|_| ank_system_tests::mosquitto::DEFAULT_BINARY.into());
            let mut mosquitto = Command::new(binary);
            mosquitto.arg("-c").arg(&conf);
            self.spawn("mosquitto", mosquitto)?;
            // The controller fails at start on an unreachable external broker (by design, see
            // docs/controller.md), so it starts only once Mosquitto listens.
            Self::wait_port(self.listener_port())?;
            let (url, login) = self.login("controller");
            controller.args(["--broker", &url]).args(login);
        } else {
            controller
                .arg("--storage-dir")
                .arg(self.tmp.path().join("broker"))
                .arg("--acl")
                .arg(self.file("acl"))
                .args(["--listen", &format!("127.0.0.1:{}", self.plain_port)]);
            match self.auth {
                Auth::MutualTls => {
                    controller
                        .args(["--tls-listen", &format!("127.0.0.1:{}", self.tls_port)])
                        .arg("--ca-pem")
                        .arg(self.file("ca.pem"))
                        .arg("--crt-pem")
                        .arg(self.file("server.pem"))
                        .arg("--key-pem")
                        .arg(self.file("server.key"));
                }
                Auth::Passwords => {
                    let (_, login) = self.login("controller");
                    controller
                        .arg("--passwd")
                        .arg(self.file("passwd"))
                        .args(login);
                }
            }
        }
        self.spawn("controller", controller)?;
        Self::wait_port(self.listener_port())
    }

    /// The port clients of this setup use: the TLS listener under mTLS, else the plain one.
    fn listener_port(&self) -> u16 {
        match self.auth {
            Auth::MutualTls => self.tls_port,
            Auth::Passwords => self.plain_port,
        }
    }

    fn start_agent(&mut self) -> Result<()> {
        let (url, login) = self.login(&format!("agent-{}", self.agent));
        let mut agent = command(Binary::Agent)?;
        agent
            .args(["--name", &self.agent, "--broker", &url])
            .args(["--topic-prefix", &self.prefix])
            .arg("--run-folder")
            .arg(self.tmp.path().join("run"))
            .args(login);
        self.spawn("agent", agent)
    }

    /// `ank ARGS` as the CLI user: under mTLS only the config `setup` wrote (no `--username`,
    /// issue 13 point 2), under passwords its login.
    fn ank(&self, args: &[&str]) -> Result<Output> {
        let mut ank = command(Binary::Ank)?;
        match self.auth {
            Auth::MutualTls => {
                ank.arg("-x").arg(self.file(&format!("{USER}.toml")));
            }
            Auth::Passwords => {
                let (url, login) = self.login(USER);
                ank.args(["--broker", &url, "--topic-prefix", &self.prefix])
                    .args(login);
            }
        }
        ank.args(args).output().context("running ank")
    }

    /// `mosquitto_sub`/`mosquitto_pub` (a third-party client) as `identity`, or with no
    /// credentials at all when `None`; client id `<identity>.<what>` as the embedded broker
    /// requires.
    fn mqtt_client(&self, program: &str, identity: Option<&str>, port: u16) -> Command {
        let mut c = Command::new(program);
        c.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", "mqttv5"])
            .stdin(Stdio::null());
        match identity {
            Some(identity) => {
                c.args(["-i", &format!("{identity}.{}", program.replace('_', "-"))]);
                match self.auth {
                    Auth::MutualTls => {
                        c.arg("--cert")
                            .arg(self.file(&format!("{identity}.pem")))
                            .arg("--key")
                            .arg(self.file(&format!("{identity}.key")));
                    }
                    Auth::Passwords => {
                        let password =
                            std::fs::read_to_string(self.file(&format!("{identity}.password")))
                                .unwrap_or_default();
                        c.args(["-u", identity, "-P", password.trim()]);
                    }
                }
            }
            None => {
                c.args(["-i", "anonymous"]);
            }
        }
        if self.auth == Auth::MutualTls && port == self.tls_port {
            c.arg("--cafile").arg(self.file("ca.pem"));
        }
        c
    }

    /// The retained state of the workload, read as `viewer` with `mosquitto_sub`.
    fn viewer_reads(&self, topic: &str) -> Result<Output> {
        self.mqtt_client("mosquitto_sub", Some("viewer"), self.client_port())
            .args(["-t", topic, "-C", "1", "-W", "10"])
            .output()
            .context("mosquitto_sub (package mosquitto-clients)")
    }

    fn client_port(&self) -> u16 {
        match self.auth {
            Auth::MutualTls => self.tls_port,
            Auth::Passwords => self.plain_port,
        }
    }

    fn scenario(&mut self) -> Result<()> {
        self.run_setup()?;
        self.start_broker_and_controller()?;
        self.start_agent()?;

        // apply -> Running in podman, as the CLI user.
        let manifest = self.tmp.path().join("state.yaml");
        std::fs::write(
            &manifest,
            format!(
                "apiVersion: v1\nworkloads:\n  secured:\n    runtime: podman\n    agent: {}\n    \
                 runtimeConfig: |\n      image: {}\n      commandArgs: [\"sh\", \"-c\", \"echo \
                 hello-secure; trap 'exit 0' TERM; sleep 3600 & wait\"]\n",
                self.agent,
                ank_system_tests::podman::test_image()
            ),
        )?;
        let manifest = manifest.display().to_string();
        wait_for("the agent to come online", START, || {
            let out = self.ank(&["get", "agents"])?;
            Ok(String::from_utf8_lossy(&out.stdout)
                .contains(&self.agent)
                .then_some(()))
        })?;
        wait_for("the controller to answer", START, || {
            Ok(self.ank(&["get", "state"])?.status.success().then_some(()))
        })?;
        let applied = self.ank(&["apply", "--timeout", "60s", &manifest])?;
        ensure!(applied.status.success(), "ank apply: {}", text(&applied));
        let listing = self.ank(&["get", "workloads"])?;
        let stdout = String::from_utf8_lossy(&listing.stdout);
        ensure!(
            listing.status.success()
                && stdout.contains("secured")
                && stdout.contains("Running(Ok)"),
            "ank get workloads: {}",
            text(&listing)
        );
        let containers = Command::new("podman")
            .args([
                "ps",
                "--filter",
                &format!("label=ankmq.agent={}", self.agent),
            ])
            .args(["--format", "{{.Names}}"])
            .env(
                "CONTAINERS_CONF",
                ank_system_tests::podman::containers_conf()?,
            )
            .output()?;
        ensure!(
            String::from_utf8_lossy(&containers.stdout).contains("secured"),
            "the container runs in podman: {}",
            text(&containers)
        );
        wait_for("ank logs to show the workload's line", START, || {
            let out = self.ank(&["logs", "secured"])?;
            Ok(String::from_utf8_lossy(&out.stdout)
                .contains("hello-secure")
                .then_some(()))
        })?;

        // The viewer reads the retained states (a dashboard's read) and cannot publish.
        let state_topic = format!("{}/agents/{}/workloads/+/state", self.prefix, self.agent);
        let read = self.viewer_reads(&state_topic)?;
        ensure!(
            read.status.success() && String::from_utf8_lossy(&read.stdout).contains("Running"),
            "viewer reads the workload state: {}",
            text(&read)
        );
        let status_topic = format!("{}/agents/{}/status", self.prefix, self.agent);
        // QoS 1: mosquitto_pub waits for the broker's PUBACK, so the publish has been judged
        // before the read below.
        let forged = self
            .mqtt_client("mosquitto_pub", Some("viewer"), self.client_port())
            .args([
                "-t",
                &status_topic,
                "-m",
                "{\"forged\":true}",
                "-r",
                "-q",
                "1",
            ])
            .output()?;
        let status = self.viewer_reads(&status_topic)?;
        let status_text = String::from_utf8_lossy(&status.stdout);
        ensure!(
            status.status.success() && !status_text.contains("forged"),
            "the viewer's publish was refused (forged publish: {}), the agent's status stays: {}",
            text(&forged),
            text(&status)
        );

        self.anonymous_is_refused_everywhere()
    }

    fn anonymous_is_refused_everywhere(&self) -> Result<()> {
        // `ank` without any credentials, at the secured address.
        let (url, _) = self.login(USER);
        let mut bare = command(Binary::Ank)?;
        bare.args(["--broker", &url, "--topic-prefix", &self.prefix]);
        if self.auth == Auth::MutualTls {
            bare.arg("--ca-pem").arg(self.file("ca.pem"));
        }
        let out = bare.args(["get", "workloads"]).output()?;
        ensure!(
            out.status.code() == Some(1),
            "ank without credentials is refused: {}",
            text(&out)
        );
        // A plain client without credentials on every port: refused, or nothing listens there.
        for port in [self.tls_port, self.plain_port] {
            let out = self
                .mqtt_client("mosquitto_sub", None, port)
                .args(["-t", &format!("{}/#", self.prefix), "-C", "1", "-W", "5"])
                .output()?;
            let listening = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            // 27 is mosquitto_sub's "timed out": connected, just nothing delivered. A refused
            // connection (CONNACK, TLS handshake, nothing listening) ends at once with another.
            let connected = matches!(out.status.code(), Some(0) | Some(27));
            if connected || !String::from_utf8_lossy(&out.stdout).is_empty() {
                bail!(
                    "a client without credentials read from port {port} (listening: {listening}): {}",
                    text(&out)
                );
            }
        }
        Ok(())
    }
}
