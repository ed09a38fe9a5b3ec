//! `ank-agent`: reconciles one node's desired workloads with podman (issue #5).
//!
//! The binary (`src/main.rs`) is a thin shell around [`run`]. Decisions are pure (`reconcile`),
//! actions happen at the edge (`dispatch`, `publish`, `runtime`); docs/agent.md explains both.
//! Only `runtime/` spells podman's command lines; runtimes are named by the contract crate's
//! `RuntimeKind` everywhere else, and only `dispatch.rs` matches on it.
//!
//! Layout:
//! - [`runtime`]: runtime connectors. The only code that builds podman command lines or spawns a
//!   process (`runtime/command.rs` and `command/stream.rs`); it runs, restarts, observes and
//!   removes containers and reports raw podman facts (`podman.rs`, `podman_kube.rs` with
//!   `kube_manifest.rs`, `podman_logs.rs`, `ps.rs` with `shared_listing.rs`, `events.rs` with
//!   `container_event.rs` and `exit_files.rs`).
//! - `run`: wiring (connectors from the settings, the agent's folder, connect, subscribe).
//! - `agent_loop`: the select loop, where every input source is one arm.
//! - `inbox`: bus input decoded into typed values, or dropped.
//! - `runner`: the agent's state without the bus: snapshot, [`Observed`], operations and
//!   listings in flight; unit-tested with `fake_runtime` (tests only).
//! - `listing`: when to list podman and how a listing merges ("a newer look wins", "a busy
//!   instance is left alone"), and provisional exits from events.
//! - `desired`: each snapshot workload checked once against its runtime ([`Workload`]).
//! - `dispatch`: the one place a runtime kind meets its connector; specs, files, [`OpError`].
//! - `execute`: booking: actions → operations, and their outcomes → the books.
//! - `reconcile` (with `reconcile_existing`, `reconcile_removal`): the pure decision, desired +
//!   [`Observed`] → [`Action`]s (`action`); `conditions`: which add/delete conditions are unmet.
//! - `observed`, `book`: what the planner knows besides the snapshot; one workload's memory.
//! - `boot`, `reported_ends`: what an agent restart adopts, what runs again (a reboot, a
//!   shutdown's `podman stop`).
//! - `record_file`: their records in the agent's folder, read with a bound and replaced whole.
//! - `state_map`: podman's raw state → execution state and additionalInfo text.
//! - `backoff`: create-retry and restart delays, pure arithmetic.
//! - `hysteresis`: which state reports a stopping workload ignores.
//! - `config`: flags, environment and TOML file → [`AgentConfig`].
//! - `log_leases`: who may stream which logs until when (leases, caps); `log_streams`: the
//!   stream tasks those leases call for; `log_pump`: one `podman logs` turned into events
//!   (issue 14).
//! - `publish`: the only publisher (workload states, status, log streams).
//! - `resources`: CPU and free memory from `/proc` for the status.
//! - `workload_files`: the agent's private folders and the workload files in them.
//! - `control_interface`: Ankaios' control interface, the FIFO server for SDK apps (issue 15).
#![warn(missing_docs)]

pub mod runtime;

mod action;
mod agent_loop;
mod backoff;
mod book;
mod boot;
mod conditions;
mod config;
mod control_interface;
mod desired;
mod dispatch;
mod execute;
#[cfg(test)]
mod fake_runtime;
mod hysteresis;
mod inbox;
mod listing;
mod log_leases;
mod log_pump;
mod log_streams;
mod observed;
mod publish;
mod reconcile;
mod record_file;
mod reported_ends;
mod resources;
mod run;
mod runner;
mod state_map;
mod workload_files;

pub use backoff::{create_retry_delay, effective_streak, restart_delay};
pub use config::{AgentArgs, AgentConfig};
pub use desired::{DesiredSet, Workload};
pub use dispatch::{OpError, Runtimes};
pub use execute::{CreateStarted, OpFailure, OpOutcome};
pub use hysteresis::accepts as hysteresis_accepts;
pub use log_streams::{StreamCaps, DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_CLIENT};
pub use observed::{
    Failure, InstanceTarget, Observed, Operation, PeerState, RuntimeInstance, WorkloadBook,
    WorkloadReport,
};
pub use publish::{LogPublisher, Publisher};
pub use reconcile::{
    plan, start_problem, unmet_add_conditions, unmet_delete_conditions, Action, TRIGGERED_INFO,
};
pub use run::run;
pub use state_map::{map as map_state, podman_error, MappedState, PODMAN_ERROR_INFO};
