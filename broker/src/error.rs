//! Why the broker could not start, or why an auth file was refused.
//!
//! One variant per cause a caller can act on (a taken port is not a bad ACL file). The mqtt5
//! crate reports most start-up failures as a `Configuration` string; we keep it as the source.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why [`crate::start`] or an auth-file operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The MQTT (or WebSocket, or TLS) listener could not bind its address, e.g. the port is taken.
    #[error("cannot listen on {addr} ({listener}): {reason}")]
    Bind {
        /// Which listener: `mqtt`, `websocket` or `tls`.
        listener: &'static str,
        /// The address that was asked for.
        addr: SocketAddr,
        /// What the operating system or mqtt5 said.
        reason: String,
    },
    /// A configuration file cannot be read or parsed.
    #[error("config file {path}: {reason}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What went wrong (for TOML, with line and column).
        reason: String,
    },
    /// The configuration is inconsistent (a limit out of range, a feature not compiled in).
    #[error("invalid broker configuration: {0}")]
    Config(String),
    /// The storage directory cannot be created or is already used by another broker.
    #[error("cannot use storage directory {path}: {reason}")]
    Storage {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A password or ACL file cannot be read, written or parsed.
    #[error("{path}: {reason}")]
    AuthFile {
        /// The file.
        path: PathBuf,
        /// What went wrong, with the line number when there is one.
        reason: String,
    },
    /// A TLS file (certificate, key, CA) of the TLS listener cannot be used.
    #[error("TLS file {}: {reason}", path.display())]
    Tls {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A private key file may be read by group or others (file, mode and fix in the message).
    #[error(transparent)]
    KeyMode(#[from] ank_schemas::KeyModeError),
    /// The topic prefix given for generated ACLs is not a valid prefix.
    #[error(transparent)]
    Prefix(#[from] ank_schemas::PrefixError),
    /// mqtt5 refused to start for a reason not covered above.
    #[error("the MQTT broker failed to start")]
    Mqtt(#[source] mqtt5::MqttError),
}
