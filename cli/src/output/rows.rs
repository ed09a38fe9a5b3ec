//! The rows of every `ank get` table, with Ankaios' columns (§5.2), built from a [`View`].
//!
//! Building rows is pure and separate from drawing them (`table.rs`), so snapshot tests can
//! check both from fixed states.

use ank_schemas::Liveness;

use crate::output::table::Row;
use crate::state_view::{Instance, View};

/// One row of `ank get workloads`: one workload instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadRow {
    /// WORKLOAD NAME.
    pub name: String,
    /// AGENT.
    pub agent: String,
    /// RUNTIME.
    pub runtime: String,
    /// EXECUTION STATE, as `State(SubState)`.
    pub execution_state: String,
    /// ADDITIONAL INFO, trimmed, newlines turned into `, ` (as Ankaios does).
    pub additional_info: String,
}

impl WorkloadRow {
    /// The row of an instance.
    pub fn new(instance: &Instance) -> Self {
        Self {
            name: instance.id.workload.clone(),
            agent: instance.id.agent.clone(),
            runtime: instance.runtime.clone(),
            execution_state: instance.state.to_string(),
            additional_info: one_line(&instance.additional_info),
        }
    }
}

impl Row for WorkloadRow {
    fn headers() -> &'static [&'static str] {
        &[
            "WORKLOAD NAME",
            "AGENT",
            "RUNTIME",
            "EXECUTION STATE",
            "ADDITIONAL INFO",
        ]
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.agent.clone(),
            self.runtime.clone(),
            self.execution_state.clone(),
            self.additional_info.clone(),
        ]
    }
}

/// One row of `ank get agents`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRow {
    /// NAME.
    pub name: String,
    /// STATUS: online, offline or lost.
    pub status: String,
    /// WORKLOADS: how many workload states the agent has published.
    pub workloads: usize,
    /// CPU USAGE, `N%`; empty before the first load report.
    pub cpu_usage: String,
    /// FREE MEMORY, `NB`; empty before the first load report.
    pub free_memory: String,
}

impl Row for AgentRow {
    fn headers() -> &'static [&'static str] {
        // Ankaios' four columns where Ankaios has them (scripts pick columns by position), our
        // STATUS after them (issue 16).
        &["NAME", "WORKLOADS", "CPU USAGE", "FREE MEMORY", "STATUS"]
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.workloads.to_string(),
            self.cpu_usage.clone(),
            self.free_memory.clone(),
            self.status.clone(),
        ]
    }
}

/// Every agent that ever published a status, sorted by name. Unlike Ankaios (connected agents
/// only), offline and lost agents are listed too: the STATUS column, after Ankaios' columns,
/// says which.
pub fn agent_rows(view: &View) -> Vec<AgentRow> {
    view.agents
        .iter()
        .map(|(name, status)| {
            let online = status.state == Liveness::Online;
            let resources = status.resources.filter(|_| online);
            AgentRow {
                name: name.clone(),
                status: liveness(status.state).to_owned(),
                workloads: view.states.keys().filter(|(a, _)| a == name).count(),
                cpu_usage: resources
                    .map(|r| format!("{}%", r.cpu_usage))
                    .unwrap_or_default(),
                free_memory: resources
                    .map(|r| format!("{}B", r.free_memory))
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// One row of `ank get configs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRow {
    /// CONFIG: the config key.
    pub config: String,
}

impl Row for ConfigRow {
    fn headers() -> &'static [&'static str] {
        &["CONFIG"]
    }

    fn cells(&self) -> Vec<String> {
        vec![self.config.clone()]
    }
}

/// The config keys of the desired state, sorted.
pub fn config_rows(view: &View) -> Vec<ConfigRow> {
    view.desired_manifest()
        .configs
        .into_keys()
        .map(|config| ConfigRow { config })
        .collect()
}

/// The wire name of a liveness, as the STATUS column shows it.
pub fn liveness(state: Liveness) -> &'static str {
    match state {
        Liveness::Online => "online",
        Liveness::Offline => "offline",
        Liveness::Lost => "lost",
    }
}

/// Trimmed, with each line break (and the blanks around it) turned into `, `.
fn one_line(text: &str) -> String {
    text.trim()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn additional_info_becomes_one_line() {
        for (input, expected) in [
            ("", ""),
            ("  Exit code: '1'\n", "Exit code: '1'"),
            ("a\nb\r\n  c", "a, b, c"),
            ("a\n\n b", "a, b"),
        ] {
            assert_eq!(one_line(input), expected, "{input:?}");
        }
    }
}
