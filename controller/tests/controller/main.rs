//! The controller against real brokers: one test binary, one module per area.

mod harness;

/// The binary: --help, exit codes.
mod binary;
/// Start-up modes and errors, and the main scenario on Mosquitto.
mod brokers;
/// A full disk under the state directory.
mod full_disk;
/// Retained messages and responses over the broker's limit are refused (issue 14).
mod limits;
/// 50 concurrent writers, and 1,000 malformed payloads on every subscribed topic.
mod load;
/// Kill and restart: same state, same instance ids, identical snapshots; start rules.
mod persistence;
/// apply / setState / delete / getState with masks, and every refusal path.
mod requests;
/// Per-agent snapshots: explicit empty ones, delete conditions, observed states.
mod snapshots;
