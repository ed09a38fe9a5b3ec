//! `ank-broker`: the embedded broker as its own process. A thin shell over the library: parse
//! flags, set up tracing (`RUST_LOG`), resolve settings (flag > env > file > default), run until
//! SIGTERM or SIGINT, map failures to exit code 1.

use ank_broker::{BrokerArgs, BrokerSettings};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The ankmq MQTT broker (serves by default).
#[derive(Debug, Parser)]
#[command(name = "ank-broker", version, args_conflicts_with_subcommands = true)]
struct Cli {
    /// TOML file with the broker settings (flags and environment win over it)
    #[arg(long, value_name = "FILE", env = "ANK_BROKER_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    broker: BrokerArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Add a user to a password file or change its password. The password is read from stdin
    /// (first line) when stdin is not a terminal, else prompted for.
    Passwd {
        /// The password file; created with mode 0600 if missing
        file: PathBuf,
        /// `controller`, `agent-<name>` or a CLI user name
        user: String,
    },
    /// Print the least-privilege ACL for the given identities as a Mosquitto acl_file (the same
    /// file `ank-broker --acl` loads).
    Acl {
        /// Topic prefix
        #[arg(long, default_value = ank_schemas::DEFAULT_PREFIX)]
        prefix: String,
        /// Agent names (they log in as `agent-<name>`)
        #[arg(long, value_delimiter = ',')]
        agents: Vec<String>,
        /// CLI user names
        #[arg(long, value_delimiter = ',')]
        users: Vec<String>,
        /// Also take every username of this password file (roles by naming convention)
        #[arg(long, value_name = "FILE")]
        from_passwd: Option<PathBuf>,
        /// Leave out the `controller` identity
        #[arg(long)]
        no_controller: bool,
    },
    /// A secure installation in one step: writes into DIR (created 0700) a CA, a server
    /// certificate, a client certificate and a password for the controller, each agent, each CLI
    /// user and the read-only `viewer` (keys and passwords 0600), the password files of the
    /// embedded broker and Mosquitto, the generated ACL, Mosquitto configurations and an `ank`
    /// config; prints how to start everything with them. Never overwrites a file.
    Setup {
        /// The directory to write (created if missing; must not hold an earlier setup)
        dir: PathBuf,
        /// Topic prefix of the ACL
        #[arg(long, default_value = ank_schemas::DEFAULT_PREFIX)]
        prefix: String,
        /// Agent names (each logs in as `agent-<name>`)
        #[arg(long = "agent", value_delimiter = ',', default_value = "agent_A")]
        agents: Vec<String>,
        /// CLI user names; the first gets a ready `ank` config, `DIR/<user>.toml`
        #[arg(long = "user", value_delimiter = ',', default_value = "operator")]
        users: Vec<String>,
        /// Names and addresses clients reach the broker by (the server certificate's)
        #[arg(
            long = "server-name",
            value_delimiter = ',',
            default_value = "127.0.0.1,localhost"
        )]
        server_names: Vec<String>,
        /// The TLS listener address (instructions and Mosquitto config)
        #[arg(long, default_value_t = ank_broker::DEFAULT_TLS_LISTEN)]
        tls_listen: std::net::SocketAddr,
        /// The password-login listener address (instructions and Mosquitto config)
        #[arg(long, default_value = ank_broker::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
        /// Days the certificates are valid
        #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
        days: u32,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Err(error) = run(cli) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => serve(cli.config, &cli.broker),
        Some(Command::Passwd { file, user }) => {
            let password = ank_broker::read_password(&format!("password for {user}: "))
                .context("reading the password")?;
            ank_broker::set_password(&file, &user, &password)?;
            eprintln!("{user} set in {}", file.display());
            Ok(())
        }
        Some(Command::Acl {
            prefix,
            agents,
            users,
            from_passwd,
            no_controller,
        }) => {
            let topics = ank_schemas::Topics::new(&prefix)?;
            let mut names: Vec<String> = Vec::new();
            if !no_controller {
                names.push(ank_broker::CONTROLLER_USER.to_owned());
            }
            names.extend(agents.iter().map(|a| ank_broker::agent_username(a)));
            names.extend(users);
            if let Some(path) = from_passwd {
                let file = ank_broker::PasswordFile::load(&path)?;
                names.extend(file.usernames().map(str::to_owned));
            }
            let acl = ank_broker::acl_for_users(&topics, names.iter().map(String::as_str))?;
            print!("# ank-broker acl --prefix {prefix}\n{acl}");
            Ok(())
        }
        Some(Command::Setup {
            dir,
            prefix,
            agents,
            users,
            server_names,
            tls_listen,
            listen,
            days,
        }) => {
            let options = ank_broker::SetupOptions {
                prefix,
                agents,
                users,
                server_names,
                tls_listen,
                listen,
                valid_for: std::time::Duration::from_secs(u64::from(days) * 86_400),
            };
            let readme = ank_broker::write_setup(&dir, &options)
                .with_context(|| format!("setting up {}", dir.display()))?;
            print!("{readme}");
            Ok(())
        }
    }
}

fn serve(config_file: Option<PathBuf>, args: &BrokerArgs) -> Result<()> {
    let file = match &config_file {
        Some(path) => BrokerSettings::load(path)?,
        None => BrokerSettings::default(),
    };
    let config = args.resolve(&file)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async {
        // Before the broker listens: a SIGTERM right after "listening" must stop it cleanly.
        let shutdown = shutdown_signal()?;
        let broker = ank_broker::start(config).await?;
        eprintln!("ank-broker listening on {}", broker.mqtt_addr());
        if let Some(addr) = broker.dashboard_addr() {
            eprintln!("dashboard at http://{addr}/");
        }
        let signal = shutdown.await;
        tracing::info!("{signal}: stopping");
        broker.stop().await;
        Ok(())
    })
}

/// Installs the SIGTERM and SIGINT handlers now and returns the wait for the first of them.
/// (The controller and the agent use `ank_bus::Shutdown`; this binary does not link ank-bus.)
fn shutdown_signal() -> Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("watching SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("watching SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn a_bad_invocation_is_refused() {
        assert!(Cli::try_parse_from(["ank-broker", "passwd"]).is_err());
        assert!(Cli::try_parse_from(["ank-broker", "--listen", "x"]).is_err());
        assert!(Cli::try_parse_from(["ank-broker", "--in-memory", "--storage-dir", "/d"]).is_err());
    }
}
