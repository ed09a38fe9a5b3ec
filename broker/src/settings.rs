//! The broker's settings as a user writes them: flags, environment variables and a TOML file.
//!
//! [`BrokerArgs`] is a `clap::Args` that `ank-broker` and the controller's embedded mode both
//! flatten into their parsers; [`BrokerSettings`] is the TOML form (a whole file for
//! `ank-broker --config`, or a `[broker]` table in another program's file). [`BrokerArgs::resolve`]
//! merges them with the precedence flag > environment > file > default (clap applies
//! flag > environment itself). No listening or file access besides reading the TOML file.

use crate::config::{BrokerConfig, Limits, Storage, TlsConfig, DEFAULT_TLS_LISTEN};
use crate::dashboard::{DashboardConfig, DEFAULT_DASHBOARD_DIR};
use crate::BrokerError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The TOML form of the broker's configuration; every key is optional.
///
/// ```toml
/// listen = "127.0.0.1:1883"
/// ws_listen = "127.0.0.1:8080"
/// dashboard_listen = "127.0.0.1:8081"  # the dashboard page (issue 18)
/// dashboard_dir = "/usr/share/ankmq/dashboard"
/// storage_dir = "/var/lib/ank-broker"   # or: in_memory = true
/// passwd_file = "/etc/ank/passwd"
/// acl_file = "/etc/ank/acl"
///
/// [tls]
/// listen = "0.0.0.0:8883"
/// cert_file = "/etc/ank/broker.crt"
/// key_file = "/etc/ank/broker.key"
/// ca_file = "/etc/ank/ca.crt"
/// require_client_cert = true
///
/// [limits]
/// max_connections = 1000
/// max_packet_size = 1048576
/// max_queued_messages_per_client = 100000
/// max_queued_bytes_per_client = 67108864
/// max_inflight_per_client = 256
/// session_expiry_secs = 86400
/// storage_reserve_bytes = 2097152
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSettings {
    /// Plain MQTT listener.
    pub listen: Option<SocketAddr>,
    /// MQTT-over-WebSocket listener.
    pub ws_listen: Option<SocketAddr>,
    /// HTTP listener of the dashboard page.
    pub dashboard_listen: Option<SocketAddr>,
    /// The built dashboard page.
    pub dashboard_dir: Option<PathBuf>,
    /// Directory for retained messages and sessions.
    pub storage_dir: Option<PathBuf>,
    /// Keep everything in memory instead (lost on stop).
    pub in_memory: Option<bool>,
    /// Password file.
    pub passwd_file: Option<PathBuf>,
    /// Mosquitto-format ACL file.
    pub acl_file: Option<PathBuf>,
    /// TLS listener.
    pub tls: Option<TlsSettings>,
    /// Keep the plain listener beside the TLS one (needs `passwd_file`).
    pub plain_listener: Option<bool>,
    /// Resource bounds.
    #[serde(default)]
    pub limits: LimitSettings,
}

/// The `[tls]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// Where the TLS listener binds (default `127.0.0.1:8883`).
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
    /// PEM CA bundle for client certificates.
    pub ca_file: Option<PathBuf>,
    /// Require client certificates.
    #[serde(default)]
    pub require_client_cert: bool,
}

/// The `[limits]` table; see [`Limits`] for the meaning and defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// [`Limits::max_connections`].
    pub max_connections: Option<usize>,
    /// [`Limits::max_packet_size`].
    pub max_packet_size: Option<usize>,
    /// [`Limits::max_queued_messages_per_client`].
    pub max_queued_messages_per_client: Option<usize>,
    /// [`Limits::max_queued_bytes_per_client`].
    pub max_queued_bytes_per_client: Option<usize>,
    /// [`Limits::max_inflight_per_client`].
    pub max_inflight_per_client: Option<u16>,
    /// [`Limits::session_expiry`], in seconds.
    pub session_expiry_secs: Option<u64>,
    /// [`Limits::storage_reserve_bytes`].
    pub storage_reserve_bytes: Option<u64>,
}

impl BrokerSettings {
    /// Reads and parses a TOML file; unknown keys are errors.
    pub fn load(path: &Path) -> Result<Self, BrokerError> {
        let config_error = |reason: String| BrokerError::ConfigFile {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| config_error(e.to_string()))?;
        Self::parse(&text).map_err(|e| config_error(e.to_string()))
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}

/// Broker flags, each with an environment variable. Flatten it into a clap parser.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct BrokerArgs {
    /// Plain MQTT listen address [default: 127.0.0.1:1883]
    #[arg(long, value_name = "ADDR", env = "ANK_BROKER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// MQTT-over-WebSocket listen address (path /mqtt), for dashboards
    #[arg(long, value_name = "ADDR", env = "ANK_BROKER_WS_LISTEN")]
    pub ws_listen: Option<SocketAddr>,
    /// Serve the live dashboard page at http://ADDR/ and turn the WebSocket listener on for it
    /// (on the same address, a free port, unless --ws-listen is given)
    #[arg(long, value_name = "ADDR", env = "ANK_BROKER_DASHBOARD_LISTEN")]
    pub dashboard_listen: Option<SocketAddr>,
    /// The built dashboard page (scripts/dashboard.sh writes dashboard/dist) [default: dashboard/dist of the source tree]
    #[arg(long, value_name = "DIR", env = "ANK_BROKER_DASHBOARD_DIR")]
    pub dashboard_dir: Option<PathBuf>,
    /// Directory for retained messages and sessions; they survive restarts [default: ./ank-broker-storage]
    #[arg(long, value_name = "DIR", env = "ANK_BROKER_STORAGE_DIR")]
    pub storage_dir: Option<PathBuf>,
    /// Keep retained messages and sessions in memory only (lost on stop)
    #[arg(long, env = "ANK_BROKER_IN_MEMORY", conflicts_with = "storage_dir")]
    pub in_memory: bool,
    /// Password file (`ank-broker passwd`); clients without valid credentials are refused
    #[arg(long = "passwd", value_name = "FILE", env = "ANK_BROKER_PASSWD")]
    pub passwd_file: Option<PathBuf>,
    /// Mosquitto-format ACL file (`ank-broker acl`); what it does not grant is refused
    #[arg(long = "acl", value_name = "FILE", env = "ANK_BROKER_ACL")]
    pub acl_file: Option<PathBuf>,
    /// TLS listen address [default: 127.0.0.1:8883 when a certificate is given]
    #[arg(long, value_name = "ADDR", env = "ANK_BROKER_TLS_LISTEN")]
    pub tls_listen: Option<SocketAddr>,
    /// TLS certificate chain (PEM); enables the TLS listener together with --tls-key
    #[arg(
        long,
        value_name = "FILE",
        env = "ANK_BROKER_TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(
        long,
        value_name = "FILE",
        env = "ANK_BROKER_TLS_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// CA bundle (PEM) that client certificates must chain to
    #[arg(long, value_name = "FILE", env = "ANK_BROKER_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Refuse TLS clients without a valid certificate
    #[arg(long, env = "ANK_BROKER_TLS_REQUIRE_CLIENT_CERT")]
    pub tls_require_client_cert: bool,
    /// Keep the plain listener (--listen) open beside the TLS one; it then requires --passwd.
    /// Without it, a broker with TLS has no plain listener
    #[arg(long, env = "ANK_BROKER_PLAIN_LISTENER")]
    pub plain_listener: bool,
    /// Maximum simultaneous connections [default: 1000]
    #[arg(long, value_name = "N", env = "ANK_BROKER_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Maximum MQTT packet size in bytes [default: 1048576]
    #[arg(long, value_name = "BYTES", env = "ANK_BROKER_MAX_PACKET_SIZE")]
    pub max_packet_size: Option<usize>,
}

impl BrokerArgs {
    /// Merges flags/environment (`self`) over a file's settings over the defaults.
    pub fn resolve(&self, file: &BrokerSettings) -> Result<BrokerConfig, BrokerError> {
        let defaults = BrokerConfig::default();
        let storage = if self.in_memory {
            Storage::Memory
        } else if let Some(dir) = &self.storage_dir {
            Storage::Dir(dir.clone())
        } else if file.in_memory == Some(true) {
            if file.storage_dir.is_some() {
                return Err(BrokerError::Config(
                    "the config file sets both `in_memory` and `storage_dir`".into(),
                ));
            }
            Storage::Memory
        } else if let Some(dir) = &file.storage_dir {
            Storage::Dir(dir.clone())
        } else {
            defaults.storage
        };

        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsConfig {
                listen: self
                    .tls_listen
                    .or(file.tls.as_ref().and_then(|t| t.listen))
                    .unwrap_or(DEFAULT_TLS_LISTEN),
                cert_file: cert.clone(),
                key_file: key.clone(),
                ca_file: self
                    .tls_ca
                    .clone()
                    .or(file.tls.as_ref().and_then(|t| t.ca_file.clone())),
                require_client_cert: self.tls_require_client_cert
                    || file.tls.as_ref().is_some_and(|t| t.require_client_cert),
            }),
            _ => file.tls.as_ref().map(|t| TlsConfig {
                listen: self.tls_listen.or(t.listen).unwrap_or(DEFAULT_TLS_LISTEN),
                cert_file: t.cert_file.clone(),
                key_file: t.key_file.clone(),
                ca_file: self.tls_ca.clone().or(t.ca_file.clone()),
                require_client_cert: self.tls_require_client_cert || t.require_client_cert,
            }),
        };

        let l = &file.limits;
        let d = Limits::default();
        let limits = Limits {
            max_connections: self
                .max_connections
                .or(l.max_connections)
                .unwrap_or(d.max_connections),
            max_packet_size: self
                .max_packet_size
                .or(l.max_packet_size)
                .unwrap_or(d.max_packet_size),
            max_queued_messages_per_client: l
                .max_queued_messages_per_client
                .unwrap_or(d.max_queued_messages_per_client),
            max_queued_bytes_per_client: l
                .max_queued_bytes_per_client
                .unwrap_or(d.max_queued_bytes_per_client),
            max_inflight_per_client: l
                .max_inflight_per_client
                .unwrap_or(d.max_inflight_per_client),
            session_expiry: l
                .session_expiry_secs
                .map_or(d.session_expiry, Duration::from_secs),
            storage_reserve_bytes: l.storage_reserve_bytes.unwrap_or(d.storage_reserve_bytes),
        };

        Ok(BrokerConfig {
            listen: self.listen.or(file.listen).unwrap_or(defaults.listen),
            ws_listen: self.ws_listen.or(file.ws_listen),
            dashboard: self
                .dashboard_listen
                .or(file.dashboard_listen)
                .map(|listen| DashboardConfig {
                    listen,
                    dir: self
                        .dashboard_dir
                        .clone()
                        .or(file.dashboard_dir.clone())
                        .unwrap_or_else(|| PathBuf::from(DEFAULT_DASHBOARD_DIR)),
                    topic_prefix: ank_schemas::DEFAULT_PREFIX.to_owned(),
                }),
            tls,
            plain_with_tls: self.plain_listener || file.plain_listener == Some(true),
            storage,
            limits,
            passwd_file: self.passwd_file.clone().or(file.passwd_file.clone()),
            acl_file: self.acl_file.clone().or(file.acl_file.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        broker: BrokerArgs,
    }

    fn args(argv: &[&str]) -> BrokerArgs {
        let mut full = vec!["test"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).unwrap().broker
    }

    #[test]
    fn flag_beats_file_beats_default() {
        let file = BrokerSettings::parse(
            "listen = \"127.0.0.1:1000\"\nacl_file = \"/f/acl\"\n[limits]\nmax_connections = 7\nmax_packet_size = 4096\n",
        )
        .unwrap();
        let config = args(&["--listen", "127.0.0.1:2000", "--max-packet-size", "2048"])
            .resolve(&file)
            .unwrap();
        assert_eq!(config.listen, "127.0.0.1:2000".parse().unwrap());
        assert_eq!(config.acl_file, Some(PathBuf::from("/f/acl")));
        assert_eq!(config.limits.max_connections, 7);
        assert_eq!(config.limits.max_packet_size, 2048);
        assert_eq!(config.limits.max_inflight_per_client, 256);
        assert_eq!(config.passwd_file, None);
        assert_eq!(config.storage, BrokerConfig::default().storage);
    }

    #[test]
    fn storage_comes_from_flag_or_file() {
        let memory_file = BrokerSettings::parse("in_memory = true").unwrap();
        assert_eq!(
            args(&[]).resolve(&memory_file).unwrap().storage,
            Storage::Memory
        );
        let dir = args(&["--storage-dir", "/d"])
            .resolve(&memory_file)
            .unwrap();
        assert_eq!(dir.storage, Storage::Dir("/d".into()));
        let both = BrokerSettings::parse("in_memory = true\nstorage_dir = \"/d\"").unwrap();
        assert!(args(&[]).resolve(&both).is_err());
    }

    #[test]
    fn tls_from_file_with_flag_override() {
        let file = BrokerSettings::parse(
            "[tls]\ncert_file = \"/c\"\nkey_file = \"/k\"\nlisten = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let tls = args(&["--tls-listen", "127.0.0.1:9001"])
            .resolve(&file)
            .unwrap()
            .tls
            .unwrap();
        assert_eq!(tls.listen, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(tls.cert_file, PathBuf::from("/c"));
        assert!(!tls.require_client_cert);
    }

    #[test]
    fn unknown_keys_are_refused() {
        for text in [
            "listn = \"127.0.0.1:1\"",
            "[limits]\nmax_conections = 1",
            "[tls]\ncert_file=\"/c\"\nkey_file=\"/k\"\nca=\"/x\"",
        ] {
            assert!(BrokerSettings::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn flags_are_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
