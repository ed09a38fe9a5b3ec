//! The settings a command runs with, merged from flags and environment (both parsed by clap),
//! the config file and the built-in defaults, in that order of precedence.
//!
//! The config file is TOML at `~/.config/ankmq/ank.toml` (or `--config`). Unknown keys are an
//! error, so a typo cannot silently drop a setting. A missing default file is fine; a missing
//! file named explicitly is not.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::cli::{bounded_duration, parse_duration, GlobalArgs};

/// The broker when nothing says otherwise.
pub const DEFAULT_BROKER: &str = "mqtt://127.0.0.1:1883";
/// Ankaios' default response timeout.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(3000);

/// `ank.toml`: every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `broker = "mqtt://…"`.
    pub broker: Option<String>,
    /// `topic_prefix = "ank/v1"`.
    pub topic_prefix: Option<String>,
    /// `username = "…"`.
    pub username: Option<String>,
    /// `password = "…"`.
    pub password: Option<String>,
    /// `ca_file = "/path/ca.pem"`.
    pub ca_file: Option<PathBuf>,
    /// `cert_file = "/path/client.pem"`.
    pub cert_file: Option<PathBuf>,
    /// `key_file = "/path/client.key"`.
    pub key_file: Option<PathBuf>,
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
    /// The topic prefix.
    pub topic_prefix: String,
    /// MQTT user name.
    pub username: Option<String>,
    /// MQTT password.
    pub password: Option<String>,
    /// CA file for TLS.
    pub ca_file: Option<PathBuf>,
    /// Client certificate for TLS.
    pub cert_file: Option<PathBuf>,
    /// Its key.
    pub key_file: Option<PathBuf>,
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
    /// Merges flags (and environment) over the file over the defaults.
    pub fn resolve(flags: &GlobalArgs, file: &FileConfig) -> anyhow::Result<Settings> {
        let file_duration =
            |d: &Option<TomlDuration>, key| d.as_ref().map(|d| d.get(key)).transpose();
        Ok(Settings {
            broker: pick(&flags.broker, &file.broker).unwrap_or_else(|| DEFAULT_BROKER.to_owned()),
            topic_prefix: pick(&flags.topic_prefix, &file.topic_prefix)
                .unwrap_or_else(|| ank_schemas::DEFAULT_PREFIX.to_owned()),
            username: pick(&flags.username, &file.username),
            password: pick(&flags.password, &file.password),
            ca_file: pick(&flags.ca_file, &file.ca_file),
            cert_file: pick(&flags.cert_file, &file.cert_file),
            key_file: pick(&flags.key_file, &file.key_file),
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

fn pick<T: Clone>(flag: &Option<T>, file: &Option<T>) -> Option<T> {
    flag.clone().or_else(|| file.clone())
}

/// The default config file, `$XDG_CONFIG_HOME/ankmq/ank.toml` or `~/.config/ankmq/ank.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("ankmq").join("ank.toml"))
}

/// Reads the config file: `explicit` must exist; the default one may be missing.
pub fn load_file(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
    let (path, required) = match explicit {
        Some(p) => (p.to_owned(), true),
        None => match default_config_path() {
            Some(p) => (p, false),
            None => return Ok(FileConfig::default()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(FileConfig::default())
        }
        Err(e) => {
            return Err(e).with_context(|| format!("reading the config file {}", path.display()))
        }
    };
    let config: FileConfig =
        toml::from_str(&text).with_context(|| format!("in the config file {}", path.display()))?;
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
        toml::from_str(toml).expect("valid toml")
    }

    #[test]
    fn flags_beat_the_file_which_beats_the_defaults() {
        let none = GlobalArgs::default();
        let flags = GlobalArgs {
            broker: Some("mqtt://flag:1".into()),
            response_timeout: Some(Duration::from_millis(10)),
            ..GlobalArgs::default()
        };
        let f = file("broker = \"mqtt://file:2\"\ntopic_prefix = \"v/VIN/ank/v1\"\nresponse_timeout = \"5s\"\nno_wait = true\n");
        // (flags, file, broker, prefix, response timeout, no_wait)
        let cases = [
            (
                &none,
                FileConfig::default(),
                DEFAULT_BROKER,
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
                    s.topic_prefix.as_str(),
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
        assert!(toml::from_str::<FileConfig>("brokr = \"x\"").is_err());
        let bad = file("timeout = \"soon\"");
        assert!(Settings::resolve(&GlobalArgs::default(), &bad).is_err());
        assert_eq!(
            Settings::resolve(&GlobalArgs::default(), &file("timeout = 1500"))
                .expect("resolves")
                .timeout,
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let missing = Path::new("/nonexistent/ank.toml");
        assert!(load_file(Some(missing)).is_err());
    }
}
