//! `ank man`: man pages generated from the clap definitions (clap_mangen), so the pages say
//! exactly what `--help` says.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, CommandFactory};

use crate::cli::Cli;
use crate::error::CliError;
use crate::ui::Ui;

/// Print the man page ank(1), or write one page per subcommand into a directory.
///
/// Example: ank man | man -l -
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write ank.1 and ank-<subcommand>.1 (e.g. ank-get-workloads.1) into this directory
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Runs `ank man`.
pub fn run(ui: &mut Ui, args: &ManArgs) -> Result<(), CliError> {
    let command = Cli::command();
    match &args.out_dir {
        None => clap_mangen::Man::new(command).render(ui.out())?,
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("writing man pages to {}", dir.display()))?;
            ui.status(format!("wrote the man pages to {}", dir.display()))?;
        }
    }
    Ok(())
}
