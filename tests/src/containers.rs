//! What podman itself says about an agent's containers, read by label: the ground truth the
//! scenarios compare the bus against ("same container id", "nothing restarted"), and the cleanup
//! that removes every container and pod a test's agents left behind.
//!
//! Agents label everything they start `ankmq.agent=<name>` (docs/agent.md "Labels"); test agent
//! names are unique per test, so a label filter touches only that test's containers even when
//! tests run in parallel.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::podman;

/// One container as `podman ps --all --format json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    /// The container id.
    pub id: String,
    /// Its names (podman lists one).
    #[serde(default)]
    pub names: Vec<String>,
    /// `running`, `exited`, `created`, …
    pub state: String,
    /// The main process' pid (0 when not running): a restart changes it.
    #[serde(default)]
    pub pid: u32,
    /// Start time, Unix seconds: a `podman start` of the same container changes it.
    #[serde(default)]
    pub started_at: i64,
    /// The exit code once exited.
    #[serde(default)]
    pub exit_code: i32,
    /// The pod id, empty for a plain container.
    #[serde(default)]
    pub pod: String,
    /// Every label.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Container {
    /// The `ankmq.instance` label: `<workload>.<hash>.<agent>`.
    pub fn instance(&self) -> &str {
        self.labels
            .get("ankmq.instance")
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The workload name, the first part of the instance id.
    pub fn workload(&self) -> &str {
        self.instance().split('.').next().unwrap_or("")
    }
}

/// Every container (any state) labelled `ankmq.agent=<agent>`, sorted by instance id.
pub fn of_agent(agent: &str) -> Result<Vec<Container>> {
    let filter = format!("label=ankmq.agent={agent}");
    let output = podman::run(&["ps", "--all", "--format", "json", "--filter", &filter])?;
    let mut containers: Vec<Container> = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("parsing `podman ps --format json --filter {filter}`"))?;
    containers.sort_by(|a, b| a.instance().cmp(b.instance()).then(a.id.cmp(&b.id)));
    Ok(containers)
}

/// The containers of `agent` that belong to `workload`.
pub fn of_workload(agent: &str, workload: &str) -> Result<Vec<Container>> {
    Ok(of_agent(agent)?
        .into_iter()
        .filter(|c| c.workload() == workload)
        .collect())
}

/// Removes every pod and container labelled `ankmq.agent=<agent>`. Errors are returned, but the
/// caller (a drop guard) usually only reports them.
pub fn remove_all_of_agent(agent: &str) -> Result<()> {
    let filter = format!("label=ankmq.agent={agent}");
    let pods = podman::run(&["pod", "ps", "--quiet", "--filter", &filter])?;
    let pods: Vec<String> = String::from_utf8_lossy(&pods.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if !pods.is_empty() {
        let mut args = vec!["pod", "rm", "--force", "--ignore", "-t", "0"];
        args.extend(pods.iter().map(String::as_str));
        podman::run(&args)?;
    }
    let ids = podman::run(&["ps", "--all", "--quiet", "--filter", &filter])?;
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "--force", "--ignore", "-t", "0"];
        args.extend(ids.iter().map(String::as_str));
        podman::run(&args)?;
    }
    Ok(())
}
