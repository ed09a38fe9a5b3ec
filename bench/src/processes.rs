//! The real binaries under test (`ank-controller`, `ank-agent`, `ank`, `ank-broker`), started as
//! separate processes exactly as a user would, each owned by a guard that stops it on drop.
//!
//! Nothing here measures; the measurements in `measure/` time these calls. Every process writes
//! its log to a file in the run directory, which the breakdowns and a failed run can be read from.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::process::{Child, Command};

/// Where the release binaries are.
#[derive(Debug, Clone)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// The binaries in `dir`, or beside this harness (`target/release` under `cargo run
    /// --release`). Fails naming the build command when one is missing.
    pub fn locate(dir: Option<PathBuf>) -> Result<Self> {
        let dir = match dir {
            Some(dir) => dir,
            None => std::env::current_exe()
                .context("locating the harness binary")?
                .parent()
                .map(Path::to_path_buf)
                .context("the harness binary has no directory")?,
        };
        let me = Self { dir };
        for name in ["ank-controller", "ank-agent", "ank", "ank-broker"] {
            if !me.path(name).is_file() {
                bail!(
                    "{} is missing: run `cargo build --release -p ank-controller -p ank-agent \
                     -p ank-cli -p ank-broker` (scripts/bench.sh does)",
                    me.path(name).display()
                );
            }
        }
        Ok(me)
    }

    /// The path of binary `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// A started process; SIGKILLed on drop unless [`Proc::stop`] ended it first.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    pid: u32,
    name: String,
    /// When the process was spawned.
    pub started: Instant,
}

impl Proc {
    /// Spawns `program args…` with stdout and stderr appended to `log`.
    pub fn spawn(program: &Path, args: &[String], log: &Path) -> Result<Self> {
        let out =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating a log file handle")?;
        let started = Instant::now();
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pid = child
            .id()
            .context("the process ended before it had a pid")?;
        Ok(Self {
            child,
            pid,
            name: program
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            started,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Fails if the process has already ended (e.g. a flag was refused).
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait().context("polling a child")? {
            bail!(
                "{} exited early ({status}); see its log in the run directory",
                self.name
            );
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL if it has not ended within `grace`.
    pub async fn stop(mut self, grace: Duration) {
        // A pid we own and have not reaped yet; if it is gone already, so much the better.
        if let Some(pid) = i32::try_from(self.pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            tracing::warn!(name = %self.name, "did not stop on SIGTERM: killing it");
            let _ = self.child.kill().await;
        }
    }
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`.
pub async fn wait_listening(port: u16, timeout: Duration) -> Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nothing listens on {addr} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The outcome of one `ank` invocation.
#[derive(Debug)]
pub struct AnkRun {
    /// From spawn to exit.
    pub elapsed: Duration,
    /// When it was spawned.
    pub started: Instant,
    /// Whether it exited with code 0.
    pub ok: bool,
    /// Its stderr (and stdout), for error messages.
    pub output: String,
}

/// Runs `ank -b <broker> -q <args…>` to completion, timing it from spawn to exit.
pub async fn run_ank(bins: &Binaries, broker: &str, args: &[&str]) -> Result<AnkRun> {
    let started = Instant::now();
    let out = Command::new(bins.path("ank"))
        .arg("-b")
        .arg(broker)
        .arg("-q")
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .context("running ank")?;
    let elapsed = started.elapsed();
    let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stdout));
    Ok(AnkRun {
        elapsed,
        started,
        ok: out.status.success(),
        output,
    })
}

/// Like [`run_ank`], failing with ank's output when it does not exit 0.
pub async fn ank_ok(bins: &Binaries, broker: &str, args: &[&str]) -> Result<AnkRun> {
    let run = run_ank(bins, broker, args).await?;
    if !run.ok {
        bail!("`ank {}` failed: {}", args.join(" "), run.output.trim());
    }
    Ok(run)
}
