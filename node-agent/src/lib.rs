//! `ank-agent`: reconciles one node's desired workloads with podman (issue #5).
//!
//! The binary (`src/main.rs`) is a thin shell around [`run`]. Decisions are pure (`reconcile`),
//! actions happen at the edge (`execute`, `publish`, `runtime`); docs/agent.md explains both.
//!
//! Layout:
//! - [`runtime`]: runtime connectors. The only code that spells `podman` or spawns a process;
//!   it runs, restarts, observes and removes containers and reports raw podman facts
//!   (`runtime/command.rs`, `podman.rs`, `podman_kube.rs`, `ps.rs`, `events.rs`).
//! - `reconcile`: the pure decision, desired snapshot + [`Observed`] → [`Action`]s.
//! - `observed`: what the planner knows besides the snapshot (runtime instances, bookkeeping,
//!   reports, other agents' states).
//! - `state_map`: podman's raw state → execution state and additionalInfo text.
//! - `backoff`: create-retry and restart delays, pure arithmetic.
//! - `hysteresis`: which state reports a stopping workload ignores.
//! - `config`: flags, environment and TOML file → [`AgentConfig`].
//! - `run`: the loop: bus and podman in, plan, execute, publish.
//! - `execute`: actions → runtime connector calls, and their outcomes → bookkeeping.
//! - `log_streams`: who may stream which logs until when (leases, caps); `log_pump`: one
//!   `podman logs` turned into events (issue 14).
//! - `publish`: the only publisher (workload states, status, log streams).
//! - `resources`: CPU and free memory from `/proc` for the status.
//! - `workload_files`: the agent's private folders and the workload files in them.
//! - `control_interface`: Ankaios' control interface, the FIFO server for SDK apps (issue 15).
#![warn(missing_docs)]

pub mod runtime;

mod backoff;
mod config;
mod control_interface;
mod execute;
mod hysteresis;
mod log_pump;
mod log_streams;
mod observed;
mod publish;
mod reconcile;
mod resources;
mod run;
mod state_map;
mod workload_files;

pub use backoff::{create_retry_delay, effective_streak, restart_delay};
pub use config::{AgentArgs, AgentConfig};
pub use execute::{OpFailure, OpOutcome, Runtimes};
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
