//! Chooses where the watcher (`events.rs`) reads podman's events from: podman's file events log,
//! tailed with inotify (`events_tail.rs`, no podman process), when podman logs to a file whose
//! path this agent can tell for sure; otherwise a `podman events` child, as before (21–35 MiB of
//! RSS for as long as the agent runs; issue 17, figure 7h). Reading either is `events_stream.rs`.
//!
//! The path is podman 4.3.1's: `events_logfile_path` if a containers.conf sets it, else
//! `<tmp_dir>/events/events.log`, with `tmp_dir` from a containers.conf or podman's default for
//! this user (`exit_files::default_tmp_dir`). The containers.conf files are the one in
//! `CONTAINERS_CONF` when it is set (podman then reads no other), else the system and user
//! files, later ones overriding earlier ones. Anything this module cannot be sure of picks the
//! child: another logger than `file` (`journald`, `none`), a file it cannot read or parse, a
//! value with a `$`, a relative path, drop-in directories (`containers.conf.d`),
//! `CONTAINERS_CONF_OVERRIDE`, or a podman that is the client of a remote service. The choice
//! is pure ([`choose`]); [`detect`] gathers its inputs (one `podman info`, the files) and logs
//! at info which source it took and why.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::podman_cli::PodmanCli;

/// How long the `podman info` of [`detect`] may take.
const INFO_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the watcher reads events from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Tail podman's file events log at this path.
    Tail(PathBuf),
    /// Run `podman events`, for this reason.
    Child(String),
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Tail(path) => write!(f, "tail {}", path.display()),
            Choice::Child(reason) => write!(f, "podman events ({reason})"),
        }
    }
}

/// One containers.conf as read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfRead {
    /// There is no such file.
    Missing,
    /// Its text.
    Text(String),
    /// It is there but was not read (or cannot be), for this reason.
    Unreadable(String),
}

/// The containers.conf files podman 4.3.1 reads, in order (later ones override earlier ones):
/// only `containers_conf` when that variable is set, else the system files and, rootless, the
/// user's (`config_home`: `$XDG_CONFIG_HOME`, or `$HOME/.config`).
pub fn conf_files(
    containers_conf: Option<&Path>,
    root: bool,
    config_home: Option<&Path>,
) -> Vec<PathBuf> {
    if let Some(path) = containers_conf.filter(|p| !p.as_os_str().is_empty()) {
        return vec![path.to_owned()];
    }
    let mut files = vec![
        PathBuf::from("/usr/share/containers/containers.conf"),
        PathBuf::from("/etc/containers/containers.conf"),
    ];
    if !root {
        if let Some(home) = config_home {
            files.push(home.join("containers").join("containers.conf"));
        }
    }
    files
}

/// The source for a podman that reports `logger` (`podman info`'s `host.eventLogger`, `None` if
/// it could not be asked), with `confs` in podman's order and `default_tmp` its default
/// `tmp_dir` for this user.
pub fn choose(
    logger: Option<&str>,
    confs: &[(PathBuf, ConfRead)],
    default_tmp: Option<&Path>,
) -> Choice {
    match logger {
        Some("file") => {}
        Some(other) => return Choice::Child(format!("podman logs events to {other:?}")),
        None => return Choice::Child("podman info did not say where podman logs events".into()),
    }
    let mut log_path = None;
    let mut tmp_dir = None;
    for (path, read) in confs {
        let text = match read {
            ConfRead::Missing => continue,
            ConfRead::Text(text) => text,
            ConfRead::Unreadable(reason) => {
                return Choice::Child(format!("{}: {reason}", path.display()))
            }
        };
        let table: toml::Table = match text.parse() {
            Ok(table) => table,
            Err(error) => {
                return Choice::Child(format!(
                    "{} is not TOML: {}",
                    path.display(),
                    error.message()
                ))
            }
        };
        let Some(engine) = table.get("engine") else {
            continue;
        };
        for (key, slot) in [
            ("events_logfile_path", &mut log_path),
            ("tmp_dir", &mut tmp_dir),
        ] {
            match engine.get(key) {
                None => {}
                Some(toml::Value::String(value)) => *slot = Some(value.clone()),
                Some(_) => {
                    return Choice::Child(format!("{}: {key} is not a string", path.display()))
                }
            }
        }
    }
    let usable = |value: &str, key: &str| -> Result<PathBuf, Choice> {
        let path = Path::new(value);
        if value.contains('$') || !path.is_absolute() {
            return Err(Choice::Child(format!(
                "{key} {value:?} is not a plain absolute path"
            )));
        }
        Ok(path.to_owned())
    };
    let path = match (log_path.filter(|p| !p.is_empty()), tmp_dir) {
        (Some(log), _) => usable(&log, "events_logfile_path"),
        (None, Some(tmp)) => usable(&tmp, "tmp_dir").map(|dir| dir.join("events/events.log")),
        (None, None) => match default_tmp {
            Some(dir) => Ok(dir.join("events/events.log")),
            None => Err(Choice::Child(
                "no XDG_RUNTIME_DIR, so podman's tmp_dir is unknown".into(),
            )),
        },
    };
    match path {
        Ok(path) => Choice::Tail(path),
        Err(child) => child,
    }
}

/// podman's `host.eventLogger`, from `podman info --format json`.
pub fn event_logger(info_json: &str) -> Option<String> {
    let info: serde_json::Value = serde_json::from_str(info_json).ok()?;
    info.pointer("/host/eventLogger")?
        .as_str()
        .map(str::to_owned)
}

/// Whether `podman info` describes a remote service (`podman --remote`, `CONTAINER_HOST`): its
/// log is on another machine.
pub fn is_remote(info_json: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(info_json)
        .ok()
        .and_then(|info| info.pointer("/host/serviceIsRemote")?.as_bool())
        .unwrap_or(false)
}

/// Gathers what [`choose`] needs for `cli`'s podman and chooses, logging the choice at info.
pub async fn detect(cli: &PodmanCli) -> Choice {
    let choice = gather_and_choose(cli).await;
    tracing::info!(source = %choice, "podman events source");
    choice
}

async fn gather_and_choose(cli: &PodmanCli) -> Choice {
    for key in [
        "CONTAINERS_CONF_OVERRIDE",
        "CONTAINER_HOST",
        "CONTAINER_CONNECTION",
    ] {
        if cli.env_var(key).is_some() {
            return Choice::Child(format!("{key} is set"));
        }
    }
    let logger = match cli
        .run_within(&[], &["info", "--format", "json"], None, INFO_TIMEOUT)
        .await
    {
        Ok(json) if is_remote(&json) => {
            return Choice::Child("podman is a client of a remote service".into())
        }
        Ok(json) => event_logger(&json),
        Err(error) => {
            tracing::info!(%error, "podman info failed");
            None
        }
    };
    let root = rustix::process::geteuid().is_root();
    let containers_conf = cli.env_var("CONTAINERS_CONF").map(PathBuf::from);
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")));
    let mut confs: Vec<(PathBuf, ConfRead)> =
        conf_files(containers_conf.as_deref(), root, config_home.as_deref())
            .into_iter()
            .map(|path| {
                let read = read_conf(&path);
                (path, read)
            })
            .collect();
    if containers_conf.is_none() {
        // Drop-ins are not read here: if there are any, this agent cannot be sure of the path.
        let mut dirs = vec![
            PathBuf::from("/usr/share/containers/containers.conf.d"),
            PathBuf::from("/etc/containers/containers.conf.d"),
        ];
        if let (false, Some(home)) = (root, &config_home) {
            dirs.push(home.join("containers/containers.conf.d"));
        }
        for dir in dirs {
            let has_entries = std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some());
            if has_entries {
                confs.push((dir, ConfRead::Unreadable("drop-ins are not read".into())));
            }
        }
    }
    let default_tmp = super::exit_files::default_tmp_dir();
    choose(logger.as_deref(), &confs, default_tmp.as_deref())
}

/// The largest containers.conf read; a larger one picks the child.
const MAX_CONF_BYTES: u64 = 1024 * 1024;

fn read_conf(path: &Path) -> ConfRead {
    match std::fs::metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return ConfRead::Missing,
        Err(error) => return ConfRead::Unreadable(error.to_string()),
        Ok(meta) if meta.len() > MAX_CONF_BYTES => {
            return ConfRead::Unreadable(format!("larger than {MAX_CONF_BYTES} bytes"))
        }
        Ok(_) => {}
    }
    match std::fs::read_to_string(path) {
        Ok(text) => ConfRead::Text(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => ConfRead::Missing,
        Err(error) => ConfRead::Unreadable(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> (PathBuf, ConfRead) {
        (PathBuf::from("/c.conf"), ConfRead::Text(text.into()))
    }

    const RUN: &str = "/run/libpod";

    fn tail(path: &str) -> Choice {
        Choice::Tail(PathBuf::from(path))
    }

    fn is_child(choice: &Choice) -> bool {
        matches!(choice, Choice::Child(_))
    }

    #[test]
    fn issue_17_the_default_file_logger_is_tailed_at_podmans_default_path() {
        let default = Some(Path::new(RUN));
        assert_eq!(
            choose(Some("file"), &[], default),
            tail("/run/libpod/events/events.log")
        );
        // The test machines' containers.conf sets neither key.
        let test_env = conf(
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\"]\n\n[engine]\nruntime = \"runc\"\n",
        );
        let missing = (
            PathBuf::from("/etc/containers/containers.conf"),
            ConfRead::Missing,
        );
        assert_eq!(
            choose(Some("file"), &[missing, test_env], default),
            tail("/run/libpod/events/events.log")
        );
        // Rootless: podman's tmp_dir under XDG_RUNTIME_DIR.
        assert_eq!(
            choose(
                Some("file"),
                &[],
                Some(Path::new("/run/user/1000/libpod/tmp"))
            ),
            tail("/run/user/1000/libpod/tmp/events/events.log")
        );
    }

    #[test]
    fn a_containers_conf_path_or_tmp_dir_is_honoured_later_files_winning() {
        let default = Some(Path::new(RUN));
        assert_eq!(
            choose(
                Some("file"),
                &[conf("[engine]\ntmp_dir = \"/var/run/podman-tmp\"\n")],
                default
            ),
            tail("/var/run/podman-tmp/events/events.log")
        );
        assert_eq!(
            choose(
                Some("file"),
                &[
                    conf("[engine]\nevents_logfile_path = \"/var/log/a.log\"\n"),
                    conf("[engine]\ntmp_dir = \"/tmp/t\"\n"),
                ],
                default
            ),
            tail("/var/log/a.log"),
            "the log path wins over tmp_dir"
        );
        assert_eq!(
            choose(
                Some("file"),
                &[
                    conf("[engine]\nevents_logfile_path = \"/var/log/a.log\"\n"),
                    conf("[engine]\nevents_logfile_path = \"/var/log/b.log\"\n"),
                ],
                default
            ),
            tail("/var/log/b.log")
        );
        // An empty path is podman's "unset".
        assert_eq!(
            choose(
                Some("file"),
                &[conf("[engine]\nevents_logfile_path = \"\"\n")],
                default
            ),
            tail("/run/libpod/events/events.log")
        );
        // A key outside [engine] is not podman's.
        assert_eq!(
            choose(
                Some("file"),
                &[conf("[containers]\ntmp_dir = \"/x\"\n")],
                default
            ),
            tail("/run/libpod/events/events.log")
        );
    }

    #[test]
    fn issue_17_anything_uncertain_falls_back_to_the_child() {
        let default = Some(Path::new(RUN));
        for (logger, confs) in [
            (Some("journald"), vec![]),
            (Some("none"), vec![]),
            (None, vec![]),
            (Some("file"), vec![conf("[engine\n")]),
            (Some("file"), vec![conf("[engine]\ntmp_dir = 3\n")]),
            (
                Some("file"),
                vec![conf("[engine]\nevents_logfile_path = \"$HOME/e.log\"\n")],
            ),
            (
                Some("file"),
                vec![conf("[engine]\nevents_logfile_path = \"e.log\"\n")],
            ),
            (Some("file"), vec![conf("[engine]\ntmp_dir = \"rel\"\n")]),
            (
                Some("file"),
                vec![(
                    PathBuf::from("/etc/containers/containers.conf.d"),
                    ConfRead::Unreadable("drop-ins are not read".into()),
                )],
            ),
        ] {
            let choice = choose(logger, &confs, default);
            assert!(is_child(&choice), "{logger:?} {confs:?}: {choice}");
        }
        // Rootless without XDG_RUNTIME_DIR: the default tmp_dir is unknown.
        assert!(is_child(&choose(Some("file"), &[], None)));
        // ... unless a containers.conf says it.
        assert_eq!(
            choose(Some("file"), &[conf("[engine]\ntmp_dir = \"/t\"\n")], None),
            tail("/t/events/events.log")
        );
    }

    #[test]
    fn containers_conf_replaces_the_system_files() {
        assert_eq!(
            conf_files(Some(Path::new("/x/c.conf")), true, None),
            [PathBuf::from("/x/c.conf")]
        );
        assert_eq!(
            conf_files(None, true, Some(Path::new("/root/.config"))),
            [
                PathBuf::from("/usr/share/containers/containers.conf"),
                PathBuf::from("/etc/containers/containers.conf"),
            ]
        );
        assert_eq!(
            conf_files(
                Some(Path::new("")),
                false,
                Some(Path::new("/home/u/.config"))
            )
            .last()
            .cloned(),
            Some(PathBuf::from("/home/u/.config/containers/containers.conf"))
        );
    }

    #[test]
    fn the_event_logger_comes_from_podman_info() {
        assert_eq!(
            event_logger(r#"{"host":{"eventLogger":"file","arch":"amd64"}}"#).as_deref(),
            Some("file")
        );
        assert_eq!(event_logger(r#"{"host":{}}"#), None);
        assert!(!is_remote(r#"{"host":{"serviceIsRemote":false}}"#));
        assert!(is_remote(r#"{"host":{"serviceIsRemote":true}}"#));
        assert!(!is_remote("{}"));
        assert_eq!(event_logger("Error: no"), None);
    }

    #[test]
    fn read_conf_tells_missing_from_unreadable() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read_conf(&dir.path().join("none")), ConfRead::Missing);
        let file = dir.path().join("c.conf");
        std::fs::write(&file, "[engine]\n").expect("write");
        assert_eq!(read_conf(&file), ConfRead::Text("[engine]\n".into()));
        assert!(matches!(read_conf(dir.path()), ConfRead::Unreadable(_)));
    }
}
