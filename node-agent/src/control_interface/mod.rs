//! Ankaios' control interface in the agent (issue 15): for every instance of the snapshot whose
//! workload has allow rules, a FIFO pair in its instance folder (`fifo.rs`), mounted into the
//! container at `/run/ankaios/control_interface` (runtime/podman.rs), and a task serving it with
//! Ankaios' protocol (`session.rs`), so unchanged Ankaios SDK apps work inside ankmq workloads.
//!
//! This module decides nothing about workloads: it follows the snapshot. It never touches the
//! container; rule changes reach the running session through a `watch`, without a restart.
//! Requests go to the controller on the agent's own request topic (`backend.rs`); event
//! subscriptions are `events.rs`. The contract (messages, framing, rules) is
//! `ank_schemas::control_interface`.
//!
//! - `fifo.rs`: the FIFO folder on the host.
//! - `session.rs`: one workload's session: the byte stream from `output` and the handshake.
//! - `requests.rs`: a request's access check and its answer from the controller.
//! - `streams.rs`: a session's event subscriptions and log campaigns, and their bounds.
//! - `outbox.rs`: the bounded queue of answers and the writer of the `input` FIFO.
//! - `events.rs`: event subscriptions, fed by the controller's pushed events.
//! - `logs.rs`: log campaigns, through the agents' log topics as `ank logs` does.
//! - `backend.rs`: the way to the controller, behind a trait for host-side tests.

mod backend;
mod events;
pub mod fifo;
mod logs;
mod outbox;
mod requests;
mod session;
#[cfg(test)]
mod session_tests;
mod streams;

use std::collections::BTreeMap;
use std::path::PathBuf;

use ank_schemas::control_interface::needs_control_interface;
use ank_schemas::{AgentSnapshot, ControlInterfaceAccess};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use backend::{Backend, BusBackend};
pub use events::EventRoutes;
pub use logs::LogRoutes;
pub use session::{serve, SessionConfig};

/// The control-interface sessions of one agent, keyed by instance id.
pub struct ControlInterfaces<B: Backend> {
    io: PathBuf,
    backend: B,
    servers: BTreeMap<String, Server>,
    logs: LogRoutes,
    events: EventRoutes,
}

/// One running session; dropping it ends the session (the FIFOs stay, for a restart).
struct Server {
    rules: watch::Sender<ControlInterfaceAccess>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<B: Backend> ControlInterfaces<B> {
    /// Sessions for instances under the agent's io folder `io`, asking through `backend`.
    pub fn new(io: PathBuf, backend: B) -> Self {
        Self {
            io,
            backend,
            servers: BTreeMap::new(),
            logs: LogRoutes::default(),
            events: EventRoutes::default(),
        }
    }

    /// A log event that arrived on `{p}/agents/<a>/logs/<this agent's client id>`: for a
    /// campaign of one of the sessions. Unreadable payloads are logged briefly and dropped.
    pub fn on_log_event(&self, payload: &[u8]) {
        match serde_json::from_slice::<ank_schemas::LogEvent>(payload) {
            Ok(event) => self.logs.deliver(event),
            Err(error) => ank_bus::warn_limited!(
                "control interface logs",
                error = %ank_bus::excerpt(&error),
                "unreadable log event ignored",
            ),
        }
    }

    /// An event the controller pushed on `{p}/agents/<this agent>/events`: for one of the
    /// sessions' subscriptions. Unreadable payloads are logged briefly and dropped.
    pub fn on_event(&self, payload: &[u8]) {
        match serde_json::from_slice::<ank_schemas::AgentEvent>(payload) {
            Ok(event) => self.events.deliver(event),
            Err(error) => ank_bus::warn_limited!(
                "control interface events",
                error = %ank_bus::excerpt(&error),
                "unreadable event ignored",
            ),
        }
    }

    /// Follows a new snapshot: starts a session for each instance with allow rules (creating
    /// its FIFOs, reused if they exist, so adopted containers keep theirs), passes changed rules
    /// to running ones and ends those whose instance left. Must be called from the runtime.
    pub fn on_snapshot(&mut self, snapshot: &AgentSnapshot) {
        let wanted: BTreeMap<String, (&str, &ControlInterfaceAccess)> = snapshot
            .workloads
            .iter()
            .filter(|(_, w)| needs_control_interface(&w.control_interface_access))
            .map(|(name, w)| {
                (
                    w.instance_id.to_string(),
                    (name.as_str(), &w.control_interface_access),
                )
            })
            .collect();
        self.servers.retain(|id, _| wanted.contains_key(id));
        for (id, (workload, rules)) in wanted {
            if let Some(server) = self.servers.get(&id) {
                if !server.task.is_finished() {
                    server.rules.send_if_modified(|current| {
                        let changed = current != rules;
                        if changed {
                            tracing::info!(%workload, "control interface rules changed");
                            *current = rules.clone();
                        }
                        changed
                    });
                    continue;
                }
            }
            let Some(desired) = snapshot.workloads.get(workload) else {
                continue;
            };
            let folder = match fifo::prepare(&self.io, &desired.instance_id) {
                Ok(folder) => folder,
                Err(error) => {
                    tracing::warn!(%workload, %error, "cannot create the control interface FIFOs");
                    continue;
                }
            };
            let (tx, rx) = watch::channel(rules.clone());
            let config = SessionConfig {
                folder,
                workload: workload.to_owned(),
                backend: self.backend.clone(),
                rules: rx,
                logs: self.logs.clone(),
                events: self.events.clone(),
            };
            let name = workload.to_owned();
            let task = tokio::spawn(async move {
                if let Err(error) = serve(config).await {
                    tracing::warn!(workload = %name, %error, "the control interface cannot be served");
                }
            });
            self.servers.insert(id, Server { rules: tx, task });
        }
    }
}

/// The FIFO folder of a workload with allow rules (creating its FIFOs if the session has not
/// yet); `None` without allow rules. The error is the reason the workload cannot start.
pub fn folder_for(
    io: &std::path::Path,
    desired: &ank_schemas::DesiredWorkload,
) -> Result<Option<PathBuf>, String> {
    if !needs_control_interface(&desired.control_interface_access) {
        return Ok(None);
    }
    fifo::prepare(io, &desired.instance_id)
        .map(Some)
        .map_err(|e| format!("Could not create the control interface FIFOs: {e}"))
}

/// `command_options` with the control-interface mount appended when the workload has allow
/// rules (creating its FIFOs if the session has not yet); unchanged otherwise. The error is the
/// reason the workload cannot start.
pub fn with_mount(
    io: &std::path::Path,
    desired: &ank_schemas::DesiredWorkload,
    mut command_options: Vec<String>,
) -> Result<Vec<String>, String> {
    let Some(folder) = folder_for(io, desired)? else {
        return Ok(command_options);
    };
    let folder_text = folder.to_string_lossy();
    // `--mount` is a comma-separated list without quoting.
    if folder_text.contains(',') {
        return Err(format!(
            "the control interface folder {folder_text} contains a comma, which podman's --mount cannot express"
        ));
    }
    command_options.push(crate::runtime::podman::control_interface_mount(&folder));
    Ok(command_options)
}
