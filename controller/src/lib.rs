//! `ank-controller`: the single writer of ankmq's desired state (issue #4).
//!
//! It does what the Ankaios server does, over MQTT: it validates and renders every change,
//! persists it, and publishes one retained snapshot per agent; and it answers requests. Unlike
//! Ankaios it keeps its state across restarts, and a restart republishes identical snapshots, so
//! no running workload changes. docs/controller.md has start-up, persistence and the protocol.
//!
//! Layout (decide purely, act at the edge):
//! - `desired.rs`: [`Desired`], the manifest, its generation, rendering and snapshots, together.
//! - `apply.rs`: [`apply()`], a write request + the current state → the next state or every error.
//! - `snapshot.rs`: per-agent snapshots and the delete conditions of dependencies.
//! - `observed.rs`: [`Observed`], agent statuses and workload states reported on the bus.
//! - `agent_tags.rs`: the `agents.<a>.tags` part of a `setState`, for connected agents.
//! - `agent_requests.rs`: the re-check of control-interface requests an agent makes for a workload.
//! - `events.rs`: control-interface event subscriptions, pushed after every change.
//! - `complete_state.rs`: the CompleteState of `getState`, with derived states and masks.
//! - `persist.rs`: `<state-dir>/state.json`, the only file I/O of the state.
//! - `startup.rs`: where the state comes from at start (persisted, seeded, reset).
//! - `config.rs`: [`Config`] from flags, environment, TOML file and defaults.
//! - `publish.rs`: [`Publisher`], the only thing that publishes.
//! - `server.rs`: [`run`], the loop that ties them together, one request at a time.
//! - `runtime.rs`: the tokio runtime, sized for the job (worker and blocking threads).
#![warn(missing_docs)]

mod agent_requests;
mod agent_tags;
mod apply;
mod complete_state;
mod config;
mod desired;
mod events;
mod observed;
mod persist;
mod publish;
pub mod runtime;
mod server;
mod snapshot;
mod startup;

pub use apply::{apply, change_to, Change, Refusal};
pub use complete_state::{complete_state, get_state};
pub use config::{
    Args, BrokerChoice, Config, ConfigFile, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_STATE_DIR,
    MAX_MAX_MESSAGE_SIZE, MIN_MAX_MESSAGE_SIZE,
};
pub use desired::Desired;
pub use observed::{Observed, ObservedError};
pub use persist::{load, save, PersistError, FORMAT, STATE_FILE};
pub use publish::{human_size, Outgoing, Oversized, PublishError, Publisher, CLIENT_ID};
pub use server::run;
pub use snapshot::{snapshots, workload_sets};
pub use startup::{initial_state, read_manifest, ManifestError, Origin};
