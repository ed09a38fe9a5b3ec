//! The `podman` runtime: one container per workload, driven through the podman CLI.
//!
//! Builds the command lines of ankaios-behaviour.md §7.1 with two deliberate differences:
//! - the workload's `generalOptions` go before *every* podman subcommand of that workload (run,
//!   start, stop, rm, ps, logs), not only `run` and `start` (Ankaios §11.19), so an option such as
//!   `--root` or `--runtime` applies to the whole life of the container;
//! - the containers are found by the `ankmq.*` labels (`labels.rs`), never by name, so a user
//!   `--name` in `commandOptions` is harmless, and a failed `run` is cleaned up by label (Ankaios'
//!   cleanup by name misses, §11.20).
//!
//! It reports raw podman facts only; mapping them to execution states is `state_map.rs`'s job.

use std::path::PathBuf;
use std::time::Duration;

use ank_schemas::RuntimeKind;

use super::command::StderrMode;
use super::podman_cli::PodmanCli;
use super::{labels, ps};
use super::{
    InstanceRef, LineStream, LogOptions, ObservedInstance, RuntimeConnector, RuntimeError,
    RuntimeId,
};

/// The runtime name in manifests.
pub const NAME: RuntimeKind = RuntimeKind::Podman;

/// podman's default stop timeout, kept as ours (seconds before SIGKILL).
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// A file the agent wrote for the workload, bind-mounted read-only into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMount {
    /// Where the agent wrote it on the host.
    pub host_path: PathBuf,
    /// Where the workload sees it.
    pub mount_point: String,
}

/// Everything `podman run` needs for one workload instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodmanRunSpec {
    /// The full instance id (`<workload>.<hash>.<agent>`), stored in the `ankmq.instance` label.
    pub instance: String,
    /// The container name (the short instance name); a `--name` in `command_options` wins.
    pub container_name: String,
    /// The image reference.
    pub image: String,
    /// podman options before the subcommand (e.g. `--log-level`), used for every call.
    pub general_options: Vec<String>,
    /// `podman run` options from the manifest, passed after our `--name`.
    pub command_options: Vec<String>,
    /// Arguments after the image (the container's command).
    pub command_args: Vec<String>,
    /// Workload files to mount.
    pub mounts: Vec<FileMount>,
}

impl PodmanRunSpec {
    /// How to address this instance.
    pub fn to_ref(&self) -> InstanceRef {
        InstanceRef {
            instance: self.instance.clone(),
            general_options: self.general_options.clone(),
        }
    }
}

/// The `podman` runtime connector of one agent.
#[derive(Debug, Clone)]
pub struct PodmanRuntime {
    cli: PodmanCli,
    agent: String,
    stop_grace: Duration,
}

impl PodmanRuntime {
    /// A connector that labels containers with `agent` and stops them with podman's default
    /// grace period.
    pub fn new(cli: PodmanCli, agent: impl Into<String>) -> Self {
        Self {
            cli,
            agent: agent.into(),
            stop_grace: DEFAULT_STOP_GRACE,
        }
    }

    /// Sets how long `stop` waits before killing (`-t`), rounded down to whole seconds.
    pub fn with_stop_grace(mut self, grace: Duration) -> Self {
        self.stop_grace = grace;
        self
    }

    /// The arguments of `podman run` for `spec`, after the general options.
    pub fn run_args(&self, spec: &PodmanRunSpec) -> Result<Vec<String>, RuntimeError> {
        let mut args = vec![
            "run".to_owned(),
            "--detach".to_owned(),
            "--name".to_owned(),
            spec.container_name.clone(),
        ];
        args.extend(spec.command_options.iter().cloned());
        for mount in &spec.mounts {
            args.push(mount_arg(&spec.instance, mount)?);
        }
        // Our labels come after the user's options: for a repeated `--label` key the last wins,
        // so a manifest cannot hijack the ownership labels.
        for (key, value) in
            labels::ownership(&spec.instance, &self.agent, &NAME, &spec.general_options)
        {
            args.push(format!("--label={key}={value}"));
        }
        args.push(spec.image.clone());
        args.extend(spec.command_args.iter().cloned());
        Ok(args)
    }

    /// The two calls of a delete, after the general options: `stop` then `rm`.
    pub fn delete_args(&self, instance: &str) -> [Vec<String>; 2] {
        let filter = labels::filter(labels::INSTANCE, instance);
        [
            vec![
                "stop".into(),
                "--ignore".into(),
                "-t".into(),
                self.stop_grace.as_secs().to_string(),
                "--filter".into(),
                filter.clone(),
            ],
            vec![
                "rm".into(),
                "--ignore".into(),
                "-f".into(),
                "--filter".into(),
                filter,
            ],
        ]
    }

    async fn containers(
        &self,
        target: &InstanceRef,
    ) -> Result<Option<ObservedInstance>, RuntimeError> {
        let facts = ps::list(
            &self.cli,
            &target.general_options,
            labels::INSTANCE,
            &target.instance,
        )
        .await?;
        Ok(ps::group_by_instance(facts).into_iter().next())
    }
}

/// The `podman run` option that mounts a control-interface folder where the Ankaios SDKs look
/// for it (read-write: the workload writes its `output` FIFO), as Ankaios does.
pub fn control_interface_mount(folder: &std::path::Path) -> String {
    format!(
        "--mount=type=bind,source={},destination={}",
        folder.display(),
        ank_schemas::control_interface::CONTAINER_PATH
    )
}

fn mount_arg(instance: &str, mount: &FileMount) -> Result<String, RuntimeError> {
    let source = mount.host_path.to_string_lossy();
    // `--mount` is a comma-separated key=value list without quoting.
    if source.contains(',') || mount.mount_point.contains(',') {
        return Err(RuntimeError::InvalidSpec {
            instance: instance.to_owned(),
            reason: format!(
                "a mount path contains a comma, which podman's --mount cannot express: {source} -> {}",
                mount.mount_point
            ),
        });
    }
    Ok(format!(
        "--mount=type=bind,source={source},destination={},readonly=true",
        mount.mount_point
    ))
}

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

/// The container id `podman run --detach` printed: its last non-empty stdout line.
pub fn parse_container_id(stdout: &str) -> Option<String> {
    let id = stdout.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    (id.len() >= 12 && id.chars().all(|c| c.is_ascii_hexdigit())).then(|| id.to_owned())
}

/// Streams the logs of `instance`'s containers; shared with `podman_kube.rs`.
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

impl RuntimeConnector for PodmanRuntime {
    type Spec = PodmanRunSpec;

    fn kind(&self) -> RuntimeKind {
        NAME
    }

    async fn list_instances(&self) -> Result<Vec<ObservedInstance>, RuntimeError> {
        ps::instances_of(&self.cli, &self.agent, &NAME).await
    }

    async fn create(&self, spec: &PodmanRunSpec) -> Result<RuntimeId, RuntimeError> {
        let args = self.run_args(spec)?;
        let stdout = match self.cli.run(&spec.general_options, &args, None).await {
            Ok(stdout) => stdout,
            Err(error) => {
                // `run` can fail after creating the container (e.g. the OCI runtime refused to
                // start it). Remove it by label so the retry does not hit a name conflict.
                if let Err(cleanup) = self.delete(&spec.to_ref()).await {
                    tracing::warn!(instance = %spec.instance, %cleanup, "cleanup after failed run");
                }
                return Err(error.into());
            }
        };
        parse_container_id(&stdout)
            .map(RuntimeId::Container)
            .ok_or_else(|| RuntimeError::Parse {
                command: self.cli.command(&spec.general_options, &args).to_string(),
                reason: format!("no container id in {stdout:?}"),
            })
    }

    async fn restart(&self, spec: &PodmanRunSpec) -> Result<RuntimeId, RuntimeError> {
        let target = spec.to_ref();
        let found = self
            .containers(&target)
            .await?
            .ok_or_else(|| RuntimeError::NotFound {
                instance: spec.instance.clone(),
            })?;
        let ids: Vec<String> = found.containers.into_iter().map(|c| c.id).collect();
        let mut args = vec!["start".to_owned()];
        args.extend(ids.iter().cloned());
        self.cli.run(&spec.general_options, &args, None).await?;
        // One container per instance; more would mean someone copied our labels.
        Ok(RuntimeId::Container(ids[0].clone()))
    }

    async fn delete(&self, target: &InstanceRef) -> Result<(), RuntimeError> {
        for args in self.delete_args(&target.instance) {
            self.cli.run(&target.general_options, &args, None).await?;
        }
        Ok(())
    }

    async fn observe(
        &self,
        target: &InstanceRef,
    ) -> Result<Option<ObservedInstance>, RuntimeError> {
        self.containers(target).await
    }

    async fn logs(
        &self,
        target: &InstanceRef,
        options: &LogOptions,
    ) -> Result<LineStream, RuntimeError> {
        let found = self.containers(target).await?;
        stream_logs(&self.cli, found, target, options, false).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PodmanRunSpec {
        PodmanRunSpec {
            instance: "web.0123abc.agent_A".into(),
            container_name: "web.0123abc.agent_A".into(),
            image: "localhost/img:1".into(),
            general_options: Vec::new(),
            command_options: Vec::new(),
            command_args: Vec::new(),
            mounts: Vec::new(),
        }
    }

    fn runtime() -> PodmanRuntime {
        PodmanRuntime::new(PodmanCli::new("podman"), "agent_A")
    }

    #[test]
    fn run_args_follow_the_documented_order() {
        let spec = PodmanRunSpec {
            command_options: vec!["--env=A=1".into(), "-p".into(), "8080:80".into()],
            command_args: vec!["sh".into(), "-c".into(), "echo hi".into()],
            mounts: vec![FileMount {
                host_path: "/run/ank/web/f.txt".into(),
                mount_point: "/etc/f.txt".into(),
            }],
            ..spec()
        };
        let args = runtime().run_args(&spec).expect("valid spec");
        assert_eq!(
            args,
            [
                "run",
                "--detach",
                "--name",
                "web.0123abc.agent_A",
                "--env=A=1",
                "-p",
                "8080:80",
                "--mount=type=bind,source=/run/ank/web/f.txt,destination=/etc/f.txt,readonly=true",
                "--label=ankmq.instance=web.0123abc.agent_A",
                "--label=ankmq.agent=agent_A",
                "--label=ankmq.runtime=podman",
                "localhost/img:1",
                "sh",
                "-c",
                "echo hi",
            ]
        );
    }

    #[test]
    fn a_user_name_comes_after_ours_so_it_wins() {
        let spec = PodmanRunSpec {
            command_options: vec!["--name".into(), "mine".into()],
            ..spec()
        };
        let args = runtime().run_args(&spec).expect("valid spec");
        let ours = args.iter().position(|a| a == "web.0123abc.agent_A");
        let theirs = args.iter().position(|a| a == "mine");
        assert!(ours < theirs, "{args:?}");
    }

    #[test]
    fn ownership_labels_come_after_user_labels_so_ours_win() {
        let spec = PodmanRunSpec {
            command_options: vec!["--label=ankmq.instance=forged".into()],
            ..spec()
        };
        let args = runtime().run_args(&spec).expect("valid spec");
        let forged = args.iter().position(|a| a.ends_with("=forged"));
        let ours = args
            .iter()
            .position(|a| a == "--label=ankmq.instance=web.0123abc.agent_A");
        assert!(forged < ours, "{args:?}");
    }

    #[test]
    fn general_options_precede_every_subcommand_and_are_recorded() {
        let general = vec!["--log-level".to_owned(), "debug".to_owned()];
        let spec = PodmanRunSpec {
            general_options: general.clone(),
            ..spec()
        };
        let rt = runtime();
        let run = rt
            .cli
            .command(&general, &rt.run_args(&spec).expect("valid"));
        assert_eq!(run.args[..3], ["--log-level", "debug", "run"]);
        assert!(run
            .args
            .contains(&r#"--label=ankmq.general-options=["--log-level","debug"]"#.to_owned()));
        for args in rt.delete_args(&spec.instance) {
            let line = rt.cli.command(&general, &args);
            assert_eq!(line.args[..2], ["--log-level", "debug"], "{line}");
        }
        let logs = rt.cli.command(
            &general,
            &logs_args(&LogOptions::default(), &["id".into()], false),
        );
        assert_eq!(logs.args, ["--log-level", "debug", "logs", "id"]);
        let ps = rt
            .cli
            .command(&general, &ps::ps_args(labels::INSTANCE, "x"));
        assert_eq!(ps.args[..3], ["--log-level", "debug", "ps"]);
    }

    #[test]
    fn delete_stops_with_grace_then_force_removes_by_label() {
        let rt = runtime().with_stop_grace(Duration::from_secs(3));
        let [stop, rm] = rt.delete_args("web.0123abc.agent_A");
        assert_eq!(
            stop,
            [
                "stop",
                "--ignore",
                "-t",
                "3",
                "--filter",
                "label=ankmq.instance=web.0123abc.agent_A"
            ]
        );
        assert_eq!(
            rm,
            [
                "rm",
                "--ignore",
                "-f",
                "--filter",
                "label=ankmq.instance=web.0123abc.agent_A"
            ]
        );
    }

    #[test]
    fn a_mount_path_with_a_comma_is_an_invalid_spec() {
        let spec = PodmanRunSpec {
            mounts: vec![FileMount {
                host_path: "/tmp/a,b".into(),
                mount_point: "/x".into(),
            }],
            ..spec()
        };
        let err = runtime().run_args(&spec).expect_err("comma");
        assert!(!err.is_retryable());
    }

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

    #[test]
    fn container_id_is_the_last_hex_line() {
        let table = [
            ("abc\n", None),
            (
                "Trying to pull...\n0123456789abcdef0123\n",
                Some("0123456789abcdef0123"),
            ),
            ("0123456789ab\n\n", Some("0123456789ab")),
            ("", None),
            ("Error: nope\n", None),
        ];
        for (stdout, expected) in table {
            assert_eq!(
                parse_container_id(stdout).as_deref(),
                expected,
                "{stdout:?}"
            );
        }
    }
}
