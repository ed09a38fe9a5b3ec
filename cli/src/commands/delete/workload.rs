//! `ank delete workload`: remove workloads and follow their instances until they are gone.

use ank_schemas::RequestOp;
use clap::Args;

use crate::change::{submit, Follow};
use crate::context::Context;
use crate::error::CliError;
use crate::ui::Ui;

/// Delete workloads from the desired state, then wait until their instances are removed.
///
/// Deleting a workload that does not exist changes nothing and succeeds.
#[derive(Debug, Clone, Args)]
pub struct DeleteWorkloadArgs {
    /// The workloads to delete
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
}

/// Runs `ank delete workload`.
pub async fn run(ui: &mut Ui, ctx: &Context, args: &DeleteWorkloadArgs) -> Result<(), CliError> {
    let op = RequestOp::DeleteWorkloads {
        names: args.names.clone(),
    };
    submit(
        ui,
        ctx,
        op,
        Follow::Workloads,
        "Successfully deleted the workload(s).",
    )
    .await
}
