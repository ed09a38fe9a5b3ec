//! `ank completion`: a shell completion script, generated from the same clap definitions as the
//! parser, so it never drifts from the real options.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::CliError;
use crate::ui::Ui;

/// Print a shell completion script.
///
/// bash: ank completion bash > ~/.local/share/bash-completion/completions/ank
/// zsh:  ank completion zsh > "${fpath[1]}/_ank"
/// fish: ank completion fish > ~/.config/fish/completions/ank.fish
#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Runs `ank completion`.
pub fn run(ui: &mut Ui, args: &CompletionArgs) -> Result<(), CliError> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "ank", ui.out());
    Ok(())
}
