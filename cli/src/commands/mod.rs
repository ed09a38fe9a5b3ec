//! The subcommands, one file each (jj's `commands/`). A group of subcommands is a folder whose
//! `mod.rs` holds its enum. Each file has a documented clap `Args` struct, whose doc *is* the
//! `--help`, and a `run` function.

pub mod apply;
pub mod completion;
pub mod delete;
pub mod get;
pub mod logs;
pub mod man;
pub mod run;
pub mod set;

use clap::Subcommand;

use crate::context::Context;
use crate::error::CliError;
use crate::ui::Ui;

/// Every subcommand of `ank`.
#[derive(Debug, Subcommand)]
// Variants carry no doc: the doc of each Args struct is its help (clap prefers a variant doc).
#[allow(missing_docs)]
pub enum Command {
    /// Show the state, workloads, agents or configs, or stream changes
    #[command(subcommand)]
    Get(get::GetCommand),
    Apply(apply::ApplyArgs),
    /// Delete workloads or configs
    #[command(subcommand)]
    Delete(delete::DeleteCommand),
    /// Run a workload given on the command line
    #[command(subcommand)]
    Run(run::RunCommand),
    /// Replace parts of the desired state
    #[command(subcommand)]
    Set(set::SetCommand),
    Logs(logs::LogsArgs),
    Completion(completion::CompletionArgs),
    Man(man::ManArgs),
}

/// Runs `command`.
pub async fn run(ui: &mut Ui, ctx: &Context, command: &Command) -> Result<(), CliError> {
    match command {
        Command::Get(get) => get::run(ui, ctx, get).await,
        Command::Apply(args) => apply::run(ui, ctx, args).await,
        Command::Delete(delete) => delete::run(ui, ctx, delete).await,
        Command::Run(run) => run::run(ui, ctx, run).await,
        Command::Set(set) => set::run(ui, ctx, set).await,
        Command::Logs(args) => logs::run(ui, ctx, args).await,
        Command::Completion(args) => completion::run(ui, args),
        Command::Man(args) => man::run(ui, args),
    }
}
