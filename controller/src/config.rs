//! The controller's configuration: flags, `ANK_CONTROLLER_*` environment variables, a TOML file
//! and defaults, with the precedence flag > environment > file > default (clap applies
//! flag > environment; [`Args::resolve`] puts the file under both).
//!
//! The embedded broker's own flags (`--listen`, `--passwd`, `--acl`, …, env `ANK_BROKER_*`) are
//! the broker crate's [`BrokerArgs`], flattened in, and its TOML form is the `[embedded_broker]`
//! table; `ank-broker` and the controller thus share one spelling of every broker setting.

use std::path::{Path, PathBuf};

use ank_broker::{BrokerArgs, BrokerConfig, BrokerSettings, Storage};
use ank_bus::{ConnectOptions, TlsFiles};
use ank_schemas::Topics;
use anyhow::{bail, Context};
use serde::Deserialize;

/// Where the state lives unless configured: the FHS place for a daemon's variable state.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/ankmq/controller";

/// The default `--max-message-size`: the embedded broker's default packet limit (1 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// The smallest `--max-message-size`: the embedded broker refuses smaller packet limits.
pub const MIN_MAX_MESSAGE_SIZE: usize = 1024;

/// The largest `--max-message-size`: MQTT's own packet limit (256 MiB minus one byte).
pub const MAX_MAX_MESSAGE_SIZE: usize = 268_435_455;

/// `ank-controller`: the single writer of ankmq's desired state.
///
/// It keeps the desired state (persisted in --state-dir), publishes one retained snapshot per
/// agent on `{prefix}/agents/<agent>/desired`, and answers requests on `{prefix}/requests`.
/// By default it runs its own MQTT broker on 127.0.0.1:1883.
#[derive(Debug, Clone, Default, PartialEq, clap::Parser)]
#[command(
    name = "ank-controller",
    version,
    max_term_width = 100,
    // The broker crate's help names ank-broker's default; the controller's is beside its state.
    mut_arg("storage_dir", |a| a.help(
        "Directory for the embedded broker's retained messages and sessions; they survive \
         restarts [default: <state-dir>/broker]"
    ))
)]
pub struct Args {
    /// TOML configuration file; its keys are the long flag names with `_` (e.g. `state_dir`),
    /// plus an `[embedded_broker]` table. Flags and environment variables override it
    #[arg(long, value_name = "FILE", env = "ANK_CONTROLLER_CONFIG")]
    pub config: Option<PathBuf>,

    /// Manifest (Ankaios YAML, apiVersion v1 or v0.1) that seeds an empty state directory. When a
    /// persisted state exists it wins and this file is only validated; see --reset-state
    #[arg(
        short = 'm',
        long,
        value_name = "FILE",
        env = "ANK_CONTROLLER_STARTUP_MANIFEST"
    )]
    pub startup_manifest: Option<PathBuf>,

    /// Directory of the persisted desired state (state.json), created if missing
    /// [default: /var/lib/ankmq/controller]
    #[arg(long, value_name = "DIR", env = "ANK_CONTROLLER_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// Start over from the startup manifest (or from an empty state) instead of the persisted
    /// state. Agents known before get explicit empty snapshots; the generation keeps counting
    #[arg(long, env = "ANK_CONTROLLER_RESET_STATE")]
    pub reset_state: bool,

    /// `embedded` to run the built-in broker (see --listen), or the URL of an external one:
    /// mqtt://host[:port] or mqtts://host[:port] (with --ca) [default: embedded]
    #[arg(long, value_name = "embedded|URL", env = "ANK_CONTROLLER_BROKER")]
    pub broker: Option<String>,

    /// Prefix of every MQTT topic, e.g. vehicles/VIN123/ank/v1 [default: ank/v1]
    #[arg(long, value_name = "PREFIX", env = "ANK_CONTROLLER_TOPIC_PREFIX")]
    pub topic_prefix: Option<String>,

    /// MQTT user name for the broker (external, or embedded with --passwd)
    #[arg(long, value_name = "NAME", env = "ANK_CONTROLLER_USERNAME")]
    pub username: Option<String>,

    /// MQTT password. Prefer --password-file or the environment: flags show in `ps`
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "ANK_CONTROLLER_PASSWORD",
        hide_env_values = true,
        conflicts_with = "password_file"
    )]
    pub password: Option<String>,

    /// File whose first line is the MQTT password
    #[arg(long, value_name = "FILE", env = "ANK_CONTROLLER_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,

    /// CA certificate (PEM) that signed the external broker's certificate; required for mqtts://
    #[arg(long, alias = "ca_pem", value_name = "FILE", env = "ANK_CONTROLLER_CA")]
    pub ca: Option<PathBuf>,

    /// Accepted for Ankaios compatibility: the controller speaks plain MQTT unless --broker is
    /// mqtts:// (then TLS is used, as Ankaios uses mTLS when every PEM is given)
    #[arg(short = 'k', long, env = "ANKSERVER_INSECURE")]
    pub insecure: bool,

    /// Client certificate (PEM) for brokers that authenticate clients by certificate
    #[arg(
        long,
        alias = "crt_pem",
        value_name = "FILE",
        env = "ANK_CONTROLLER_CERT",
        requires = "key"
    )]
    pub cert: Option<PathBuf>,

    /// Private key (PEM) of --cert
    #[arg(
        long,
        alias = "key_pem",
        value_name = "FILE",
        env = "ANK_CONTROLLER_KEY",
        requires = "cert"
    )]
    pub key: Option<PathBuf>,

    /// Largest MQTT packet the broker accepts, in bytes: a request whose result has a retained
    /// message (the desired state, an agent's snapshot) larger than this is refused before it
    /// is saved. With an external broker set it to the broker's limit; the embedded broker uses
    /// it as its --max-packet-size unless that is given [default: 1048576]
    #[arg(long, value_name = "BYTES", env = "ANK_CONTROLLER_MAX_MESSAGE_SIZE")]
    pub max_message_size: Option<usize>,

    /// Settings of the embedded broker (ignored with an external --broker).
    #[command(flatten, next_help_heading = "Embedded broker")]
    pub embedded: BrokerArgs,
}

/// The TOML configuration file; every key is optional and unknown keys are refused.
///
/// ```toml
/// startup_manifest = "/etc/ankmq/state.yaml"
/// state_dir = "/var/lib/ankmq/controller"
/// broker = "embedded"            # or "mqtt://broker.local:1883"
/// topic_prefix = "ank/v1"
/// username = "controller"
/// password_file = "/etc/ankmq/controller.password"
/// ca = "/etc/ankmq/ca.pem"
/// max_message_size = 1048576     # bytes; the broker's packet limit
///
/// [embedded_broker]              # the ank-broker settings (docs/broker.md)
/// listen = "127.0.0.1:1883"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `--startup-manifest`.
    pub startup_manifest: Option<PathBuf>,
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    /// `--broker`.
    pub broker: Option<String>,
    /// `--topic-prefix`.
    pub topic_prefix: Option<String>,
    /// `--username`.
    pub username: Option<String>,
    /// `--password-file` (a password itself does not belong in a config file).
    pub password_file: Option<PathBuf>,
    /// `--ca`.
    pub ca: Option<PathBuf>,
    /// `--cert`.
    pub cert: Option<PathBuf>,
    /// `--key`.
    pub key: Option<PathBuf>,
    /// `--max-message-size`.
    pub max_message_size: Option<usize>,
    /// The embedded broker's settings.
    #[serde(default)]
    pub embedded_broker: BrokerSettings,
}

impl ConfigFile {
    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
    }
}

/// Which broker the controller talks to.
#[derive(Debug, Clone, PartialEq)]
pub enum BrokerChoice {
    /// Run the embedded broker in-process with this configuration (boxed: it is large).
    Embedded(Box<BrokerConfig>),
    /// Connect to the broker at this `mqtt://` or `mqtts://` URL.
    External(String),
}

/// The resolved configuration [`crate::run`] starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The manifest that seeds an empty state directory.
    pub startup_manifest: Option<PathBuf>,
    /// Where `state.json` lives.
    pub state_dir: PathBuf,
    /// Start over from the startup manifest.
    pub reset_state: bool,
    /// Embedded or external broker.
    pub broker: BrokerChoice,
    /// The topic tree.
    pub topics: Topics,
    /// MQTT user name.
    pub username: Option<String>,
    /// MQTT password, given directly.
    pub password: Option<String>,
    /// File holding the MQTT password.
    pub password_file: Option<PathBuf>,
    /// TLS files for an external `mqtts://` broker.
    pub tls: Option<TlsFiles>,
    /// The largest MQTT packet the broker accepts; every retained message a request implies
    /// must fit (issue 14). With the embedded broker, the smaller of `--max-message-size` and its
    /// packet limit.
    pub max_message_size: usize,
}

impl Args {
    /// Reads the `--config` file, if any, and resolves.
    pub fn load(&self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => ConfigFile::load(path)?,
            None => ConfigFile::default(),
        };
        self.resolve(&file)
    }

    /// Merges flags/environment (`self`) over `file` over the defaults.
    pub fn resolve(&self, file: &ConfigFile) -> anyhow::Result<Config> {
        let state_dir = self
            .state_dir
            .clone()
            .or_else(|| file.state_dir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        let prefix = self
            .topic_prefix
            .clone()
            .or_else(|| file.topic_prefix.clone())
            .unwrap_or_else(|| ank_schemas::DEFAULT_PREFIX.to_owned());
        let topics = Topics::new(&prefix).context("--topic-prefix")?;
        let mut max_message_size = self
            .max_message_size
            .or(file.max_message_size)
            .unwrap_or(DEFAULT_MAX_MESSAGE_SIZE);
        if !(MIN_MAX_MESSAGE_SIZE..=MAX_MAX_MESSAGE_SIZE).contains(&max_message_size) {
            bail!(
                "--max-message-size {max_message_size}: use {MIN_MAX_MESSAGE_SIZE} to \
                 {MAX_MAX_MESSAGE_SIZE} bytes"
            );
        }
        let broker = match self.broker.as_deref().or(file.broker.as_deref()) {
            None | Some("embedded") => {
                let mut config = self
                    .embedded
                    .resolve(&file.embedded_broker)
                    .context("embedded broker settings")?;
                if let Some(dashboard) = config.dashboard.as_mut() {
                    // The page subscribes under the controller's prefix (issue 18).
                    dashboard.topic_prefix = topics.prefix().to_owned();
                }
                let packet_size_chosen = self.embedded.max_packet_size.is_some()
                    || file.embedded_broker.limits.max_packet_size.is_some();
                if packet_size_chosen {
                    // Both limits apply to what the controller publishes.
                    max_message_size = max_message_size.min(config.limits.max_packet_size);
                } else {
                    // One setting for both, so the controller and its broker agree.
                    config.limits.max_packet_size = max_message_size;
                }
                let storage_chosen = self.embedded.in_memory
                    || self.embedded.storage_dir.is_some()
                    || file.embedded_broker.in_memory.is_some()
                    || file.embedded_broker.storage_dir.is_some();
                if !storage_chosen {
                    // Beside the state it serves rather than in the working directory.
                    config.storage = Storage::Dir(state_dir.join("broker"));
                }
                BrokerChoice::Embedded(Box::new(config))
            }
            Some(url) if url.starts_with("mqtt://") || url.starts_with("mqtts://") => {
                BrokerChoice::External(url.to_owned())
            }
            Some(other) => {
                bail!("--broker `{other}`: use `embedded`, mqtt://host:port or mqtts://host:port")
            }
        };
        let ca = self.ca.clone().or_else(|| file.ca.clone());
        let cert = self.cert.clone().or_else(|| file.cert.clone());
        let key = self.key.clone().or_else(|| file.key.clone());
        let tls = match (ca, cert, key) {
            (Some(ca), cert, key) => Some(TlsFiles { ca, cert, key }),
            (None, None, None) => None,
            (None, _, _) => bail!("--cert/--key need --ca (the CA of the broker's certificate)"),
        };
        Ok(Config {
            startup_manifest: self
                .startup_manifest
                .clone()
                .or_else(|| file.startup_manifest.clone()),
            state_dir,
            reset_state: self.reset_state,
            broker,
            topics,
            username: self.username.clone().or_else(|| file.username.clone()),
            password: self.password.clone(),
            password_file: self
                .password_file
                .clone()
                .or_else(|| file.password_file.clone()),
            tls,
            max_message_size,
        })
    }
}

impl Config {
    /// The session options for `url` (the external broker, or the embedded one's address),
    /// reading the password file if one is configured.
    pub fn connect_options(&self, url: &str, client_id: &str) -> anyhow::Result<ConnectOptions> {
        let mut opts = ConnectOptions::from_url(url, client_id)
            .with_context(|| format!("broker URL `{url}`"))?;
        opts.topics = self.topics.clone();
        opts.publish_limit = Some(self.max_message_size);
        if matches!(self.broker, BrokerChoice::External(_)) {
            opts.tls = self.tls.clone();
        }
        if self.username.is_some() {
            opts.username = self.username.clone();
        }
        let password = match (&self.password, &self.password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading the password file {}", file.display()))?;
                Some(text.lines().next().unwrap_or_default().to_owned())
            }
            (None, None) => None,
        };
        if password.is_some() {
            opts.password = password;
        }
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    fn args(argv: &[&str]) -> Args {
        let mut full = vec!["ank-controller"];
        full.extend_from_slice(argv);
        Args::try_parse_from(full).expect("flags parse")
    }

    fn file(text: &str) -> ConfigFile {
        toml::from_str(text).expect("config parses")
    }

    #[test]
    fn issue_16_ankaios_insecure_and_pem_spellings_are_accepted() {
        let a = args(&[
            "-k",
            "--ca_pem",
            "/ca",
            "--crt_pem",
            "/crt",
            "--key_pem",
            "/key",
        ]);
        assert!(a.insecure);
        assert_eq!(a.ca.as_deref(), Some(Path::new("/ca")));
        assert_eq!(a.cert.as_deref(), Some(Path::new("/crt")));
        assert_eq!(a.key.as_deref(), Some(Path::new("/key")));
        assert!(args(&["--insecure"])
            .resolve(&ConfigFile::default())
            .is_ok());
    }

    #[test]
    fn issue_16_the_help_names_the_storage_default_the_code_uses() {
        let help = Args::command().render_long_help().to_string();
        assert!(help.contains("[default: <state-dir>/broker]"), "{help}");
        assert!(!help.contains("ank-broker-storage"), "{help}");
        let config = args(&["--state-dir", "/s"])
            .resolve(&ConfigFile::default())
            .expect("valid");
        let BrokerChoice::Embedded(broker) = config.broker else {
            panic!("embedded by default");
        };
        assert_eq!(broker.storage, Storage::Dir(PathBuf::from("/s/broker")));
    }

    #[test]
    fn the_flags_are_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = args(&[]).resolve(&ConfigFile::default()).unwrap();
        assert_eq!(c.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert_eq!(c.topics.prefix(), "ank/v1");
        let BrokerChoice::Embedded(broker) = c.broker else {
            panic!("embedded by default")
        };
        assert_eq!(broker.listen.to_string(), "127.0.0.1:1883");
        assert_eq!(
            broker.storage,
            Storage::Dir(PathBuf::from(DEFAULT_STATE_DIR).join("broker"))
        );
    }

    #[test]
    fn flags_beat_the_file_which_beats_the_defaults() {
        let f = file(
            "state_dir = \"/file/state\"\ntopic_prefix = \"file/p\"\nbroker = \"mqtt://file:1\"\n\
             username = \"u\"\n[embedded_broker]\nlisten = \"127.0.0.1:9\"\n",
        );
        let c = args(&["--state-dir", "/flag/state"]).resolve(&f).unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/flag/state"));
        assert_eq!(c.topics.prefix(), "file/p");
        assert_eq!(c.broker, BrokerChoice::External("mqtt://file:1".into()));
        assert_eq!(c.username.as_deref(), Some("u"));
        let c = args(&["--broker", "embedded", "--listen", "127.0.0.1:7"])
            .resolve(&f)
            .unwrap();
        let BrokerChoice::Embedded(broker) = c.broker else {
            panic!("embedded")
        };
        assert_eq!(broker.listen.to_string(), "127.0.0.1:7");
    }

    #[test]
    fn max_message_size_follows_the_precedence_and_sets_the_embedded_broker() {
        let mib = DEFAULT_MAX_MESSAGE_SIZE;
        let embedded_limit = |c: &Config| match &c.broker {
            BrokerChoice::Embedded(b) => Some(b.limits.max_packet_size),
            BrokerChoice::External(_) => None,
        };
        /// (case, flags, file, controller limit, embedded broker limit)
        type Case<'a> = (&'a str, &'a [&'a str], &'a str, usize, Option<usize>);
        let cases: [Case; 6] = [
            ("default", &[], "", mib, Some(mib)),
            ("file", &[], "max_message_size = 2048", 2048, Some(2048)),
            (
                "flag beats file",
                &["--max-message-size", "4096"],
                "max_message_size = 2048",
                4096,
                Some(4096),
            ),
            (
                "external broker",
                &["--broker", "mqtt://h:1", "--max-message-size", "4096"],
                "",
                4096,
                None,
            ),
            (
                "a smaller broker packet limit wins",
                &["--max-message-size", "4096", "--max-packet-size", "2048"],
                "",
                2048,
                Some(2048),
            ),
            (
                "a larger broker packet limit stays the broker's",
                &["--max-packet-size", "4194304"],
                "",
                mib,
                Some(4 * mib),
            ),
        ];
        for (case, flags, text, limit, broker) in cases {
            let c = args(flags).resolve(&file(text)).expect(case);
            assert_eq!(c.max_message_size, limit, "{case}");
            assert_eq!(embedded_limit(&c), broker, "{case}");
            let opts = c.connect_options("mqtt://127.0.0.1:1", "ctl").expect(case);
            assert_eq!(opts.publish_packet_limit(), limit, "{case}");
        }
    }

    /// (case, flags, file): each must be refused.
    #[test]
    fn bad_settings_are_refused() {
        let cases: [(&str, &[&str], &str); 6] = [
            (
                "message size too small",
                &["--max-message-size", "1023"],
                "",
            ),
            (
                "message size over MQTT's limit",
                &[],
                "max_message_size = 268435456",
            ),
            ("unknown broker scheme", &["--broker", "http://x"], ""),
            ("bad prefix", &["--topic-prefix", "a/#"], ""),
            ("cert without ca", &["--cert", "c", "--key", "k"], ""),
            ("bad broker in file", &[], "broker = \"tcp://x\""),
        ];
        for (case, flags, text) in cases {
            assert!(args(flags).resolve(&file(text)).is_err(), "{case}");
        }
        assert!(toml::from_str::<ConfigFile>("stat_dir = \"/x\"").is_err());
        assert!(Args::try_parse_from([
            "ank-controller",
            "--password",
            "a",
            "--password-file",
            "b"
        ])
        .is_err());
    }
}
