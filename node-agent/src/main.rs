//! `ank-agent`: a thin shell. Parse flags, set up tracing (`RUST_LOG`, default `info`), resolve
//! the settings (flag > env > file > default), run until SIGTERM or SIGINT, and map a failure to
//! exit code 1. The agent itself is `ank_agent::run`.

use clap::Parser;

use ank_agent::AgentArgs;
use ank_bus::Shutdown;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = AgentArgs::parse();
    let result = match args.load() {
        Ok(config) => {
            for warning in &config.warnings {
                tracing::warn!("{warning}");
            }
            let shutdown = Shutdown::install();
            ank_agent::run(config, async move {
                shutdown.wait().await;
            })
            .await
        }
        Err(error) => Err(error),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
