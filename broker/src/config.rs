//! What a broker is started with: listeners, storage, limits and auth files.
//!
//! This is the resolved, typed form used by [`crate::start`]; `settings.rs` builds it from flags,
//! environment and a TOML file. The defaults are chosen for a vehicle computer: loopback only,
//! 1 MiB packets, bounded per-client queues, no `$SYS` chatter.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::dashboard::DashboardConfig;

/// Everything needed to start a broker.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// The plain MQTT listener. Port 0 picks a free port; [`crate::BrokerHandle::mqtt_addr`]
    /// reports it.
    pub listen: SocketAddr,
    /// An optional MQTT-over-WebSocket listener (path `/mqtt`), for dashboards.
    pub ws_listen: Option<SocketAddr>,
    /// An optional HTTP server for the built dashboard (issue 18). It turns the WebSocket
    /// listener on (same address, a free port) when `ws_listen` is not set.
    pub dashboard: Option<DashboardConfig>,
    /// An optional MQTT-over-TLS listener. With it, the plain `listen` listener is off unless
    /// `plain_with_tls` asks for it (issue 13): mqtt5 then listens on a loopback port only the
    /// TLS front and the in-process controller may use.
    pub tls: Option<TlsConfig>,
    /// Keep the plain listener beside TLS (`--plain-listener`); it then requires a password
    /// file.
    pub plain_with_tls: bool,
    /// Where retained messages and sessions live.
    pub storage: Storage,
    /// Resource bounds.
    pub limits: Limits,
    /// `username:argon2-hash` lines; when set, clients without valid credentials are refused.
    pub passwd_file: Option<PathBuf>,
    /// A Mosquitto-format `acl_file` (e.g. from `ank-broker acl`); when set, anything it does not
    /// grant is refused.
    pub acl_file: Option<PathBuf>,
}

/// Where the broker keeps retained messages and persistent sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// In memory: lost when the broker stops. For tests.
    Memory,
    /// In this directory, which survives restarts. One broker per directory (mqtt5 locks it).
    Dir(PathBuf),
}

/// The TLS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Where the TLS listener binds.
    pub listen: SocketAddr,
    /// PEM certificate chain of the broker.
    pub cert_file: PathBuf,
    /// PEM private key of the broker.
    pub key_file: PathBuf,
    /// PEM CA bundle to verify client certificates against.
    pub ca_file: Option<PathBuf>,
    /// Refuse clients without a certificate signed by `ca_file`.
    pub require_client_cert: bool,
}

/// Resource bounds. Each protects the vehicle from one misbehaving client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Simultaneous connections; further clients are refused until one leaves.
    pub max_connections: usize,
    /// The largest MQTT packet accepted or sent; larger publishes close the connection.
    pub max_packet_size: usize,
    /// Messages queued for one offline persistent session (or a slow one) before the oldest go.
    pub max_queued_messages_per_client: usize,
    /// Bytes queued for one client before the oldest messages go.
    pub max_queued_bytes_per_client: usize,
    /// QoS 1/2 messages sent to one client and not yet acknowledged (an MQTT 5 client's
    /// Receive Maximum lowers it for that client). 256 lets a dashboard's retained burst of
    /// 1,202 messages flow with 5 waits for acknowledgements instead of 19 (docs/limits.md,
    /// "Dashboard"); what it costs is the messages held per client until acknowledged.
    pub max_inflight_per_client: u16,
    /// How long a disconnected persistent session (`clean_session = false`) is kept.
    pub session_expiry: Duration,
    /// Bytes held in reserve in the storage directory and released when its file system is
    /// full, so that clients can still connect (mqtt5 writes every session to disk); 0 for none.
    /// Ignored with in-memory storage.
    pub storage_reserve_bytes: u64,
}

/// Default plain MQTT address: loopback only, the standard port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:1883";

/// Default TLS address when only a certificate is given: loopback only, the standard port.
pub const DEFAULT_TLS_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    8883,
));

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1_000,
            max_packet_size: 1024 * 1024,
            max_queued_messages_per_client: 100_000,
            max_queued_bytes_per_client: 64 * 1024 * 1024,
            max_inflight_per_client: 256,
            session_expiry: Duration::from_secs(24 * 3600),
            // mqtt5 compacts its session log once it passes 1 MiB (and twice the live
            // sessions); the reserve holds that log and its compacted copy.
            storage_reserve_bytes: 2 * 1024 * 1024,
        }
    }
}

impl Default for BrokerConfig {
    /// `127.0.0.1:1883`, no WebSocket or TLS, storage in `./ank-broker-storage`, default
    /// [`Limits`], no authentication.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 1883)),
            ws_listen: None,
            dashboard: None,
            tls: None,
            plain_with_tls: false,
            storage: Storage::Dir(PathBuf::from("ank-broker-storage")),
            limits: Limits::default(),
            passwd_file: None,
            acl_file: None,
        }
    }
}

impl BrokerConfig {
    /// `127.0.0.1:0` with in-memory storage: what tests start.
    pub fn for_tests() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            storage: Storage::Memory,
            ..Self::default()
        }
    }
}
