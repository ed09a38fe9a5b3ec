//! `ank-controller`: parses the flags, sets up logging (`RUST_LOG`, default `info`), resolves the
//! configuration and runs the controller until SIGINT or SIGTERM. Exit codes: 0 after a clean
//! shutdown, 1 on any error (printed as `error: …` with its causes), 2 for bad flags (clap).

use std::process::ExitCode;

use ank_bus::Shutdown;
use ank_controller::{run, Args};
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = args.load().and_then(|config| {
        for warning in &config.connect.warnings {
            tracing::warn!("{warning}");
        }
        let runtime = ank_controller::runtime::build()?;
        runtime.block_on(async {
            let shutdown = Shutdown::install();
            run(config, async move {
                shutdown.wait().await;
            })
            .await
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
