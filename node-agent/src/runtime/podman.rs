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

use super::podman_cli::PodmanCli;
use super::podman_logs::stream_logs;
use super::start_check::{self, Started};
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

    /// The one call of a delete, after the general options: `rm -f -t <grace>` stops each
    /// container as `podman stop -t <grace>` does (the stop signal, SIGKILL after the grace) and
    /// removes it. One podman process instead of `stop` then `rm` (issue 17: 100–170 ms less per
    /// delete and per update on these machines).
    pub fn delete_args(&self, instance: &str) -> Vec<String> {
        vec![
            "rm".into(),
            "--ignore".into(),
            "-f".into(),
            "-t".into(),
            self.stop_grace.as_secs().to_string(),
            "--filter".into(),
            labels::filter(labels::INSTANCE, instance),
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

/// The container id `podman run --detach` printed: its last non-empty stdout line.
pub fn parse_container_id(stdout: &str) -> Option<String> {
    let id = stdout.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    (id.len() >= 12 && id.chars().all(|c| c.is_ascii_hexdigit())).then(|| id.to_owned())
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

    async fn started(&self, spec: &PodmanRunSpec, id: &RuntimeId) -> Option<ObservedInstance> {
        // Other general options may mean another store, whose exit files are elsewhere.
        let RuntimeId::Container(id) = id else {
            return None;
        };
        if !spec.general_options.is_empty() {
            return None;
        }
        let started = Started {
            instance: &spec.instance,
            agent: &self.agent,
            runtime: NAME,
            name: &spec.container_name,
            id,
        };
        start_check::look(&self.cli.exit_dir()?, &started).await
    }

    async fn delete(&self, target: &InstanceRef) -> Result<(), RuntimeError> {
        self.cli
            .run(
                &target.general_options,
                &self.delete_args(&target.instance),
                None,
            )
            .await?;
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
#[path = "podman_tests.rs"]
mod tests;
