//! Workload states as the user sees them, parsed from the `ank` CLI's output: the JSON of
//! `ank get state -o json` (exact, for assertions) and the `ank get workloads` table (for
//! comparing what a user reads with what a third-party MQTT reader sees).

use std::collections::BTreeMap;

use ank_schemas::WorkloadStateEntry;
use anyhow::{Context, Result};

/// One workload instance from `workloadStates` of the complete state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadRow {
    /// The workload name.
    pub name: String,
    /// The agent it runs on.
    pub agent: String,
    /// The instance hash (the middle part of the instance id).
    pub hash: String,
    /// The display form, e.g. `Running(Ok)` or `AgentDisconnected`.
    pub state: String,
    /// The additional info.
    pub info: String,
}

/// `workloadStates`: agent → workload → instance hash → state.
type WorkloadStates = BTreeMap<String, BTreeMap<String, BTreeMap<String, WorkloadStateEntry>>>;

/// Every instance in `ank get state -o json [workloadStates…]` output, sorted by name, agent and
/// hash. Output without `workloadStates` (no workloads) gives no rows.
pub fn rows_from_state_json(json: &str) -> Result<Vec<WorkloadRow>> {
    let mut value: serde_json::Value =
        serde_json::from_str(json).context("parsing `ank get state -o json` output")?;
    let states: WorkloadStates = match value.get_mut("workloadStates") {
        Some(states) => serde_json::from_value(states.take())
            .context("parsing workloadStates of `ank get state -o json`")?,
        None => WorkloadStates::new(),
    };
    let mut rows = Vec::new();
    for (agent, workloads) in states {
        for (name, instances) in workloads {
            for (hash, entry) in instances {
                rows.push(WorkloadRow {
                    name: name.clone(),
                    agent: agent.clone(),
                    hash,
                    state: entry.state.to_string(),
                    info: entry.additional_info,
                });
            }
        }
    }
    rows.sort_by(|a, b| (&a.name, &a.agent, &a.hash).cmp(&(&b.name, &b.agent, &b.hash)));
    Ok(rows)
}

/// One row of the `ank get workloads` table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TableRow {
    /// WORKLOAD NAME
    pub name: String,
    /// AGENT
    pub agent: String,
    /// RUNTIME
    pub runtime: String,
    /// EXECUTION STATE
    pub state: String,
    /// ADDITIONAL INFO
    pub info: String,
}

/// The columns of the `ank get workloads` table, in order.
const COLUMNS: [&str; 5] = [
    "WORKLOAD NAME",
    "AGENT",
    "RUNTIME",
    "EXECUTION STATE",
    "ADDITIONAL INFO",
];

/// Parses the `ank get workloads` table: the header fixes where each column starts. Fails when
/// the header is missing or lacks a column.
pub fn parse_workload_table(stdout: &str) -> Result<Vec<TableRow>> {
    let mut lines = stdout.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .context("`ank get workloads` printed nothing")?;
    let header: Vec<char> = header.chars().collect();
    let header_text: String = header.iter().collect();
    let mut starts = Vec::new();
    for column in COLUMNS {
        let at = header_text
            .find(column)
            .with_context(|| format!("no column {column} in header {header_text:?}"))?;
        starts.push(header_text[..at].chars().count());
    }
    let mut rows = Vec::new();
    for line in lines {
        let chars: Vec<char> = line.chars().collect();
        let cell = |i: usize| -> String {
            let from = starts[i].min(chars.len());
            let to = starts
                .get(i + 1)
                .copied()
                .unwrap_or(chars.len())
                .min(chars.len());
            chars[from..to].iter().collect::<String>().trim().to_owned()
        };
        rows.push(TableRow {
            name: cell(0),
            agent: cell(1),
            runtime: cell(2),
            state: cell(3),
            info: cell(4),
        });
    }
    rows.sort();
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parser_reads_columns_by_header_position() {
        let out = "WORKLOAD NAME   AGENT   RUNTIME   EXECUTION STATE      ADDITIONAL INFO\n\
                   sleeper         man_A   podman    Running(Ok)\n\
                   bad             man_A   podman    Failed(ExecFailed)   Exit code: '5'\n";
        let rows = parse_workload_table(out).expect("parses");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "bad");
        assert_eq!(rows[0].state, "Failed(ExecFailed)");
        assert_eq!(rows[0].info, "Exit code: '5'");
        assert_eq!(rows[1].agent, "man_A");
        assert_eq!(rows[1].info, "");
    }

    #[test]
    fn state_json_becomes_one_row_per_instance() {
        let json = r#"{"desiredState":{"apiVersion":"v1"},"workloadStates":{"a":{"w":{"h1":{"state":"Running","subState":"Ok","additionalInfo":""},"h2":{"state":"Stopping","subState":"WaitingToStop","additionalInfo":"x"}}}}}"#;
        let rows = rows_from_state_json(json).expect("parses");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].state, "Running(Ok)");
        assert_eq!(rows[1].state, "Stopping(WaitingToStop)");
    }
}
