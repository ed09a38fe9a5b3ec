//! The `ank` binary: parse flags, set up logging, merge the settings, run, map the result to an
//! exit code. Everything else is in the library (lib.rs has the map).

use std::process::ExitCode;

use ank_cli::commands::completion;
use ank_cli::settings::{load_file, Settings};
use ank_cli::ui::Ui;
use ank_cli::{Cli, CliError};
use clap::Parser;

fn main() -> ExitCode {
    // Ankaios' `source <(COMPLETE=bash ank)` (§10.3); only without arguments, so a variable
    // left in the environment never changes what a command does.
    if std::env::args_os().len() == 1 {
        let value = std::env::var(completion::COMPLETE_ENV).ok();
        if let Some(shell) = completion::requested_shell(value.as_deref()) {
            return complete(shell);
        }
    }
    // clap exits with 2 on a usage error and 0 for --help/--version.
    let cli = Cli::parse();
    let settings = load_file(cli.global.ank_config.as_deref()).and_then(|file| {
        Settings::resolve_with(&cli.global, |name| std::env::var(name).ok(), &file)
    });
    let mut ui = Ui::terminal(cli.global.quiet);
    let result = match settings {
        Ok(settings) => {
            init_tracing(settings.verbose);
            for warning in &settings.connect.warnings {
                tracing::warn!("{warning}");
            }
            // The config file may set `quiet` too.
            ui = Ui::terminal(settings.quiet);
            run(&mut ui, &cli, settings)
        }
        Err(e) => Err(CliError::Usage {
            message: format!("{e:#}"),
            hint: Some("fix the config file, or name another with --config".into()),
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if !error.is_broken_pipe() {
                let _ = ui.out().flush();
                let mut stderr = std::io::stderr();
                let _ = error.print(&mut stderr);
            }
            ExitCode::from(error.exit_code())
        }
    }
}

/// Prints the completion script `COMPLETE` asked for.
fn complete(shell: Result<clap_complete::Shell, CliError>) -> ExitCode {
    let mut ui = Ui::terminal(false);
    let result = shell.and_then(|shell| {
        completion::run(&mut ui, &completion::CompletionArgs { shell })?;
        ui.out().flush().map_err(CliError::from)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = error.print(&mut std::io::stderr());
            // Ankaios' clap rejects an unknown shell as a usage error: 2.
            ExitCode::from(2)
        }
    }
}

fn run(ui: &mut Ui, cli: &Cli, settings: Settings) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Other(anyhow::Error::from(e).context("starting the runtime")))?;
    let result = runtime.block_on(ank_cli::run(ui, cli, settings));
    ui.out().flush().map_err(CliError::from).and(result)
}

/// Logs go to stderr; `-v` shows ank's debug output, `-vv` everything at trace. RUST_LOG wins.
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "warn,ank_cli=debug,ank_bus=debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
