//! `ank get …`: every read. Reads come from the retained topics, never from the controller, so
//! they work while it is down.

pub mod agents;
pub mod configs;
pub mod events;
pub mod state;
pub mod workloads;

use clap::Subcommand;

use crate::context::Context;
use crate::error::CliError;
use crate::ui::Ui;

/// `ank get` subcommands.
#[derive(Debug, Subcommand)]
// Variants carry no doc: the doc of each Args struct is its help (clap prefers a variant doc).
#[allow(missing_docs)]
pub enum GetCommand {
    State(state::GetStateArgs),
    #[command(visible_alias = "workload")]
    Workloads(workloads::GetWorkloadsArgs),
    #[command(visible_alias = "agent")]
    Agents(agents::GetAgentsArgs),
    #[command(visible_alias = "config")]
    Configs(configs::GetConfigsArgs),
    Events(events::GetEventsArgs),
}

/// Runs a `get` subcommand.
pub async fn run(ui: &mut Ui, ctx: &Context, command: &GetCommand) -> Result<(), CliError> {
    match command {
        GetCommand::State(args) => state::run(ui, ctx, args).await,
        GetCommand::Workloads(args) => workloads::run(ui, ctx, args).await,
        GetCommand::Agents(args) => agents::run(ui, ctx, args).await,
        GetCommand::Configs(args) => configs::run(ui, ctx, args).await,
        GetCommand::Events(args) => events::run(ui, ctx, args).await,
    }
}
