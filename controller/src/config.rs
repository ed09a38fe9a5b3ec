//! The controller's configuration: flags, `ANK_CONTROLLER_*` environment variables, a TOML file
//! and defaults, with the precedence flag > environment > file > default (clap applies
//! flag > environment; [`Args::resolve`] puts the file under both).
//!
//! The embedded broker's own flags (`--listen`, `--passwd`, `--acl`, …, env `ANK_BROKER_*`) are
//! the broker crate's [`BrokerArgs`], flattened in, and its TOML form is the `[embedded_broker]`
//! table; `ank-broker` and the controller thus share one spelling of every broker setting.

use std::path::{Path, PathBuf};

use ank_broker::{BrokerArgs, BrokerConfig, BrokerSettings, Storage};
use ank_bus::{ConnectArgs, ConnectFile, ConnectOptions, ConnectSettings, Pem, Program, TlsFiles};
use anyhow::{bail, Context};
use serde::Deserialize;
use tracing::warn;

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
    )),
    mut_arg("broker", |a| a.help(
        "`embedded` to run the built-in broker (see --listen), or the URL of an external one: \
         mqtt://host[:port] or mqtts://host[:port] (with --ca-pem) [default: embedded]"
    ).value_name("embedded|URL")),
    mut_arg("ca_pem", |a| a.help(
        "CA certificate (PEM): of the external broker's certificate for mqtts://; with the \
         embedded broker and --crt-pem/--key-pem, the CA of client certificates (Ankaios' \
         mutual TLS, see docs/security.md)"
    )),
    mut_arg("crt_pem", |a| a.help(
        "Certificate (PEM): the controller's client certificate for an external broker; with \
         the embedded broker, its TLS listener's certificate unless --tls-cert is given"
    )),
    mut_args(Program::Controller.with_env()),
)]
pub struct Args {
    /// TOML configuration file: ours (keys are the long flag names with `_`, e.g. `state_dir`,
    /// plus an `[embedded_broker]` table) or Ankaios' ank-server.conf (docs/compatibility.md).
    /// Flags and environment variables override it [default: /etc/ankaios/ank-server.conf, if
    /// it exists]
    #[arg(
        short = 'x',
        long,
        visible_alias = "server-config",
        value_name = "FILE",
        env = "ANK_CONTROLLER_CONFIG"
    )]
    pub config: Option<PathBuf>,

    /// Manifest (Ankaios YAML, apiVersion v1 or v0.1) that seeds an empty state directory. When a
    /// persisted state exists it wins and this file is only validated; see --reset-state
    #[arg(
        short = 'm',
        long,
        visible_alias = "startup-config",
        short_alias = 'c',
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

    /// How to reach the broker (shared with ank-agent and ank).
    #[command(flatten)]
    pub connect: ConnectArgs,

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

/// Ankaios' default place of ank-server.conf, read when it exists and no --config is given.
pub const ANKAIOS_CONFIG: &str = "/etc/ankaios/ank-server.conf";

/// The TOML configuration file without its connection keys (those are the bus's
/// [`ConnectFile`]); every key is optional and unknown keys are refused.
///
/// ```toml
/// startup_manifest = "/etc/ankmq/state.yaml"
/// state_dir = "/var/lib/ankmq/controller"
/// broker = "embedded"            # or "mqtt://broker.local:1883"
/// topic_prefix = "ank/v1"
/// username = "controller"
/// password_file = "/etc/ankmq/controller.password"
/// ca_pem = "/etc/ankmq/ca.pem"
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
    /// `--max-message-size`.
    pub max_message_size: Option<usize>,
    /// The embedded broker's settings.
    #[serde(default)]
    pub embedded_broker: BrokerSettings,
    /// The connection keys, taken out before the rest is parsed.
    #[serde(skip)]
    pub connect: ConnectFile,
}

impl ConfigFile {
    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("config file {}", path.display()))
    }

    /// Parses the text of our config file or of Ankaios' ank-server.conf.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut table: toml::Table = toml::from_str(text)?;
        let connect = ConnectFile::take(&mut table, Program::Controller)?;
        if table.remove("mutating_hooks").is_some() {
            // Ankaios' beta feature; nothing here runs hooks.
            warn!("config key `mutating_hooks` ignored: ankmq has no mutating hooks");
        }
        let mut file: ConfigFile = toml::Value::Table(table).try_into()?;
        file.connect = connect;
        Ok(file)
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
    /// How to reach the broker: topics, credentials, TLS files (for an external `mqtts://`
    /// broker; with the embedded one they were turned into its TLS listener).
    pub connect: ConnectSettings,
    /// The largest MQTT packet the broker accepts; every retained message a request implies
    /// must fit (issue 14). With the embedded broker, the smaller of `--max-message-size` and its
    /// packet limit.
    pub max_message_size: usize,
}

impl Args {
    /// Reads the `--config` file (or Ankaios' default one, if it exists), and resolves with the
    /// process environment.
    pub fn load(&self) -> anyhow::Result<Config> {
        let default = Path::new(ANKAIOS_CONFIG);
        let file = match &self.config {
            Some(path) => ConfigFile::load(path)?,
            None if default.exists() => ConfigFile::load(default)?,
            None => ConfigFile::default(),
        };
        self.resolve_with(|name| std::env::var(name).ok(), &file)
    }

    /// [`Args::resolve_with`] without environment aliases: what tests use.
    pub fn resolve(&self, file: &ConfigFile) -> anyhow::Result<Config> {
        self.resolve_with(|_| None, file)
    }

    /// Merges flags (`self`) over the environment (clap's, and `env` for the aliases of the
    /// connection settings) over `file` over the defaults.
    pub fn resolve_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
        file: &ConfigFile,
    ) -> anyhow::Result<Config> {
        let mut connect = self
            .connect
            .resolve(Program::Controller, env, &file.connect)?;
        let state_dir = self
            .state_dir
            .clone()
            .or_else(|| file.state_dir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
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
        let broker = match connect.broker.as_deref() {
            None | Some("embedded") => {
                let mut config = self
                    .embedded
                    .resolve(&file.embedded_broker)
                    .context("embedded broker settings")?;
                if let Some(tls) = connect.tls.take() {
                    let listen = self
                        .embedded
                        .tls_listen
                        .unwrap_or(ank_broker::DEFAULT_TLS_LISTEN);
                    embedded_tls(&mut config, tls, listen)?;
                }
                if let Some(dashboard) = config.dashboard.as_mut() {
                    // The page subscribes under the controller's prefix (issue 18).
                    dashboard.topic_prefix = connect.topics.prefix().to_owned();
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
                refuse_embedded_only(&self.embedded, url)?;
                BrokerChoice::External(url.to_owned())
            }
            Some(other) => {
                bail!("--broker `{other}`: use `embedded`, mqtt://host:port or mqtts://host:port")
            }
        };
        Ok(Config {
            startup_manifest: self
                .startup_manifest
                .clone()
                .or_else(|| file.startup_manifest.clone()),
            state_dir,
            reset_state: self.reset_state,
            broker,
            connect,
            max_message_size,
        })
    }
}

/// Refuses the embedded broker's flags beside an external broker (`url`): they would be
/// ignored, and a `--dashboard-listen` that serves nothing looks like a broken page (issue 16).
/// The dashboard of an external broker is served by `ank-broker` and pointed at the broker's
/// WebSocket with `?broker=` (docs/dashboard.md).
fn refuse_embedded_only(embedded: &BrokerArgs, url: &str) -> anyhow::Result<()> {
    if embedded.dashboard_listen.is_some() || embedded.dashboard_dir.is_some() {
        bail!(
            "--dashboard-listen serves the page of the embedded broker, but --broker is {url}: \
             serve it with `ank-broker --in-memory --listen 127.0.0.1:0 --dashboard-listen ADDR` \
             and open http://ADDR/?broker=ws://<the broker's WebSocket listener>/mqtt \
             (docs/dashboard.md), or drop --broker to use the embedded broker"
        );
    }
    let mut given = Vec::new();
    let e = embedded;
    for (flag, set) in [
        ("--listen", e.listen.is_some()),
        ("--ws-listen", e.ws_listen.is_some()),
        ("--storage-dir", e.storage_dir.is_some()),
        ("--in-memory", e.in_memory),
        ("--passwd", e.passwd_file.is_some()),
        ("--acl", e.acl_file.is_some()),
        ("--tls-listen", e.tls_listen.is_some()),
        ("--tls-cert", e.tls_cert.is_some()),
        ("--tls-ca", e.tls_ca.is_some()),
        ("--tls-require-client-cert", e.tls_require_client_cert),
        ("--plain-listener", e.plain_listener),
        ("--max-connections", e.max_connections.is_some()),
        ("--max-packet-size", e.max_packet_size.is_some()),
    ] {
        if set {
            given.push(flag);
        }
    }
    if !given.is_empty() {
        bail!(
            "{} set the embedded broker, but --broker is {url}: configure that broker instead, \
             or drop --broker to use the embedded one",
            given.join(", ")
        );
    }
    Ok(())
}

impl Config {
    /// The session options for `url` (the external broker, or the embedded one's address),
    /// reading the password file if one is configured.
    pub fn connect_options(&self, url: &str, client_id: &str) -> anyhow::Result<ConnectOptions> {
        let mut opts = self
            .connect
            .connect_options(url, client_id)
            .with_context(|| format!("broker `{url}`"))?;
        opts.publish_limit = Some(self.max_message_size);
        Ok(opts)
    }
}

/// Ankaios' ank-server PEMs with the embedded broker: its certificate and key become the TLS
/// listener's (unless --tls-cert gives one) and its CA the CA client certificates must chain to,
/// with client certificates required: Ankaios' mutual TLS.
fn embedded_tls(
    config: &mut BrokerConfig,
    tls: TlsFiles,
    listen: std::net::SocketAddr,
) -> anyhow::Result<()> {
    if config.tls.is_some() {
        bail!(
            "--ca-pem/--crt-pem/--key-pem with the embedded broker configure its TLS listener, \
             which --tls-cert already does: give one of them (or an external --broker)"
        );
    }
    let file = |pem: Option<Pem>, what: &str| match pem {
        Some(Pem::File(path)) => Ok(path),
        Some(Pem::Inline(_)) => {
            bail!("{what}_content: the embedded broker reads its TLS files from disk; use {what}")
        }
        None => bail!(
            "--ca-pem with the embedded broker needs --crt-pem and --key-pem (its certificate)"
        ),
    };
    let ca = file(Some(tls.ca), "ca_pem")?;
    config.tls = Some(ank_broker::TlsConfig {
        listen,
        cert_file: file(tls.cert, "crt_pem")?,
        key_file: file(tls.key, "key_pem")?,
        ca_file: Some(ca),
        require_client_cert: true,
    });
    Ok(())
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
        ConfigFile::parse(text).expect("config parses")
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
        assert!(a.connect.insecure);
        assert_eq!(a.connect.ca_pem.as_deref(), Some(Path::new("/ca")));
        assert_eq!(a.connect.crt_pem.as_deref(), Some(Path::new("/crt")));
        assert_eq!(a.connect.key_pem.as_deref(), Some(Path::new("/key")));
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

    /// Ankaios' ank-server.conf as its docs write it (reference §6.1).
    const ANKAIOS_SERVER_CONF: &str = r#"
version = 'v1'
startup_manifest = '/etc/ankaios/state.yaml'
address = '127.0.0.1:25551'
insecure = true

[[mutating_hooks]]
name = 'defaults'
prio = 1
path = '/usr/libexec/ankaios/hooks'
"#;

    #[test]
    fn issue_16_ankaios_server_conf_is_accepted_as_it_comes() {
        let f = file(ANKAIOS_SERVER_CONF);
        assert!(f.connect.warnings[0].contains("address"), "{f:?}");
        let c = args(&[]).resolve(&f).expect("valid");
        assert_eq!(
            c.startup_manifest.as_deref(),
            Some(Path::new("/etc/ankaios/state.yaml"))
        );
        assert!(c.connect.insecure);
        assert!(matches!(c.broker, BrokerChoice::Embedded(_)));

        // Its PEMs are the server's: with the embedded broker, its mutual-TLS listener.
        let f = file(
            "version = 'v1'\nca_pem = '/certs/ca.pem'\ncrt_pem = '/certs/server.pem'\n\
             key_pem = '/certs/server-key.pem'\n",
        );
        let c = args(&[]).resolve(&f).expect("valid");
        assert_eq!(
            c.connect.tls, None,
            "not used for the controller's own session"
        );
        let BrokerChoice::Embedded(broker) = c.broker else {
            panic!("embedded");
        };
        let tls = broker.tls.expect("a TLS listener");
        assert_eq!(tls.cert_file, PathBuf::from("/certs/server.pem"));
        assert_eq!(tls.ca_file, Some(PathBuf::from("/certs/ca.pem")));
        assert!(tls.require_client_cert);
    }

    #[test]
    fn issue_16_an_unknown_key_is_an_error_naming_the_key_and_the_file() {
        let path = std::env::temp_dir().join(format!("ank-server-{}.conf", std::process::id()));
        std::fs::write(&path, "version = 'v1'\nadress = '127.0.0.1:25551'\n").expect("write");
        let error = format!("{:#}", ConfigFile::load(&path).expect_err("refused"));
        let _ = std::fs::remove_file(&path);
        assert!(error.contains("adress"), "{error}");
        assert!(error.contains(&path.display().to_string()), "{error}");
    }

    #[test]
    fn the_flags_are_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = args(&[]).resolve(&ConfigFile::default()).unwrap();
        assert_eq!(c.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert_eq!(c.connect.topics.prefix(), "ank/v1");
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
        assert_eq!(c.connect.topics.prefix(), "file/p");
        assert_eq!(c.broker, BrokerChoice::External("mqtt://file:1".into()));
        assert_eq!(c.connect.username.as_deref(), Some("u"));
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
    fn issue_16_embedded_broker_flags_beside_an_external_broker_are_errors_naming_them() {
        // (flags, words the error must name)
        let cases: [(&[&str], &[&str]); 3] = [
            (
                &["--dashboard-listen", "127.0.0.1:8080"],
                &[
                    "--dashboard-listen",
                    "mqtt://h:1",
                    "ank-broker",
                    "?broker=ws://",
                ],
            ),
            (&["--dashboard-dir", "/d"], &["--dashboard-listen"]),
            (
                &["--listen", "127.0.0.1:7", "--in-memory"],
                &["--listen, --in-memory", "mqtt://h:1"],
            ),
        ];
        for (flags, words) in cases {
            let mut all = vec!["--broker", "mqtt://h:1"];
            all.extend_from_slice(flags);
            let error = format!("{:#}", args(&all).resolve(&file("")).expect_err("refused"));
            for word in words {
                assert!(error.contains(word), "{flags:?}: {error}");
            }
        }
        // The same flags with the embedded broker are fine.
        assert!(args(&["--dashboard-listen", "127.0.0.1:8080"])
            .resolve(&file(""))
            .is_ok());
    }

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
        assert!(ConfigFile::parse("stat_dir = \"/x\"").is_err());
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
