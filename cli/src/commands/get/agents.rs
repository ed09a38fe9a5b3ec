//! `ank get agents`: every agent that published a status, from the retained topics.

use clap::Args;

use crate::context::Context;
use crate::error::CliError;
use crate::output::rows::agent_rows;
use crate::output::table;
use crate::ui::Ui;

/// List agents: NAME, STATUS (online, offline or lost), WORKLOADS, CPU USAGE, FREE MEMORY.
///
/// Unlike Ankaios, agents that are offline or lost are listed too. Works while the controller
/// is down.
#[derive(Debug, Clone, Args)]
pub struct GetAgentsArgs {}

/// Runs `ank get agents`.
pub async fn run(ui: &mut Ui, ctx: &Context, _args: &GetAgentsArgs) -> Result<(), CliError> {
    let view = ctx.read_view().await?;
    let width = ui.width();
    table::render(ui.out(), &agent_rows(&view), width)?;
    Ok(())
}
