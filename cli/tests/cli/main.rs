//! `ank`'s tests: one binary, one module per area.
//!
//! Snapshots live in `snapshots/`; a missing one is written and the test fails so that it gets
//! reviewed; `UPDATE_SNAPSHOTS=1` rewrites them all.

/// `ank get state` beside what the real Ankaios 1.0.1 prints for the same state (issue 16).
mod ankaios_format;
/// Changes against a real Mosquitto and a scripted stand-in for the controller.
mod changes;
/// The fixed cluster state every snapshot is drawn from, and snapshot files.
mod fixture;
/// The whole `--help` tree, completions and the man page.
mod help;
/// Every table and document from the fixture, rendered by the library.
mod output;
/// The binary against a real Mosquitto holding the fixture as retained messages.
mod reads;
