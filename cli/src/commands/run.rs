//! `ank run workload`: add or replace one workload given entirely on the command line.

use std::collections::BTreeMap;

use ank_schemas::{is_valid_agent, is_valid_name, parse_tag, RequestOp, WorkloadSpec};
use clap::{Args, Subcommand};

use crate::change::{submit, Follow};
use crate::context::Context;
use crate::error::CliError;
use crate::ui::Ui;

/// `ank run` subcommands.
#[derive(Debug, Subcommand)]
// Variants carry no doc: the doc of each Args struct is its help (clap prefers a variant doc).
#[allow(missing_docs)]
pub enum RunCommand {
    Workload(RunWorkloadArgs),
}

/// Add or replace one workload, then wait until it runs.
///
/// Example: ank run workload hello --runtime podman --agent agent_A
///   --config 'image: localhost/ank-test/busybox:latest'
#[derive(Debug, Clone, Args)]
pub struct RunWorkloadArgs {
    /// The workload's name
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The runtime: podman or podman-kube
    #[arg(long)]
    pub runtime: String,
    /// The agent that runs it; "" leaves it unscheduled
    #[arg(long)]
    pub agent: String,
    /// The runtimeConfig (a YAML document, e.g. 'image: docker.io/library/nginx')
    #[arg(long, value_name = "RUNTIME_CONFIG")]
    pub config: String,
    /// A tag, key=value; repeat for several
    #[arg(long = "tags", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
}

/// Runs an `ank run` subcommand.
pub async fn run(ui: &mut Ui, ctx: &Context, command: &RunCommand) -> Result<(), CliError> {
    let RunCommand::Workload(args) = command;
    let workload = spec(args)?;
    let op = RequestOp::RunWorkload {
        name: args.name.clone(),
        workload,
    };
    submit(
        ui,
        ctx,
        op,
        Follow::Workloads,
        "Successfully applied the workload.",
    )
    .await
}

/// The workload the arguments describe.
pub fn spec(args: &RunWorkloadArgs) -> Result<WorkloadSpec, CliError> {
    let usage = |message: String| CliError::Usage {
        message,
        hint: Some("names use only [A-Za-z0-9_-], at most 63 characters".into()),
    };
    if !is_valid_name(&args.name) {
        return Err(usage(format!("invalid workload name '{}'", args.name)));
    }
    if !is_valid_agent(&args.agent) {
        return Err(usage(format!("invalid agent name '{}'", args.agent)));
    }
    Ok(WorkloadSpec {
        agent: args.agent.clone(),
        runtime: args.runtime.clone(),
        runtime_config: args.config.trim().to_owned(),
        restart_policy: Default::default(),
        dependencies: BTreeMap::new(),
        tags: args.tags.iter().cloned().collect(),
        configs: BTreeMap::new(),
        files: Vec::new(),
        control_interface_access: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_tag;

    #[test]
    fn tags_are_key_equals_value() {
        assert_eq!(parse_tag("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_tag("a="), Ok(("a".into(), String::new())));
        assert!(parse_tag("=b").is_err());
        assert!(parse_tag("ab").is_err());
    }
}
