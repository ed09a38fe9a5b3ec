//! The settings a command runs with, merged from flags and environment (both parsed by clap),
//! the config file and the built-in defaults, in that order of precedence.
//!
//! The config file is TOML at `~/.config/ankmq/ank.toml` (or `-x`), or Ankaios' `ank.conf`
//! (`~/.config/ankaios/ank.conf`, `/etc/ankaios/ank.conf`; its `[default]` table is read as if
//! its keys were at the top). The connection keys are the bus's [`ConnectFile`]. Unknown keys are
//! an error naming the key and the file, so a typo cannot silently drop a setting. A missing
//! default file is fine; a missing file named explicitly is not.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ank_bus::{ConnectFile, ConnectSettings, Program};
use anyhow::{bail, Context};
use serde::Deserialize;

use crate::cli::{bounded_duration, parse_duration, GlobalArgs};

/// Ankaios' default response timeout.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(3000);

/// `ank.toml` (or Ankaios' `ank.conf`): every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The connection keys (`broker`, `ca_pem`, Ankaios' `server_url`, …), taken out first.
    #[serde(skip)]
    pub connect: ConnectFile,
    /// `response_timeout = "5s"` or `3000` (ms).
    pub response_timeout: Option<TomlDuration>,
    /// `timeout = "2m"`.
    pub timeout: Option<TomlDuration>,
    /// `verbose = true`.
    pub verbose: Option<bool>,
    /// `quiet = true`.
    pub quiet: Option<bool>,
    /// `no_wait = true`.
    pub no_wait: Option<bool>,
}

/// A duration in the config file: milliseconds as a number, or a string with a unit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum TomlDuration {
    /// `3000`
    Millis(u64),
    /// `"5s"`
    Text(String),
}

impl TomlDuration {
    fn get(&self, key: &str) -> anyhow::Result<Duration> {
        match self {
            TomlDuration::Millis(ms) => bounded_duration(Duration::from_millis(*ms))
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("config key `{key}`")),
            TomlDuration::Text(t) => parse_duration(t)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("config key `{key}`")),
        }
    }
}

/// Everything a command needs to know about how to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The broker URL.
    pub broker: String,
    /// Topics, credentials and TLS files.
    pub connect: ConnectSettings,
    /// Verbosity: 0 normal, 1 debug, 2 trace.
    pub verbose: u8,
    /// No status output.
    pub quiet: bool,
    /// How long to wait for a response (and for a retained read).
    pub response_timeout: Duration,
    /// Do not wait for workloads after a change.
    pub no_wait: bool,
    /// Give up waiting for workloads after this long.
    pub timeout: Option<Duration>,
}

impl Settings {
    /// Merges flags (and environment) over the file over the defaults, without environment
    /// aliases: what tests use.
    pub fn resolve(flags: &GlobalArgs, file: &FileConfig) -> anyhow::Result<Settings> {
        Self::resolve_with(flags, |_| None, file)
    }

    /// Merges flags (and environment: clap's, and `env` for the aliases of the connection
    /// settings) over the file over the defaults.
    pub fn resolve_with(
        flags: &GlobalArgs,
        env: impl Fn(&str) -> Option<String>,
        file: &FileConfig,
    ) -> anyhow::Result<Settings> {
        let file_duration =
            |d: &Option<TomlDuration>, key| d.as_ref().map(|d| d.get(key)).transpose();
        let connect = flags.connect.resolve(Program::Cli, env, &file.connect)?;
        Ok(Settings {
            broker: connect.broker_url(),
            connect,
            verbose: if flags.verbose > 0 {
                flags.verbose
            } else {
                u8::from(file.verbose.unwrap_or(false))
            },
            quiet: flags.quiet || file.quiet.unwrap_or(false),
            response_timeout: match flags.response_timeout {
                Some(d) => d,
                None => file_duration(&file.response_timeout, "response_timeout")?
                    .unwrap_or(DEFAULT_RESPONSE_TIMEOUT),
            },
            no_wait: flags.no_wait || file.no_wait.unwrap_or(false),
            timeout: match flags.timeout {
                Some(d) => Some(d),
                None => file_duration(&file.timeout, "timeout")?,
            },
        })
    }
}

/// The default config file, `$XDG_CONFIG_HOME/ankmq/ank.toml` or `~/.config/ankmq/ank.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("ankmq").join("ank.toml"))
}

/// The config files looked for without `-x`, first found wins: ours, then Ankaios' user and
/// system `ank.conf`.
pub fn default_config_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = default_config_path().into_iter().collect();
    if let Some(home) = std::env::var_os("HOME") {
        paths.push(PathBuf::from(home).join(".config/ankaios/ank.conf"));
    }
    paths.push(PathBuf::from("/etc/ankaios/ank.conf"));
    paths
}

/// Parses the text of `ank.toml` or Ankaios' `ank.conf`.
pub fn parse_file(text: &str) -> anyhow::Result<FileConfig> {
    let mut table: toml::Table = toml::from_str(text)?;
    // Ankaios' `[default]` table is its only context: its keys count as top-level ones.
    if let Some(default) = table.remove("default") {
        let toml::Value::Table(default) = default else {
            bail!("`default` must be a table ([default])");
        };
        for (key, value) in default {
            if table.contains_key(&key) {
                bail!("`{key}` is set both at the top and in [default]; keep one");
            }
            table.insert(key, value);
        }
    }
    let connect = ConnectFile::take(&mut table, Program::Cli)?;
    let mut config: FileConfig = toml::Value::Table(table).try_into()?;
    config.connect = connect;
    Ok(config)
}

/// Reads the config file: `explicit` must exist; the default ones may be missing.
pub fn load_file(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
    let (candidates, required) = match explicit {
        Some(p) => (vec![p.to_owned()], true),
        None => (default_config_paths(), false),
    };
    let mut found = None;
    for path in candidates {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                found = Some((path, text));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading the config file {}", path.display()))
            }
        }
    }
    let Some((path, text)) = found else {
        return Ok(FileConfig::default());
    };
    let config =
        parse_file(&text).with_context(|| format!("in the config file {}", path.display()))?;
    if config.quiet == Some(true) && config.verbose == Some(true) {
        bail!(
            "the config file {} sets both `quiet` and `verbose`",
            path.display()
        );
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(toml: &str) -> FileConfig {
        parse_file(toml).expect("valid toml")
    }

    #[test]
    fn flags_beat_the_file_which_beats_the_defaults() {
        let none = GlobalArgs::default();
        let flags = GlobalArgs {
            connect: ank_bus::ConnectArgs {
                broker: Some("mqtt://flag:1".into()),
                ..Default::default()
            },
            response_timeout: Some(Duration::from_millis(10)),
            ..GlobalArgs::default()
        };
        let f = file("broker = \"mqtt://file:2\"\ntopic_prefix = \"v/VIN/ank/v1\"\nresponse_timeout = \"5s\"\nno_wait = true\n");
        // (flags, file, broker, prefix, response timeout, no_wait)
        let cases = [
            (
                &none,
                FileConfig::default(),
                ank_bus::DEFAULT_BROKER,
                "ank/v1",
                DEFAULT_RESPONSE_TIMEOUT,
                false,
            ),
            (
                &none,
                f.clone(),
                "mqtt://file:2",
                "v/VIN/ank/v1",
                Duration::from_secs(5),
                true,
            ),
            (
                &flags,
                f.clone(),
                "mqtt://flag:1",
                "v/VIN/ank/v1",
                Duration::from_millis(10),
                true,
            ),
            (
                &flags,
                FileConfig::default(),
                "mqtt://flag:1",
                "ank/v1",
                Duration::from_millis(10),
                false,
            ),
        ];
        for (i, (flags, file, broker, prefix, rt, no_wait)) in cases.into_iter().enumerate() {
            let s = Settings::resolve(flags, &file).expect("resolves");
            assert_eq!(
                (
                    s.broker.as_str(),
                    s.connect.topics.prefix(),
                    s.response_timeout,
                    s.no_wait
                ),
                (broker, prefix, rt, no_wait),
                "case {i}"
            );
        }
    }

    #[test]
    fn the_file_refuses_unknown_keys_and_bad_durations() {
        assert!(parse_file("brokr = \"x\"").is_err());
        let bad = file("timeout = \"soon\"");
        assert!(Settings::resolve(&GlobalArgs::default(), &bad).is_err());
        assert_eq!(
            Settings::resolve(&GlobalArgs::default(), &file("timeout = 1500"))
                .expect("resolves")
                .timeout,
            Some(Duration::from_millis(1500))
        );
    }

    /// Ankaios' ank.conf as its docs write it (reference §6.3).
    const ANKAIOS_ANK_CONF: &str = r#"
version = 'v1'
response_timeout = 3000
verbose = false
quiet = false
no_wait = false

[default]
server_url = 'https://127.0.0.1:25551'
insecure = true
"#;

    #[test]
    fn issue_16_ankaios_ank_conf_is_accepted_as_it_comes() {
        let f = file(ANKAIOS_ANK_CONF);
        let s = Settings::resolve(&GlobalArgs::default(), &f).expect("resolves");
        assert_eq!(s.broker, ank_bus::DEFAULT_BROKER, "a gRPC URL is no broker");
        assert_eq!(s.response_timeout, Duration::from_millis(3000));
        assert!(s.connect.insecure && !s.quiet && !s.no_wait);
        assert!(s.connect.warnings[0].contains("server_url"), "{s:?}");

        let f = file(
            "version = 'v1'\n[default]\nserver_url = 'mqtts://vehicle:8883'\n\
             ca_pem = '/c/ca.pem'\ncrt_pem = '/c/cli.pem'\nkey_pem = '/c/cli-key.pem'\n",
        );
        let s = Settings::resolve(&GlobalArgs::default(), &f).expect("resolves");
        assert_eq!(s.broker, "mqtts://vehicle:8883");
        assert!(s.connect.tls.is_some());
    }

    #[test]
    fn issue_16_unknown_keys_in_ank_conf_are_errors_naming_the_key() {
        for (text, key) in [
            ("version = 'v1'\n[default]\nserver_ur = 'x'\n", "server_ur"),
            ("version = 'v1'\nrespons_timeout = 1\n", "respons_timeout"),
            ("insecure = true\n[default]\ninsecure = true\n", "insecure"),
        ] {
            let error = format!("{:#}", parse_file(text).expect_err(text));
            assert!(error.contains(key), "{text}: {error}");
        }
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let missing = Path::new("/nonexistent/ank.toml");
        assert!(load_file(Some(missing)).is_err());
    }
}
