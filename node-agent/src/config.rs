//! The agent's settings: command-line flags (whose docs are `ank-agent --help`), `ANK_AGENT_*`
//! environment variables, and a TOML file (`--config`), resolved with the precedence
//! flag > env > file > default. Resolving is pure ([`AgentArgs::resolve`] takes the file's text),
//! so the precedence is unit-tested; only [`AgentArgs::load`] reads the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use ank_bus::{ConnectArgs, ConnectFile, ConnectOptions, ConnectSettings, Program};
use ank_schemas::{name_problem, parse_tag, RuntimeKind, Topics};

use crate::log_streams::{StreamCaps, DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_CLIENT};

/// Ankaios' default place of ank-agent.conf, read when it exists and no --config is given.
pub const ANKAIOS_CONFIG: &str = "/etc/ankaios/ank-agent.conf";
/// How often the resources in the status are measured.
pub const DEFAULT_RESOURCE_INTERVAL: Duration = Duration::from_secs(5);
/// How often `podman ps` re-reads every container, as a safety net beside `podman events`.
pub const DEFAULT_RESYNC_INTERVAL: Duration = Duration::from_secs(10);
/// The bus's default keep-alive: AgentDisconnected shows about 15 s after an agent froze.
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// `ank-agent`: runs one node's workloads with podman, as the controller's snapshot on
/// `{prefix}/agents/{name}/desired` says, and publishes their states.
#[derive(Debug, Clone, Default, clap::Parser)]
#[command(
    name = "ank-agent",
    version,
    // Ankaios' agent spells the server `-s/--server-url`.
    mut_arg("broker", |a| a.short_alias('s')),
    mut_arg("username", |a| a.help(
        "MQTT user name (the embedded broker's ACLs expect `agent-<name>`)"
    )),
    mut_args(Program::Agent.with_env()),
)]
pub struct AgentArgs {
    /// TOML file with any of the settings below (snake_case keys, `[tags]` table), or Ankaios'
    /// ank-agent.conf (docs/compatibility.md); flags and environment variables win over it
    /// [default: /etc/ankaios/ank-agent.conf, if it exists]
    #[arg(
        short = 'x',
        long,
        visible_alias = "agent-config",
        value_name = "FILE",
        env = "ANK_AGENT_CONFIG"
    )]
    pub config: Option<PathBuf>,
    /// The agent's name (required; [A-Za-z0-9_-], 1 to 63 characters)
    #[arg(short, long, env = "ANK_AGENT_NAME")]
    pub name: Option<String>,
    /// How to reach the broker (shared with ank-controller and ank).
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Folder for workload files; the agent works in `<run-folder>/<name>_io/`, which it creates
    /// at start, private (0700) [default: $TMPDIR/ankmq or /tmp/ankmq]
    #[arg(short, long, value_name = "DIR", env = "ANK_AGENT_RUN_FOLDER")]
    pub run_folder: Option<PathBuf>,
    /// Runtimes this agent runs, comma-separated [default: podman,podman-kube]
    #[arg(long, value_delimiter = ',', env = "ANK_AGENT_RUNTIMES")]
    pub runtimes: Option<Vec<String>>,
    /// A tag `key=value` announced in the agent's status; repeatable. Tags given here replace
    /// the file's tags entirely
    #[arg(short, long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Seconds between measurements of CPU and free memory for the status (published only when
    /// they change noticeably) [default: 5]
    #[arg(long, value_name = "SECONDS", env = "ANK_AGENT_RESOURCE_INTERVAL")]
    pub resource_interval: Option<f64>,
    /// Seconds between full `podman ps` resyncs, beside `podman events` [default: 10]
    #[arg(long, value_name = "SECONDS", env = "ANK_AGENT_RESYNC_INTERVAL")]
    pub resync_interval: Option<f64>,
    /// The podman program to run [default: podman]
    #[arg(long, value_name = "PROGRAM", env = "ANK_AGENT_PODMAN")]
    pub podman: Option<PathBuf>,
    /// Where the kernel's boot id is read, to tell a device restart from an agent-only restart
    /// (hidden: tests point it at a file of their own to simulate a reboot; issue 16)
    #[arg(long, value_name = "FILE", env = "ANK_AGENT_BOOT_ID_FILE", hide = true)]
    pub boot_id_file: Option<PathBuf>,
    /// MQTT keep-alive in whole seconds: a frozen or cut-off agent shows as `AgentDisconnected`
    /// after about 1.5 times this [default: 10]
    #[arg(long, value_name = "SECONDS", env = "ANK_AGENT_KEEP_ALIVE")]
    pub keep_alive: Option<u64>,
    /// The most log streams (`podman logs` processes) this agent runs at once; a request over
    /// it is refused [default: 32]
    #[arg(long, value_name = "N", env = "ANK_AGENT_MAX_LOG_STREAMS")]
    pub max_log_streams: Option<usize>,
    /// The most log streams one client may have on this agent at once [default: 8]
    #[arg(long, value_name = "N", env = "ANK_AGENT_MAX_LOG_STREAMS_PER_CLIENT")]
    pub max_log_streams_per_client: Option<usize>,
}

/// The TOML config file; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    name: Option<String>,
    run_folder: Option<PathBuf>,
    runtimes: Option<Vec<String>>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    resource_interval: Option<f64>,
    resync_interval: Option<f64>,
    podman: Option<PathBuf>,
    keep_alive: Option<u64>,
    max_log_streams: Option<usize>,
    max_log_streams_per_client: Option<usize>,
}

/// The resolved settings the agent runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// The agent's name.
    pub name: String,
    /// The broker URL.
    pub broker: String,
    /// The topic tree.
    pub topics: Topics,
    /// Credentials and TLS files (the bus's one settings type; `broker` and `topics` above are
    /// the ones used).
    pub connect: ConnectSettings,
    /// The base run folder (the agent uses `<run_folder>/<name>_io/`).
    pub run_folder: PathBuf,
    /// The runtimes to run.
    pub runtimes: Vec<RuntimeKind>,
    /// The agent's tags.
    pub tags: BTreeMap<String, String>,
    /// Resource measurement interval.
    pub resource_interval: Duration,
    /// Full resync interval.
    pub resync_interval: Duration,
    /// The podman program.
    pub podman: PathBuf,
    /// Where the current boot id is read (`/proc/sys/kernel/random/boot_id`).
    pub boot_id_file: PathBuf,
    /// MQTT keep-alive; the broker declares the agent lost after about 1.5 times this.
    pub keep_alive: Duration,
    /// Caps on concurrent log streams, per agent and per client.
    pub log_caps: StreamCaps,
    /// Settings accepted but ignored (unknown runtimes, Ankaios' gRPC-only keys): `main` logs
    /// each once.
    pub warnings: Vec<String>,
    /// Extra environment for every podman call (e.g. `CONTAINERS_CONF`); not a flag, tests and
    /// embedders set it.
    pub podman_env: Vec<(String, String)>,
}

impl AgentConfig {
    /// A config with every default, for `name` (tests and embedders start from it).
    pub fn with_defaults(name: &str) -> Result<Self> {
        AgentArgs {
            name: Some(name.to_owned()),
            ..AgentArgs::default()
        }
        .resolve(None)
    }

    /// The folder this agent writes workload files to.
    pub fn io_folder(&self) -> PathBuf {
        self.run_folder.join(format!("{}_io", self.name))
    }

    /// The session options: `broker`, `topics`, the keep-alive and `connect`'s credentials and
    /// TLS files, as `agent-<name>`.
    pub fn connect_options(&self) -> Result<ConnectOptions> {
        let mut options = self
            .connect
            .connect_options(&self.broker, &self.client_id())
            .with_context(|| format!("broker `{}`", self.broker))?;
        options.topics = self.topics.clone();
        options.keep_alive = self.keep_alive;
        Ok(options)
    }

    /// The MQTT client id: `agent-<name>`, the agent's login, so a broker that binds client ids
    /// to logins accepts it (issue 13).
    pub fn client_id(&self) -> String {
        format!("agent-{}", self.name)
    }
}

fn default_run_folder() -> PathBuf {
    std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"))
        .join("ankmq")
}

fn seconds(value: f64, what: &str) -> Result<Duration> {
    if !(value.is_finite() && value > 0.0 && value <= 86_400.0) {
        bail!("{what} must be between 0 and 86400 seconds, got {value}");
    }
    Ok(Duration::from_secs_f64(value))
}

impl AgentArgs {
    /// Reads the `--config` file (or Ankaios' default one, if it exists) and resolves with the
    /// process environment.
    pub fn load(self) -> Result<AgentConfig> {
        let default = Path::new(ANKAIOS_CONFIG);
        let path = match &self.config {
            Some(path) => Some(path.clone()),
            None => default.exists().then(|| default.to_owned()),
        };
        let text = path.as_deref().map(read).transpose()?;
        let config = self.resolve_with(|name| std::env::var(name).ok(), text.as_deref());
        match path {
            Some(path) => config.with_context(|| format!("config file {}", path.display())),
            None => config,
        }
    }

    /// [`AgentArgs::resolve_with`] without environment aliases: what tests use.
    pub fn resolve(self, file_text: Option<&str>) -> Result<AgentConfig> {
        self.resolve_with(|_| None, file_text)
    }

    /// Resolves flags (and env, which clap already merged into them; `env` for the aliases of
    /// the connection settings) over the file's TOML text (ours or Ankaios' ank-agent.conf) over
    /// the defaults, and validates the result.
    pub fn resolve_with(
        self,
        env: impl Fn(&str) -> Option<String>,
        file_text: Option<&str>,
    ) -> Result<AgentConfig> {
        let (file, connect_file): (FileConfig, ConnectFile) = match file_text {
            Some(text) => {
                let mut table: toml::Table =
                    toml::from_str(text).context("parsing the config file")?;
                let connect = ConnectFile::take(&mut table, Program::Agent)
                    .context("parsing the config file")?;
                let file = toml::Value::Table(table)
                    .try_into()
                    .context("parsing the config file")?;
                (file, connect)
            }
            None => (FileConfig::default(), ConnectFile::default()),
        };
        let connect = self.connect.resolve(Program::Agent, env, &connect_file)?;
        let name = self
            .name
            .or(file.name)
            .context("the agent needs a name: --name, ANK_AGENT_NAME or `name` in the config")?;
        if let Some(problem) = name_problem(&name) {
            bail!("invalid agent name `{name}`: {problem}");
        }
        let runtimes = self
            .runtimes
            .or(file.runtimes)
            .unwrap_or_else(|| RuntimeKind::KNOWN.iter().map(|r| r.to_string()).collect());
        let mut warnings = connect.warnings.clone();
        let mut enabled = Vec::new();
        let mut unknown = Vec::new();
        for runtime in runtimes {
            let name = runtime.trim().to_owned();
            let Some(runtime) = RuntimeKind::parse(&name).ok().filter(RuntimeKind::is_known) else {
                // As Ankaios: Ankaios' own ank-agent.conf lists `containerd`, which runs nowhere
                // here; an unknown name is a warning, no runtime at all an error.
                warnings.push(format!(
                    "runtime `{name}` ignored: unknown here; known: {}",
                    RuntimeKind::known_names()
                ));
                unknown.push(name);
                continue;
            };
            if !enabled.contains(&runtime) {
                enabled.push(runtime);
            }
        }
        if enabled.is_empty() {
            bail!(
                "no known runtime enabled (unknown runtime: {}); use --runtimes \
                 podman,podman-kube",
                unknown.join(", ")
            );
        }
        let log_caps = StreamCaps {
            per_agent: stream_cap(
                self.max_log_streams.or(file.max_log_streams),
                DEFAULT_MAX_STREAMS,
                "--max-log-streams",
            )?,
            per_client: stream_cap(
                self.max_log_streams_per_client
                    .or(file.max_log_streams_per_client),
                DEFAULT_MAX_STREAMS_PER_CLIENT,
                "--max-log-streams-per-client",
            )?,
        };
        let tags = if self.tags.is_empty() {
            file.tags
        } else {
            self.tags.into_iter().collect()
        };
        Ok(AgentConfig {
            name,
            broker: connect.broker_url(),
            topics: connect.topics.clone(),
            connect,
            run_folder: self
                .run_folder
                .or(file.run_folder)
                .unwrap_or_else(default_run_folder),
            runtimes: enabled,
            tags,
            resource_interval: match self.resource_interval.or(file.resource_interval) {
                Some(s) => seconds(s, "--resource-interval")?,
                None => DEFAULT_RESOURCE_INTERVAL,
            },
            resync_interval: match self.resync_interval.or(file.resync_interval) {
                Some(s) => seconds(s, "--resync-interval")?,
                None => DEFAULT_RESYNC_INTERVAL,
            },
            podman: self
                .podman
                .or(file.podman)
                .unwrap_or_else(|| PathBuf::from("podman")),
            boot_id_file: self
                .boot_id_file
                .unwrap_or_else(|| PathBuf::from(crate::boot::BOOT_ID_PATH)),
            keep_alive: match self.keep_alive.or(file.keep_alive) {
                // MQTT carries the keep-alive as a 16-bit number of seconds.
                Some(s @ 1..=65_535) => Duration::from_secs(s),
                Some(s) => bail!("--keep-alive must be between 1 and 65535 seconds, got {s}"),
                None => DEFAULT_KEEP_ALIVE,
            },
            log_caps,
            podman_env: Vec::new(),
            warnings,
        })
    }
}

/// The highest accepted stream cap: each stream is a podman process.
const MAX_STREAM_CAP: usize = 1024;

fn stream_cap(value: Option<usize>, default: usize, what: &str) -> Result<usize> {
    match value {
        None => Ok(default),
        Some(n) if (1..=MAX_STREAM_CAP).contains(&n) => Ok(n),
        Some(n) => bail!("{what} must be between 1 and {MAX_STREAM_CAP}, got {n}"),
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
