//! `ank delete …`: remove workloads or configs from the desired state.

pub mod config;
pub mod workload;

use clap::Subcommand;

use crate::context::Context;
use crate::error::CliError;
use crate::ui::Ui;

/// `ank delete` subcommands.
#[derive(Debug, Subcommand)]
// Variants carry no doc: the doc of each Args struct is its help (clap prefers a variant doc).
#[allow(missing_docs)]
pub enum DeleteCommand {
    #[command(visible_alias = "workloads")]
    Workload(workload::DeleteWorkloadArgs),
    #[command(visible_alias = "configs")]
    Config(config::DeleteConfigArgs),
}

/// Runs a `delete` subcommand.
pub async fn run(ui: &mut Ui, ctx: &Context, command: &DeleteCommand) -> Result<(), CliError> {
    match command {
        DeleteCommand::Workload(args) => workload::run(ui, ctx, args).await,
        DeleteCommand::Config(args) => config::run(ui, ctx, args).await,
    }
}
