//! Starting and stopping the mqtt5 broker in-process.
//!
//! [`start`] translates our [`BrokerConfig`] into mqtt5's, binds every listener before it
//! returns (so a taken port is an error here, not a log line later), and runs the broker on a
//! task it owns. [`BrokerHandle::stop`] returns only after that task has ended, which is when
//! mqtt5 has dropped its listeners and storage lock: the port and the storage directory can be
//! reused at once. Only this file, `authorizer.rs` and `passwd.rs` (for the hash format) touch
//! mqtt5's types.

use crate::authorizer::Authorizer;
use crate::config::{BrokerConfig, Storage};
use crate::dashboard::{self, DashboardServer, PageSettings};
use crate::passwd::PasswordFile;
use crate::storage_guard::StorageGuard;
use crate::tls_front::{self, TlsFront, TlsPeers};
use crate::{AclRules, BrokerError};
use mqtt5::broker::config::{StorageBackend, StorageConfig};
use mqtt5::broker::{BrokerShutdownHandle, MqttBroker};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// How long [`start`] waits for mqtt5 to report that it accepts connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running broker. Dropping it without [`BrokerHandle::stop`] also stops the broker, but
/// without waiting for the port to be released.
#[derive(Debug)]
pub struct BrokerHandle {
    mqtt_addr: SocketAddr,
    plain_open: bool,
    ws_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    internal_login: (String, String),
    /// The TLS listener (tls_front.rs); dropped, it stops. Before `shutdown`: declared first.
    _tls_front: Option<TlsFront>,
    dashboard: Option<DashboardServer>,
    shutdown: ShutdownOnDrop,
    task: Option<JoinHandle<mqtt5::Result<()>>>,
    /// Watches the storage's free space; `None` in memory. Dropped (ended) with the handle.
    _storage_guard: Option<StorageGuard>,
}

/// Stops the broker when the handle is dropped (like mini-redis' `DbDropGuard`).
struct ShutdownOnDrop(BrokerShutdownHandle);

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

impl std::fmt::Debug for ShutdownOnDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShutdownOnDrop")
    }
}

impl BrokerHandle {
    /// The bound address of mqtt5's own listener (the real port when the config asked for port
    /// 0): the plain listener, or, with TLS and no `plain_with_tls`, a loopback port that
    /// refuses every client but the in-process one ([`BrokerHandle::internal_login`]).
    pub fn mqtt_addr(&self) -> SocketAddr {
        self.mqtt_addr
    }

    /// The plain MQTT listener, when it is open to clients.
    pub fn plain_addr(&self) -> Option<SocketAddr> {
        self.plain_open.then_some(self.mqtt_addr)
    }

    /// The in-process login (user `controller`, a random password made at start and never
    /// written anywhere) that [`BrokerHandle::mqtt_addr`] accepts even when the plain listener
    /// is off: how the embedded controller reaches its own broker.
    pub fn internal_login(&self) -> (&str, &str) {
        (&self.internal_login.0, &self.internal_login.1)
    }

    /// The bound WebSocket address, when a WebSocket listener was configured.
    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.ws_addr
    }

    /// The bound address of the dashboard's HTTP server, when one was configured.
    pub fn dashboard_addr(&self) -> Option<SocketAddr> {
        self.dashboard.as_ref().map(DashboardServer::addr)
    }

    /// The bound TLS address, when a TLS listener was configured.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Stops the broker: closes every client connection, flushes storage, and returns when the
    /// listeners are closed and the port is free.
    pub async fn stop(mut self) {
        if let Some(dashboard) = self.dashboard.take() {
            dashboard.stop().await;
        }
        self.shutdown.0.shutdown();
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!("the broker stopped with an error: {e}"),
                Err(e) => warn!("the broker task failed: {e}"),
            }
        }
        info!(addr = %self.mqtt_addr, "broker stopped");
    }
}

/// Starts a broker; returns once every listener is bound and it accepts connections.
pub async fn start(mut config: BrokerConfig) -> Result<BrokerHandle, BrokerError> {
    if let (Some(dashboard), None) = (&config.dashboard, config.ws_listen) {
        // The page needs MQTT over WebSocket; beside the page, on a free port.
        config.ws_listen = Some(SocketAddr::new(dashboard.listen.ip(), 0));
    }
    let passwords = config
        .passwd_file
        .as_deref()
        .map(PasswordFile::load)
        .transpose()?;
    let acl = config.acl_file.as_deref().map(load_acl).transpose()?;
    if acl.is_some() && passwords.is_none() {
        warn!("an ACL without a password file trusts whatever username a client claims");
    }
    let storage_guard = match &config.storage {
        Storage::Dir(dir) => {
            private_dir(dir).map_err(|e| BrokerError::Storage {
                path: dir.clone(),
                reason: e.to_string(),
            })?;
            // Before mqtt5 opens the directory: the reserve must be on disk before a full disk
            // can refuse the first session write.
            Some(StorageGuard::start(
                dir.clone(),
                config.limits.storage_reserve_bytes,
            ))
        }
        Storage::Memory => None,
    };

    if config.tls.is_some() && config.plain_with_tls && passwords.is_none() {
        return Err(BrokerError::Config(
            "a plain listener beside TLS (--plain-listener) requires authentication: give \
             --passwd"
                .into(),
        ));
    }
    // Off when TLS is configured unless asked for: a client without credentials must not get
    // around mutual TLS on the plain port (issue 13).
    let plain_open = config.tls.is_none() || config.plain_with_tls;
    let tls_peers = config
        .tls
        .as_ref()
        .map(|_| Arc::new(TlsPeers::new(config.limits.max_connections)));
    let internal_login = (
        crate::roles::CONTROLLER_USER.to_owned(),
        format!("{:032x}", rand::random::<u128>()),
    );
    let authorizer = Arc::new(
        Authorizer::new(passwords, acl, config.limits.max_connections)
            .with_space(storage_guard.as_ref().map(StorageGuard::space))
            .with_listeners(plain_open, tls_peers.clone(), internal_login.clone()),
    );

    let mqtt_config = to_mqtt5(&config)?.with_event_handler(authorizer.clone());
    let broker = MqttBroker::with_config(mqtt_config)
        .await
        .map_err(|e| classify(e, &config))?;
    info!(
        passwords = ?config.passwd_file,
        acl = ?config.acl_file,
        "authentication: {}; authorization: {}",
        if config.passwd_file.is_some() { "password file (anonymous refused)" } else { "none (anonymous allowed)" },
        if config.acl_file.is_some() { "ACL file" } else { "none (everything allowed)" },
    );
    let mut broker = broker.with_auth_provider(authorizer);

    let mqtt_addr = broker
        .local_addr()
        .ok_or_else(|| bind_error("mqtt", config.listen))?;
    let ws_addr = match config.ws_listen {
        Some(addr) => Some(ws_local_addr(&broker).ok_or_else(|| bind_error("websocket", addr))?),
        None => None,
    };
    let tls_front = match (&config.tls, &tls_peers) {
        (Some(tls), Some(peers)) => {
            let inner = if mqtt_addr.ip().is_unspecified() {
                SocketAddr::from(([127, 0, 0, 1], mqtt_addr.port()))
            } else {
                mqtt_addr
            };
            Some(tls_front::start(tls, inner, peers.clone()).await?)
        }
        _ => None,
    };
    let tls_addr = tls_front.as_ref().map(TlsFront::addr);

    let dashboard = match (&config.dashboard, ws_addr) {
        (Some(dashboard), Some(ws)) => Some(
            dashboard::serve(
                dashboard,
                PageSettings {
                    ws_port: ws.port(),
                    ws_path: "/mqtt",
                    topic_prefix: dashboard.topic_prefix.clone(),
                    login: config.passwd_file.is_some(),
                },
            )
            .await?,
        ),
        _ => None,
    };

    let shutdown = ShutdownOnDrop(broker.shutdown_handle());
    let mut ready = broker.ready_receiver();
    let mut task = tokio::spawn(async move { broker.run().await });
    tokio::select! {
        became_ready = tokio::time::timeout(READY_TIMEOUT, ready.wait_for(|r| *r)) => {
            if !matches!(became_ready, Ok(Ok(_))) {
                return Err(BrokerError::Config("the broker did not become ready".into()));
            }
        }
        ended = &mut task => {
            return Err(match ended {
                Ok(Err(e)) => classify(e, &config),
                Ok(Ok(())) => BrokerError::Config("the broker stopped while starting".into()),
                Err(e) => BrokerError::Config(format!("the broker task failed: {e}")),
            });
        }
    }
    info!(
        "{}",
        listening_line(&config, mqtt_addr, plain_open, ws_addr, tls_addr)
    );
    Ok(BrokerHandle {
        mqtt_addr,
        plain_open,
        ws_addr,
        tls_addr,
        internal_login,
        _tls_front: tls_front,
        dashboard,
        shutdown,
        task: Some(task),
        _storage_guard: storage_guard,
    })
}

/// The one start-up line saying what listens where (issue 13).
fn listening_line(
    config: &BrokerConfig,
    mqtt_addr: SocketAddr,
    plain_open: bool,
    ws_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
) -> String {
    let plain = if plain_open {
        format!("plain MQTT on {mqtt_addr}")
    } else {
        "plain MQTT off (TLS is configured; --plain-listener keeps it)".to_owned()
    };
    let tls = match (tls_addr, &config.tls) {
        (Some(addr), Some(t)) if t.require_client_cert => {
            format!(", MQTT over TLS on {addr} (client certificates required; identity from the certificate)")
        }
        (Some(addr), _) => format!(", MQTT over TLS on {addr} (client certificates optional)"),
        _ => String::new(),
    };
    let ws = ws_addr.map_or(String::new(), |a| format!(", WebSocket on {a}"));
    format!("broker listening: {plain}{tls}{ws}")
}

fn load_acl(path: &Path) -> Result<AclRules, BrokerError> {
    let auth_file = |reason: String| BrokerError::AuthFile {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| auth_file(e.to_string()))?;
    AclRules::parse(&text).map_err(|e| auth_file(e.to_string()))
}

/// Our settings in mqtt5's terms. Everything we do not expose is set deliberately here.
fn to_mqtt5(config: &BrokerConfig) -> Result<mqtt5::broker::BrokerConfig, BrokerError> {
    let limits = &config.limits;
    if limits.max_packet_size < 1024 {
        return Err(BrokerError::Config(
            "max_packet_size must be at least 1024 bytes".into(),
        ));
    }
    if limits.max_connections == 0 {
        return Err(BrokerError::Config(
            "max_connections must be at least 1".into(),
        ));
    }
    let storage = match &config.storage {
        Storage::Memory => StorageConfig::new().with_backend(StorageBackend::Memory),
        Storage::Dir(dir) => StorageConfig::new()
            .with_backend(StorageBackend::File)
            .with_base_dir(dir.clone()),
    }
    .with_max_queued_messages_per_client(limits.max_queued_messages_per_client)
    .with_max_queued_bytes_per_client(limits.max_queued_bytes_per_client);

    // With TLS and the plain listener off, mqtt5 listens on a loopback port for the TLS front
    // and the in-process controller only (the authorizer refuses everyone else there).
    let bind = if config.tls.is_some() && !config.plain_with_tls {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        config.listen
    };
    let mut mqtt = mqtt5::broker::BrokerConfig::new()
        .with_bind_address(bind)
        .with_max_clients(limits.max_connections)
        .with_max_packet_size(limits.max_packet_size)
        .with_max_outbound_inflight(limits.max_inflight_per_client)
        .with_session_expiry(limits.session_expiry)
        .with_storage(storage)
        // $SYS statistics every 10 s are work nobody on a vehicle reads.
        .with_sys_topics_enabled(false);
    // mqtt5 builds a default provider (with a per-IP login lockout) before we replace it with
    // ours; keep it from announcing a lockout that does not apply.
    mqtt.auth_config.rate_limit.enabled = false;
    // A retained message may be as large as a packet, no larger.
    mqtt.max_retained_message_size = limits.max_packet_size;

    // TLS is terminated by tls_front.rs, not by mqtt5: mqtt5 would not tell us the client's
    // certificate.
    if let Some(addr) = config.ws_listen {
        mqtt = with_websocket(mqtt, addr)?;
    }
    Ok(mqtt)
}

#[cfg(feature = "websocket")]
fn with_websocket(
    mqtt: mqtt5::broker::BrokerConfig,
    addr: SocketAddr,
) -> Result<mqtt5::broker::BrokerConfig, BrokerError> {
    let ws = mqtt5::broker::config::WebSocketConfig::new()
        .with_bind_address(addr)
        .with_path("/mqtt");
    Ok(mqtt.with_websocket(ws))
}

#[cfg(not(feature = "websocket"))]
fn with_websocket(
    _mqtt: mqtt5::broker::BrokerConfig,
    _addr: SocketAddr,
) -> Result<mqtt5::broker::BrokerConfig, BrokerError> {
    Err(BrokerError::Config(
        "this ank-broker was built without the `websocket` feature".into(),
    ))
}

#[cfg(feature = "websocket")]
fn ws_local_addr(broker: &MqttBroker) -> Option<SocketAddr> {
    broker.ws_local_addr()
}

#[cfg(not(feature = "websocket"))]
fn ws_local_addr(_broker: &MqttBroker) -> Option<SocketAddr> {
    None
}

fn bind_error(listener: &'static str, addr: SocketAddr) -> BrokerError {
    BrokerError::Bind {
        listener,
        addr,
        reason: "the listener could not be bound (see the log)".into(),
    }
}

/// mqtt5 reports start-up failures as strings; recover the causes a caller can act on.
fn classify(error: mqtt5::MqttError, config: &BrokerConfig) -> BrokerError {
    let text = error.to_string();
    if text.contains("Failed to bind to any TCP address") {
        // mqtt5 lists each address as `  - ADDR: ERROR (HINT)`; keep the error.
        let needle = format!("{}: ", config.listen);
        let reason = text
            .lines()
            .find_map(|l| l.split_once(&needle).map(|(_, r)| r.trim().to_owned()))
            .unwrap_or(text);
        return BrokerError::Bind {
            listener: "mqtt",
            addr: config.listen,
            reason,
        };
    }
    let storage_error = text.to_lowercase().contains("storage");
    if let (Storage::Dir(dir), true) = (&config.storage, storage_error) {
        return BrokerError::Storage {
            path: dir.clone(),
            reason: text,
        };
    }
    BrokerError::Mqtt(error)
}

/// Creates the storage directory 0700 (and makes an existing one 0700): retained messages hold
/// the desired state, config secrets included (issue 13).
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}
