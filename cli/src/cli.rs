//! The root of the command line: the global options every subcommand takes, and the
//! subcommands (`commands/`). The doc comments here are the `--help` text.

use std::path::PathBuf;
use std::time::Duration;

use ank_bus::{ConnectArgs, Program};
use clap::{Args, Parser};

use crate::commands::Command;

/// ank: manage workloads of an ankmq (Ankaios over MQTT) cluster.
///
/// Reads come straight from the broker's retained topics and work while the controller is down;
/// changes are requests to the controller, which ank follows until every workload they touch
/// has reached its final state.
///
/// Exit codes: 0 success; 1 refused request, connection error or timeout; 2 usage error; 3 the
/// change was applied but a workload ended Failed(*) or Pending(StartingFailed).
#[derive(Debug, Parser)]
#[command(
    name = "ank",
    version,
    propagate_version = true,
    max_term_width = 100,
    mut_args(Program::Cli.with_env())
)]
pub struct Cli {
    /// Options for every command.
    #[command(flatten, next_help_heading = "Global options")]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options for every command. Precedence: flag, then environment, then the config file, then the
/// built-in default.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// How to reach the broker (shared with ank-controller and ank-agent).
    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Config file, ours or Ankaios' ank.conf [default: the first that exists of
    /// ~/.config/ankmq/ank.toml, ~/.config/ankaios/ank.conf, /etc/ankaios/ank.conf]
    // `--config` is taken: `ank run workload --config` is Ankaios' runtime config. Ankaios names
    // its config file option `-x/--ank-config`, so we do too.
    #[arg(
        short = 'x',
        long = "ank-config",
        env = "ANK_CONFIG",
        hide_env_values = true,
        global = true,
        value_name = "FILE"
    )]
    pub ank_config: Option<PathBuf>,

    /// Print debug output on stderr (-vv for more)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print no status or progress, only the requested data and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// How long to wait for the controller's answer, in ms or with a unit (5s) [default: 3000]
    #[arg(long, value_parser = parse_duration, global = true, value_name = "TIME")]
    pub response_timeout: Option<Duration>,

    /// Do not wait for workloads to reach their final states after a change
    #[arg(long, global = true)]
    pub no_wait: bool,

    /// Give up waiting for workloads after this long, in ms or with a unit (2m) [default: no limit]
    #[arg(long, value_parser = parse_duration, global = true, value_name = "TIME")]
    pub timeout: Option<Duration>,
}

/// The longest duration any flag or config key of `ank` takes. Longer ones are surely typos, and
/// unbounded ones overflow the clock when added to "now" (issue 11: `--timeout
/// 18446744073709551615s` panicked).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// A duration as Ankaios writes it (plain milliseconds) or with a unit (`500ms`, `5s`, `2m`), at
/// most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<u64>() {
        Ok(ms) => Duration::from_millis(ms),
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| format!("{e} (use milliseconds, or a unit: 500ms, 5s, 2m)"))?,
    };
    bounded_duration(duration).map_err(|too_long| format!("`{text}` {too_long}"))
}

/// Refuses durations over [`MAX_DURATION`], naming the limit.
pub fn bounded_duration(duration: Duration) -> Result<Duration, String> {
    if duration > MAX_DURATION {
        return Err("is too long: at most 365 days".to_owned());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_global_option_does_not_clash_with_a_subcommand_option() {
        // debug_assert misses clashes of a global with a subcommand's own argument id.
        let cli = Cli::try_parse_from([
            "ank",
            "-x",
            "/f.toml",
            "run",
            "workload",
            "w",
            "--runtime",
            "podman",
            "--agent",
            "a",
            "--config",
            "image: x",
        ])
        .expect("parses");
        assert_eq!(
            cli.global.ank_config.as_deref(),
            Some(std::path::Path::new("/f.toml"))
        );
    }

    #[test]
    fn durations_take_plain_milliseconds_or_a_unit() {
        for (text, expected) in [
            ("3000", Some(Duration::from_secs(3))),
            ("500ms", Some(Duration::from_millis(500))),
            ("5s", Some(Duration::from_secs(5))),
            ("2m", Some(Duration::from_secs(120))),
            ("soon", None),
            ("-1", None),
            ("365days", Some(MAX_DURATION)),
            ("366days", None),
            ("31536000001", None),
            ("18446744073709551615s", None),
            ("18446744073709551615", None),
        ] {
            assert_eq!(parse_duration(text).ok(), expected, "{text}");
        }
    }

    #[test]
    fn issue_16_ankaios_insecure_and_pem_spellings_are_accepted() {
        let cli = Cli::try_parse_from([
            "ank",
            "-k",
            "--ca_pem",
            "/ca",
            "--crt_pem",
            "/crt",
            "--key_pem",
            "/key",
            "get",
            "agents",
        ])
        .expect("Ankaios' spellings parse");
        let connect = &cli.global.connect;
        assert!(connect.insecure);
        assert_eq!(connect.ca_pem.as_deref(), Some(std::path::Path::new("/ca")));
        assert_eq!(
            connect.crt_pem.as_deref(),
            Some(std::path::Path::new("/crt"))
        );
        assert_eq!(
            connect.key_pem.as_deref(),
            Some(std::path::Path::new("/key"))
        );
        assert!(Cli::try_parse_from(["ank", "get", "agents", "--insecure"]).is_ok());
    }

    #[test]
    fn issue_11_an_absurd_duration_is_refused_with_the_limit() {
        let error = parse_duration("18446744073709551615s").expect_err("refused");
        assert!(error.contains("too long: at most 365 days"), "{error}");
        let cli =
            Cli::try_parse_from(["ank", "--timeout", "18446744073709551615s", "get", "agents"]);
        let error = cli.expect_err("a usage error").to_string();
        assert!(
            error.contains("--timeout") && error.contains("too long"),
            "{error}"
        );
    }
}
