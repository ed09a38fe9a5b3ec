//! `ank-controller`: parses the flags, sets up logging (`RUST_LOG`, default `info`), resolves the
//! configuration and runs the controller until SIGINT or SIGTERM. Exit codes: 0 after a clean
//! shutdown, 1 on any error (printed as `error: …` with its causes), 2 for bad flags (clap).

use std::process::ExitCode;

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
        runtime.block_on(run(config, shutdown_signal()))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGINT or SIGTERM (systemd's stop).
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM ({e}); only Ctrl+C stops the controller");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
