//! Starts a private Mosquitto for a test: its own config on a free loopback port, killed on drop.
//!
//! Mosquitto is the production reference broker (reference/mqtt-brokers.md). The config carries
//! `max_queued_messages 0`, without which Mosquitto caps what it queues per client and drops
//! retained messages of wide wildcard subscriptions. No persistence: a restart forgets retained
//! messages, like a broker that lost its disk.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Where Debian installs the broker; `$ANK_MOSQUITTO` overrides it.
pub const DEFAULT_BINARY: &str = "/usr/sbin/mosquitto";

/// How long [`Mosquitto::start`] waits for the port to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running Mosquitto owned by the test; killed (and its directory removed) on drop.
#[derive(Debug)]
pub struct Mosquitto {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    listener_lines: String,
}

impl Mosquitto {
    /// Starts Mosquitto on a free loopback port.
    pub fn start() -> Result<Self> {
        Self::start_on(free_port()?)
    }

    /// Starts Mosquitto on `port` of 127.0.0.1, e.g. to restart it where clients expect it.
    pub fn start_on(port: u16) -> Result<Self> {
        Self::start_with(port, "")
    }

    /// Starts Mosquitto on `port` with `listener_lines` right after the `listener` line (e.g.
    /// `cafile`, `certfile`, `keyfile` for a TLS listener, or `password_file`).
    pub fn start_with(port: u16, listener_lines: &str) -> Result<Self> {
        let dir = unique_dir()?;
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\n\
                 {listener_lines}\n\
                 allow_anonymous true\n\
                 max_queued_messages 0\n\
                 persistence false\n\
                 log_dest stderr\n\
                 log_type error\n\
                 log_type warning\n"
            ),
        )
        .with_context(|| format!("writing {}", config.display()))?;
        let binary = std::env::var("ANK_MOSQUITTO").unwrap_or_else(|_| DEFAULT_BINARY.into());
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!("{binary} cannot be started: install the `mosquitto` package (scripts/test.sh does)")
            })?;
        let mut broker = Self {
            child: Some(child),
            port,
            dir,
            listener_lines: listener_lines.to_owned(),
        };
        broker.wait_ready()?;
        Ok(broker)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `mqtt://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL) and waits until it is gone; the port is free afterwards.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills it and starts a fresh one on the same port and config (retained messages are gone).
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        // Keep our directory for our drop; the fresh one's goes with `fresh` (Mosquitto has read
        // its config by then).
        let mut fresh = Self::start_with(self.port, &self.listener_lines)?;
        self.child = fresh.child.take();
        Ok(())
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if TcpStream::connect(self.addr()).is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().context("waiting for mosquitto")? {
                    let mut stderr = String::new();
                    if let Some(mut pipe) = child.stderr.take() {
                        let _ = pipe.read_to_string(&mut stderr);
                    }
                    bail!(
                        "mosquitto exited ({status}) before listening on port {}: {}",
                        self.port,
                        stderr.trim()
                    );
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "mosquitto does not listen on port {} after {READY_TIMEOUT:?}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port that was free a moment ago on 127.0.0.1 (the OS picks it; the race with other tests
/// taking it before Mosquitto binds is small and shows up as a clear start error).
pub fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

fn unique_dir() -> Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ank-mosquitto-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
