//! `ank-agent`: reconciles one node's desired workloads with podman (issue #5).
//!
//! The agent binary is not built yet; the crate so far holds the runtime layer the agent's
//! reconcile loop will drive. It deliberately offers no binary until the agent works.
//!
//! Layout:
//! - [`runtime`]: runtime connectors. The only code that spells `podman` or spawns a process;
//!   it runs, restarts, observes and removes containers and reports raw podman facts
//!   (`runtime/command.rs`, `podman.rs`, `podman_kube.rs`, `ps.rs`, `events.rs`).
#![warn(missing_docs)]

pub mod runtime;
