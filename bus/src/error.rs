//! The one error type of the bus: one variant per cause a caller can act on.
//!
//! rumqttc's own error types stay inside this crate; callers see them only as a `#[source]`.

use std::path::PathBuf;
use std::time::Duration;

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker URL cannot be used (wrong scheme, no host, a path, a query...).
    #[error("invalid broker URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The client id is not `<identity>[.<suffix>]` of `[A-Za-z0-9_-]` (at most 127
    /// characters), so it cannot name a topic.
    #[error("invalid client id `{0}`: use <identity> or <identity>.<suffix>, each of [A-Za-z0-9_-], at most 127 characters")]
    InvalidClientId(String),
    /// No connection to the broker could be made within the connect timeout.
    #[error("the MQTT broker at {url} is unreachable")]
    Unreachable {
        /// The broker that was tried.
        url: String,
        /// The network, TLS or timeout error behind it.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The broker answered but refused the connection (bad credentials, not authorized...).
    #[error("the MQTT broker at {url} refused the connection: {reason}")]
    Rejected {
        /// The broker that refused.
        url: String,
        /// The CONNACK return code, spelled out.
        reason: String,
    },
    /// The TLS handshake failed because the broker refused this client's certificate (none
    /// given where one is required, signed by a CA it does not trust, expired...): the broker
    /// is reachable, so this is not [`BusError::Unreachable`] (issue 14).
    #[error("the MQTT broker at {url} refused this client's TLS certificate: {reason}")]
    ClientCertificateRefused {
        /// The broker that refused.
        url: String,
        /// The TLS alert it sent.
        reason: String,
    },
    /// The TLS handshake failed because the broker's certificate does not verify against the
    /// configured CA (or is not valid for the host).
    #[error("the certificate of the MQTT broker at {url} is not trusted: {reason}")]
    BrokerCertificateRefused {
        /// The broker whose certificate failed.
        url: String,
        /// Why it failed verification.
        reason: String,
    },
    /// A TLS file (CA, certificate or key) could not be read.
    #[error("cannot read the TLS file {}", path.display())]
    TlsFile {
        /// The file that failed.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The private key file may be read by group or others (mode and fix in the message).
    #[error(transparent)]
    KeyMode(#[from] ank_schemas::KeyModeError),
    /// The client certificate cannot tell who this client is.
    #[error("the client certificate {cert}: {reason}")]
    TlsIdentity {
        /// The certificate (its file, or `Inline(..)`).
        cert: String,
        /// What is wrong.
        reason: String,
    },
    /// The TLS settings do not fit the URL (`mqtts://` without a CA file, TLS files for
    /// `mqtt://`, a certificate without its key).
    #[error("TLS settings: {0}")]
    TlsConfig(&'static str),
    /// A topic to publish to is empty, contains a wildcard or a NUL, or is longer than MQTT can
    /// encode; or a filter is malformed. Nothing was sent. Carries the topic, escaped and cut.
    #[error("invalid MQTT topic or filter `{0}`")]
    InvalidTopic(String),
    /// The PUBLISH packet would be larger than the broker accepts
    /// ([`crate::ConnectOptions::publish_packet_limit`]); nothing was sent, the session stays up.
    #[error(
        "the message for `{topic}` would be a {size}-byte packet, over the {limit}-byte limit"
    )]
    TooLarge {
        /// The topic, escaped and cut.
        topic: String,
        /// The packet size it would have had.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The session was shut down, or its event loop ended; nothing more can be sent.
    #[error("the MQTT session is closed")]
    Closed,
    /// No answer (reply, marker) arrived in time.
    #[error("no answer within {after:?}")]
    Timeout {
        /// How long was waited.
        after: Duration,
    },
}
