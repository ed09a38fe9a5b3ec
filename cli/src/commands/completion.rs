//! `ank completion`: a shell completion script, generated from the same clap definitions as the
//! parser, so it never drifts from the real options. Ankaios' way to ask for it,
//! `source <(COMPLETE=bash ank)`, prints the same script (issue 16, §10.3).

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

/// The environment variable Ankaios' `ank` reads (clap_complete's `CompleteEnv`).
pub const COMPLETE_ENV: &str = "COMPLETE";

/// The shell `COMPLETE` asks a script for, if it asks: unset, empty and `0` mean no, as for
/// clap's `CompleteEnv`. Ankaios' script asks `ank` again for each candidate; ours is the
/// static one of `ank completion`, so workload names are not completed (README).
pub fn requested_shell(value: Option<&str>) -> Option<Result<Shell, CliError>> {
    let value = value?.trim();
    if value.is_empty() || value == "0" {
        return None;
    }
    Some(value.parse::<Shell>().map_err(|_| CliError::Usage {
        // Ankaios' (clap's) words.
        message: format!(
            "unknown shell `{value}`, expected one of `bash`, `elvish`, `fish`, `powershell`, \
             `zsh`"
        ),
        hint: Some(format!(
            "{COMPLETE_ENV} names the shell, e.g. {COMPLETE_ENV}=bash"
        )),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_names_a_shell_or_nothing() {
        for (value, expected) in [
            (None, None),
            (Some(""), None),
            (Some("0"), None),
            (Some("bash"), Some(Ok(Shell::Bash))),
            (Some("zsh"), Some(Ok(Shell::Zsh))),
            (Some("fish"), Some(Ok(Shell::Fish))),
            (Some("tcsh"), Some(Err(()))),
        ] {
            let got = requested_shell(value).map(|r| r.map_err(|_| ()));
            assert_eq!(got, expected, "{value:?}");
        }
    }
}
