//! `podman logs` for a workload's containers, shared by both runtimes (`podman.rs`, and
//! `podman_kube.rs`, whose pods have several containers): the argument list and the stream.
//! Kept apart from the connectors because it is one job with one rule set (issue 14: which
//! options reach podman, when lines carry container names), whichever runtime started the
//! containers.

use super::command::StderrMode;
use super::podman_cli::PodmanCli;
use super::{InstanceRef, LineStream, LogOptions, ObservedInstance, RuntimeError};

/// The arguments of `podman logs` for `container_ids`, after the general options.
///
/// `--names` prefixes each line with the container name; it is used when there are several
/// containers so their lines can be told apart.
pub fn logs_args(options: &LogOptions, container_ids: &[String], names: bool) -> Vec<String> {
    let mut args = vec!["logs".to_owned()];
    if names {
        args.push("--names".into());
    }
    if options.follow {
        args.push("-f".into());
    }
    if let Some(since) = &options.since {
        args.push(format!("--since={since}"));
    }
    if let Some(until) = &options.until {
        args.push(format!("--until={until}"));
    }
    if let Some(tail) = options.tail {
        args.push(format!("--tail={tail}"));
    }
    args.extend(container_ids.iter().cloned());
    args
}

/// Streams the logs of `instance`'s containers.
pub(crate) async fn stream_logs(
    cli: &PodmanCli,
    instance: Option<ObservedInstance>,
    target: &InstanceRef,
    options: &LogOptions,
    always_names: bool,
) -> Result<LineStream, RuntimeError> {
    let ids: Vec<String> = instance
        .map(|i| i.containers.into_iter().map(|c| c.id).collect())
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(RuntimeError::NotFound {
            instance: target.instance.clone(),
        });
    }
    let args = logs_args(options, &ids, always_names || ids.len() > 1);
    Ok(cli.stream(&target.general_options, &args, StderrMode::Merge)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_args_carry_every_option() {
        let table: [(LogOptions, bool, &[&str]); 3] = [
            (LogOptions::default(), false, &["logs", "c1"]),
            (
                LogOptions {
                    follow: true,
                    since: Some("2024-01-01T00:00:00Z".into()),
                    until: Some("10m".into()),
                    tail: Some(5),
                },
                false,
                &[
                    "logs",
                    "-f",
                    "--since=2024-01-01T00:00:00Z",
                    "--until=10m",
                    "--tail=5",
                    "c1",
                ],
            ),
            (
                LogOptions {
                    tail: Some(0),
                    ..LogOptions::default()
                },
                true,
                &["logs", "--names", "--tail=0", "c1"],
            ),
        ];
        for (options, names, expected) in table {
            assert_eq!(logs_args(&options, &["c1".into()], names), expected);
        }
    }
}
