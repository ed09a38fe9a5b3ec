//! `ank`: the Ankaios-compatible command line of ankmq, over MQTT (issue #6).
//!
//! Reads (`ank get …`) come straight from the broker's retained topics, so they work while the
//! controller is down; changes are requests to the controller, followed until every instance
//! they touch has settled. `main.rs` is a thin shell around [`run`].
//!
//! Layout:
//! - `cli.rs`: the root parser and the global options; `commands/`: one file per subcommand.
//! - `settings.rs`: flag > env > config file > default.
//! - `context.rs`: the MQTT session, retained reads, requests to the controller.
//! - `state_view.rs`: retained topics → instances and the CompleteState (pure).
//! - `wait.rs`: when a change is finished (pure); `live.rs`: drawing the wait.
//! - `change.rs`: the common flow of every change.
//! - `state_diff`: the events of `ank get events`, from `ank_schemas::state_diff` (pure).
//! - `output/`: tables, rows and YAML/JSON documents, rendered to any `impl Write`.
//! - `outage.rs`: telling the user that a live command lost the broker, and since when.
//! - `ui.rs`: stdout for data, stderr for status; `error.rs`: exit codes and messages.
#![warn(missing_docs)]

pub mod change;
pub mod cli;
pub mod commands;
pub mod context;
pub mod error;
pub mod live;
pub mod outage;
pub mod output;
pub mod settings;
pub use ank_schemas::state_diff;
pub mod state_view;
pub mod ui;
pub mod wait;

pub use cli::Cli;
pub use error::CliError;

use context::Context;
use settings::Settings;
use ui::Ui;

/// Runs a parsed command line to completion.
pub async fn run(ui: &mut Ui, cli: &Cli, settings: Settings) -> Result<(), CliError> {
    let ctx = Context::new(settings)?;
    let result = commands::run(ui, &ctx, &cli.command).await;
    ctx.close().await;
    result
}
