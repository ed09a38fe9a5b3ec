//! `ank-bus`: the MQTT session plumbing every ankmq client shares (controller, agent, CLI).
//!
//! It knows MQTT, not ankmq's business: payloads are bytes, serialized by the callers with the
//! `ank-schemas` types. It is the only crate that imports rumqttc. docs/bus.md explains the why.
//!
//! Layout:
//! - `options.rs`: [`ConnectOptions`] from `mqtt://` / `mqtts://` URLs, TLS files, credentials.
//! - `settings.rs`: [`ConnectArgs`] (the connection flags of every binary), [`ConnectFile`] (their
//!   config keys, Ankaios' too) and the one resolve into [`ConnectSettings`].
//! - `session.rs`: [`Session`] (cheap handle: subscribe, publish, birth, shutdown) and
//!   [`Incoming`], the stream of [`SessionEvent`]s.
//! - `event_loop.rs`: the owned task behind a session: reconnects, resubscribes, re-births.
//! - `backoff.rs`: jittered reconnect delays.
//! - `birth.rs`: [`Birth`] (retained birth + will) and [`new_epoch`].
//! - `request.rs`: [`Session::request`], request/response matched by the reply's `id`.
//! - `retained.rs`: [`Session::read_retained`] and [`Session::watch_retained`].
//! - `topic_match.rs`: [`topic_matches`], MQTT wildcard matching.
//! - `packet.rs`: [`publish_packet_size`] and the refusal of publishes a broker would not take.
//! - `log_limit.rs`: [`excerpt`], [`excerpt_bytes`] and [`warn_limited!`]: bounded logging of
//!   outside input, shared by every binary.
//! - `shutdown.rs`: [`Shutdown`], the SIGTERM/SIGINT handlers of the controller and the agent,
//!   installed before they start.
//! - `error.rs`: [`BusError`].
#![warn(missing_docs)]

mod backoff;
mod birth;
mod error;
mod event_loop;
pub mod log_limit;
mod options;
mod packet;
mod rate;
mod request;
mod retained;
mod session;
mod settings;
mod shutdown;
mod topic_match;

pub use backoff::{doubled, Backoff};
pub use birth::{new_epoch, Birth};
pub use error::BusError;
pub use log_limit::{excerpt, excerpt_bytes};
pub use options::{ConnectOptions, Pem, TlsFiles, DEFAULT_PUBLISH_LIMIT, MQTTS_PORT, MQTT_PORT};
pub use packet::{publish_packet_size, MAX_TOPIC_BYTES};
pub use rate::{Rate, RateWindow};
pub use retained::{Watch, WatchEvent};
pub use session::{Incoming, Message, Session, SessionEvent};
pub use settings::{
    ConnectArgs, ConnectFile, ConnectSettings, Program, SettingsError, DEFAULT_BROKER,
    DEFAULT_TLS_BROKER,
};
pub use shutdown::Shutdown;
pub use topic_match::topic_matches;

/// `tracing` for [`warn_limited!`], so callers need no `tracing` of their own.
#[doc(hidden)]
pub use tracing as __tracing;
