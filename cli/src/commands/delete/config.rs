//! `ank delete config`: remove config items. Like Ankaios, it does not wait: removing a config
//! starts or stops nothing by itself.

use ank_schemas::RequestOp;
use clap::Args;

use crate::change::{submit, Follow};
use crate::context::Context;
use crate::error::CliError;
use crate::ui::Ui;

/// Delete config items from the desired state.
///
/// The controller refuses while a workload still references one of them (its template could no
/// longer be rendered).
#[derive(Debug, Clone, Args)]
pub struct DeleteConfigArgs {
    /// The config keys to delete
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
}

/// Runs `ank delete config`.
pub async fn run(ui: &mut Ui, ctx: &Context, args: &DeleteConfigArgs) -> Result<(), CliError> {
    let op = RequestOp::DeleteConfigs {
        names: args.names.clone(),
    };
    submit(
        ui,
        ctx,
        op,
        Follow::Never,
        "Successfully deleted the config(s).",
    )
    .await
}
