//! Integration tests of the embedded broker over real TCP on loopback (issue 3).
//!
//! One binary, one module per area. The memory test is a separate binary (tests/memory.rs)
//! because it measures the RSS of its whole process.

mod harness;
mod wire;

/// Password file and ACLs.
mod auth;
/// The `ank-broker` binary.
mod cli;
/// The dashboard page's HTTP server (issue 18).
#[cfg(feature = "websocket")]
mod dashboard;
/// The broker's storage on a full file system.
mod full_disk;
/// Malformed packets, awkward ids, resets, limits, random bytes.
mod hostile;
/// start/stop and start-up errors.
mod lifecycle;
/// The same ACL on the embedded broker and on Mosquitto.
mod mosquitto_parity;
/// A third-party MQTT 3.1.1 client (paho-mqtt, Python) on both brokers.
mod paho;
/// Retained messages, wills, persistence.
mod retained;
/// The TLS listener.
mod tls;
/// Identities from client certificates; no plain listener beside TLS (issue 13).
mod tls_identity;
/// The WebSocket listener.
#[cfg(feature = "websocket")]
mod websocket;
