//! `ank get configs`: the config keys of the desired state, from the retained topic.

use clap::Args;

use crate::context::Context;
use crate::error::CliError;
use crate::output::rows::config_rows;
use crate::output::table;
use crate::ui::Ui;

/// List the config items of the desired state.
///
/// One column, CONFIG, sorted by key. Works while the controller is down.
#[derive(Debug, Clone, Args)]
pub struct GetConfigsArgs {}

/// Runs `ank get configs`.
pub async fn run(ui: &mut Ui, ctx: &Context, _args: &GetConfigsArgs) -> Result<(), CliError> {
    let view = ctx.read_view().await?;
    let width = ui.width();
    table::render(ui.out(), &config_rows(&view), width)?;
    Ok(())
}
