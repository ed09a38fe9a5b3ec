//! `docker-compose.yml` brought up with `podman-compose`, as a user would: the image built by
//! `scripts/compose-images.sh`, the broker, the controller in external-broker mode, and an agent
//! that drives the host's podman through an API socket this test serves.
//!
//! Everything is private to the test: its own compose project, its own API socket
//! (`podman system service` on a temporary path), a free broker port and a unique agent name, so
//! it never touches another stack's containers. Guards take it all down, also on failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use ank_system_tests::binaries::{self, Binary};
use ank_system_tests::{mosquitto::free_port, podman};
use ank_testkit::blocking::wait_for;
use anyhow::{bail, Context, Result};

/// How long the stack may take to come up, and a workload to settle, on a loaded 2-core CI box.
const DEADLINE: Duration = Duration::from_secs(120);

/// The cargo profile of the binaries in the image and of the host's `ank`.
const PROFILE: &str = "debug";

/// The image tag of the test, so that a user's `localhost/ankmq:latest` is left alone.
const IMAGE: &str = "localhost/ankmq:system-test";

#[test]
fn compose_stack_runs_a_workload_on_the_hosts_podman() {
    if let Err(e) = compose_stack() {
        panic!("{e:#}");
    }
}

fn compose_stack() -> Result<()> {
    let root = podman::workspace_root();
    let conf = podman::containers_conf()?;
    let tag = format!("{}-{}", std::process::id(), nanos());
    let dir = TempDir::new(&format!("ank-compose-{tag}"))?;
    let run_folder = dir.path().join("run");
    std::fs::create_dir_all(&run_folder)?;
    let agent = format!("compose_{tag}");
    let port = free_port()?;
    let broker = format!("mqtt://127.0.0.1:{port}");

    // Debug binaries: they share every dependency with `cargo test`, where a release build
    // would compile the workspace a second time (minutes on 2 cores). Stripped, they are small.
    // No cargo run from here: `cargo test --workspace` built every binary (ank-broker too), and a
    // `cargo build -p …` now would relink binaries that parallel scenarios are starting (seen:
    // "target/debug/ank is missing" in another test).
    for binary in Binary::ALL {
        binaries::path(binary)?;
    }
    let build = Command::new(root.join("scripts/compose-images.sh"))
        .env("CONTAINERS_CONF", &conf)
        .env("ANKMQ_PROFILE", PROFILE)
        .env("ANKMQ_IMAGE", IMAGE)
        .env("ANKMQ_SKIP_BUILD", "1")
        .output()
        .context("running scripts/compose-images.sh")?;
    check("scripts/compose-images.sh", &build)?;

    let socket = dir.path().join("podman.sock");
    let _service = ApiService::start(&socket, &conf)?;

    let project = format!("ankcompose{tag}").replace('-', "");
    let compose = Compose {
        root: root.clone(),
        project,
        env: vec![
            ("CONTAINERS_CONF", conf.display().to_string()),
            ("ANKMQ_IMAGE", IMAGE.to_owned()),
            ("ANKMQ_PORT", port.to_string()),
            ("ANKMQ_AGENT", agent.clone()),
            ("ANKMQ_PODMAN_SOCKET", socket.display().to_string()),
            ("ANKMQ_RUN_FOLDER", run_folder.display().to_string()),
        ],
        agent: agent.clone(),
    };
    compose.run(&["up", "-d"])?;

    let ank = ank_binary(&root)?;
    let agents = wait_for(
        &format!("{agent} online in `ank get agents`"),
        DEADLINE,
        || {
            let out = ank_cmd(&ank, &broker, &["get", "agents"]).output()?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let online = text.lines().any(|l| {
                // NAME first, STATUS last (after Ankaios' columns).
                let words: Vec<&str> = l.split_whitespace().collect();
                words.first() == Some(&agent.as_str()) && words.last() == Some(&"online")
            });
            Ok(online.then_some(text))
        },
    )
    .with_context(|| {
        format!(
            "`ank get agents` never listed {agent} online\n{}",
            compose.logs()
        )
    })?;
    assert!(agents.starts_with("NAME"), "{agents}");

    // A workload with a mounted file: it proves the agent reaches the host's podman and that the
    // run folder has the same path on both sides (the host's podman does the bind mount).
    let manifest = dir.path().join("manifest.yaml");
    std::fs::write(&manifest, workload_manifest(&agent))?;
    let manifest_arg = manifest.display().to_string();
    let applied = ank_cmd(&ank, &broker, &["apply", "--timeout", "2m", &manifest_arg])
        .output()
        .context("running ank apply")?;
    check("ank apply", &applied).with_context(|| compose.logs())?;

    let workloads = ank_cmd(&ank, &broker, &["get", "workloads"]).output()?;
    let table = String::from_utf8_lossy(&workloads.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("reader") && l.contains("Succeeded(Ok)")),
        "{table}"
    );
    let filter = format!("label=ankmq.agent={agent}");
    let on_host = podman::run(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"])?;
    assert!(
        String::from_utf8_lossy(&on_host.stdout)
            .lines()
            .any(|name| name.starts_with("reader.")),
        "the host's podman has no container of {agent}"
    );
    let logs = ank_cmd(&ank, &broker, &["logs", "reader"]).output()?;
    assert_eq!(
        String::from_utf8_lossy(&logs.stdout).trim(),
        "mounted through the host",
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );

    let deleted = ank_cmd(
        &ank,
        &broker,
        &["delete", "--timeout", "2m", "workload", "reader"],
    )
    .output()?;
    check("ank delete workload reader", &deleted)?;
    Ok(())
}

fn workload_manifest(agent: &str) -> String {
    format!(
        r#"apiVersion: v1
workloads:
  reader:
    agent: {agent}
    runtime: podman
    files:
      - mountPoint: /etc/reader/message.txt
        data: mounted through the host
    runtimeConfig: |
      image: {image}
      commandArgs: ["cat", "/etc/reader/message.txt"]
"#,
        image = podman::test_image()
    )
}

/// The `ank` that `scripts/compose-images.sh` just built, used from the host.
fn ank_binary(root: &Path) -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let ank = target.join(PROFILE).join("ank");
    if !ank.exists() {
        bail!(
            "{} is missing after scripts/compose-images.sh",
            ank.display()
        );
    }
    Ok(ank)
}

fn ank_cmd(ank: &Path, broker: &str, args: &[&str]) -> Command {
    let mut command = Command::new(ank);
    command
        .args(["--broker", broker])
        .args(args)
        .stdin(Stdio::null());
    command
}

fn check(what: &str, output: &Output) -> Result<()> {
    if !output.status.success() {
        bail!(
            "{what} failed ({})\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// One compose project; on drop: `down -v`, its network and the agent's workload containers removed.
struct Compose {
    root: PathBuf,
    project: String,
    env: Vec<(&'static str, String)>,
    agent: String,
}

impl Compose {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("podman-compose");
        command
            .current_dir(&self.root)
            .args(["-p", &self.project, "-f", "docker-compose.yml"])
            .args(args)
            .stdin(Stdio::null());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    fn run(&self, args: &[&str]) -> Result<()> {
        let output = self.command(args).output().context(
            "podman-compose is not installed: run scripts/test-env.sh (Debian package \
             podman-compose)",
        )?;
        check(&format!("podman-compose {}", args.join(" ")), &output)
    }

    /// The services' logs, for a failure message.
    fn logs(&self) -> String {
        ["broker", "controller", "agent"]
            .iter()
            .map(|service| {
                let name = format!("{}_{service}_1", self.project);
                let out = podman::run(&["logs", "--tail", "30", &name])
                    .map(|o| {
                        format!(
                            "{}{}",
                            String::from_utf8_lossy(&o.stdout),
                            String::from_utf8_lossy(&o.stderr)
                        )
                    })
                    .unwrap_or_else(|e| format!("{e:#}"));
                format!("--- {name}\n{out}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self
            .command(&["down", "-v"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // podman-compose 1.0.3 creates `<project>_default` but `down` leaves it behind.
        let _ = podman::run(&["network", "rm", "-f", &format!("{}_default", self.project)]);
        let filter = format!("label=ankmq.agent={}", self.agent);
        if let Ok(out) = podman::run(&["ps", "-aq", "--filter", &filter]) {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = podman::run(&["rm", "-f", "-t", "1", id]);
            }
        }
    }
}

/// `podman system service` on a private socket, killed on drop.
struct ApiService {
    child: Child,
}

impl ApiService {
    fn start(socket: &Path, conf: &Path) -> Result<Self> {
        let child = Command::new("podman")
            .env("CONTAINERS_CONF", conf)
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting `podman system service`")?;
        let service = ApiService { child };
        wait_for("the podman API socket", DEADLINE, || {
            Ok(socket.exists().then_some(()))
        })
        .with_context(|| format!("{} never appeared", socket.display()))?;
        Ok(service)
    }
}

impl Drop for ApiService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Result<Self> {
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("warning: could not remove {}: {e}", self.0.display());
        }
    }
}
