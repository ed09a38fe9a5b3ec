//! `ank-schemas`: the contract of ankmq. No I/O, no tokio, no MQTT client.
//!
//! Layout (being filled by issue #2):
//! - [`topics`]: every MQTT topic, built from the prefix and parsed back.
#![warn(missing_docs)]

pub mod topics;

pub use topics::{PrefixError, Topic, Topics, DEFAULT_PREFIX};
