//! Runtime dispatch: the one place a [`RuntimeKind`] meets its connector (issue 12). Everything
//! else in the agent names a runtime only by its kind; a kind this agent does not run (disabled,
//! or unknown to this build) is an [`OpError::NotEnabled`], never a quiet fall-back to podman.
//!
//! It also turns a typed [`Workload`] into its connector's spec (writing the workload's files for
//! `podman`), and removes an instance's files with the instance. Generic over the connectors so
//! the loop's tests can drive it with a fake (`fake_runtime.rs`); the binary uses the defaults.

use std::path::PathBuf;

use ank_schemas::{InstanceId, RuntimeConfig, RuntimeKind, RuntimeProblem};

use crate::desired::Workload;
use crate::observed::InstanceTarget;
use crate::runtime::{
    InstanceRef, KubeControlInterface, KubeSpec, LineStream, LogOptions, ObservedInstance,
    PodmanKubeRuntime, PodmanRunSpec, PodmanRuntime, RuntimeConnector, RuntimeError,
};
use crate::workload_files::{self, instance_folder, FileError};

/// The connectors this agent runs; a disabled runtime is `None`.
#[derive(Debug)]
pub struct Runtimes<P = PodmanRuntime, K = PodmanKubeRuntime> {
    /// `podman`.
    pub podman: Option<P>,
    /// `podman-kube`.
    pub kube: Option<K>,
    /// Where workload files are written (`<run_folder>/<agent>_io`).
    pub io_folder: PathBuf,
}

/// Why a runtime operation failed, by cause. Its text is what the workload's additionalInfo
/// shows (`Retry n: <error>`, or the `Pending(StartingFailed)` reason).
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The workload's runtime is not enabled on this agent (or unknown to this build).
    #[error("The runtime '{0}' is not enabled on this agent")]
    NotEnabled(RuntimeKind),
    /// The runtime cannot start this workload, whatever is retried.
    #[error(transparent)]
    Unstartable(RuntimeProblem),
    /// The workload's files could not be written.
    #[error(transparent)]
    Files(#[from] FileError),
    /// The control interface's FIFOs or mount could not be prepared (issue 15).
    #[error("{0}")]
    ControlInterface(String),
    /// The runtime failed (podman's error, with the command and its stderr).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl OpError {
    /// Whether trying again can help: only a runtime failure that is not about the spec
    /// (Ankaios: every error but "unsupported" is retried; a file that cannot be written is
    /// not, §1.6).
    pub fn is_retryable(&self) -> bool {
        matches!(self, OpError::Runtime(error) if error.is_retryable())
    }

    /// Whether it says the instance does not exist (or cannot be reached on this agent).
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            OpError::NotEnabled(_) | OpError::Runtime(RuntimeError::NotFound { .. })
        )
    }
}

/// A connector chosen for a kind.
enum Connector<'a, P, K> {
    Podman(&'a P),
    Kube(&'a K),
}

/// A connector with the spec it runs.
enum Spec<'a, P, K> {
    Podman(&'a P, PodmanRunSpec),
    Kube(&'a K, KubeSpec),
}

/// Which start [`Runtimes::start`] makes.
#[derive(Debug, Clone, Copy)]
enum Start {
    Create,
    Restart,
}

/// Starts `spec` on `connector` and takes the connector's own look at the result, if it has one.
async fn start_with<C: RuntimeConnector>(
    connector: &C,
    spec: &C::Spec,
    how: Start,
) -> Result<Option<ObservedInstance>, OpError> {
    match how {
        Start::Create => {
            let id = connector.create(spec).await?;
            Ok(connector.started(spec, &id).await)
        }
        // The same container ran before: an exit file of its last run may still be there (podman's
        // cleanup removes it), and read as this run's end it would restart it again. podman is
        // asked instead.
        Start::Restart => {
            connector.restart(spec).await?;
            Ok(None)
        }
    }
}

/// A fresh look at one instance after an operation; `None` when it is gone.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// The instance id text.
    pub instance: String,
    /// Its runtime.
    pub runtime: RuntimeKind,
    /// What the runtime shows now.
    pub found: Option<ObservedInstance>,
}

impl Refreshed {
    /// What is known of `target` without asking, after a delete of it succeeded: it is gone (a
    /// connector's delete succeeds only once `podman rm` removed every container of the
    /// instance, or none is left), so no `podman ps` follows a delete (issue 17).
    pub fn gone(target: &InstanceTarget) -> Refreshed {
        Refreshed {
            instance: target.instance.clone(),
            runtime: target.runtime.clone(),
            found: None,
        }
    }
}

impl<P, K> Runtimes<P, K>
where
    P: RuntimeConnector<Spec = PodmanRunSpec>,
    K: RuntimeConnector<Spec = KubeSpec>,
{
    /// The connector of `kind`, the only match on runtime kinds in the agent.
    fn connector(&self, kind: &RuntimeKind) -> Result<Connector<'_, P, K>, OpError> {
        match kind {
            RuntimeKind::Podman => self.podman.as_ref().map(Connector::Podman),
            RuntimeKind::PodmanKube => self.kube.as_ref().map(Connector::Kube),
            RuntimeKind::Other(_) => None,
        }
        .ok_or_else(|| OpError::NotEnabled(kind.clone()))
    }

    /// Creates the workload's instance, then looks at it: from what the run itself says where
    /// the connector can tell ([`RuntimeConnector::started`]: no `podman ps`, issue 17), else by
    /// observing it.
    pub async fn create(&self, workload: &Workload) -> (Result<(), OpError>, Refreshed) {
        self.start(workload, Start::Create).await
    }

    /// Runs the workload's ended instance again, then observes it (its container ran before, so
    /// the run's own look could read the last run's exit file).
    pub async fn restart(&self, workload: &Workload) -> (Result<(), OpError>, Refreshed) {
        self.start(workload, Start::Restart).await
    }

    async fn start(&self, workload: &Workload, how: Start) -> (Result<(), OpError>, Refreshed) {
        let started = match self.spec(workload) {
            Err(error) => Err(error),
            Ok(Spec::Podman(podman, spec)) => start_with(podman, &spec, how).await,
            Ok(Spec::Kube(kube, spec)) => start_with(kube, &spec, how).await,
        };
        match started {
            Ok(Some(found)) => (
                Ok(()),
                Refreshed {
                    instance: workload.instance_id().to_string(),
                    runtime: workload.desired.runtime.clone(),
                    found: Some(found),
                },
            ),
            Ok(None) => (Ok(()), self.refresh_desired(workload).await),
            // A failed run may have left a container behind (cleanup by label can fail too).
            Err(error) => (Err(error), self.refresh_desired(workload).await),
        }
    }

    /// Removes an instance, then its files.
    pub async fn delete(&self, target: &InstanceTarget) -> Result<(), OpError> {
        let reference = target.to_ref();
        match self.connector(&target.runtime)? {
            Connector::Podman(podman) => podman.delete(&reference).await?,
            Connector::Kube(kube) => kube.delete(&reference).await?,
        }
        if let Ok(id) = target.instance.parse::<InstanceId>() {
            let folder = instance_folder(&self.io_folder, &id);
            if let Err(error) = tokio::fs::remove_dir_all(&folder).await {
                if error.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(folder = %folder.display(), %error, "workload files not removed");
                }
            }
        }
        Ok(())
    }

    /// The instance's containers now; `None` when it is gone or its runtime is not enabled.
    pub async fn observe(
        &self,
        runtime: &RuntimeKind,
        reference: &InstanceRef,
    ) -> Result<Option<ObservedInstance>, OpError> {
        let found = match self.connector(runtime) {
            Ok(Connector::Podman(podman)) => podman.observe(reference).await?,
            Ok(Connector::Kube(kube)) => kube.observe(reference).await?,
            Err(_) => None,
        };
        Ok(found)
    }

    /// Every instance of `runtime` this agent owns: the connector's listing with podman's
    /// default options, plus a look at each of `extra` (instances whose `generalOptions` may
    /// point podman at another store, which the default listing cannot see). A runtime that is
    /// not enabled has none.
    pub async fn list(
        &self,
        runtime: &RuntimeKind,
        extra: &[InstanceTarget],
    ) -> Result<Vec<ObservedInstance>, OpError> {
        let mut found = match self.connector(runtime) {
            Ok(Connector::Podman(podman)) => podman.list_instances().await?,
            Ok(Connector::Kube(kube)) => kube.list_instances().await?,
            Err(_) => return Ok(Vec::new()),
        };
        for target in extra.iter().filter(|t| t.runtime == *runtime) {
            if found.iter().any(|i| i.instance == target.instance) {
                continue;
            }
            if let Some(instance) = self.observe(runtime, &target.to_ref()).await? {
                found.push(instance);
            }
        }
        Ok(found)
    }

    /// Streams the instance's log lines.
    pub async fn logs(
        &self,
        target: &InstanceTarget,
        options: &LogOptions,
    ) -> Result<LineStream, OpError> {
        let reference = target.to_ref();
        Ok(match self.connector(&target.runtime)? {
            Connector::Podman(podman) => podman.logs(&reference, options).await?,
            Connector::Kube(kube) => kube.logs(&reference, options).await?,
        })
    }

    /// A fresh look at `target` after an operation on it.
    pub async fn refresh(&self, target: &InstanceTarget) -> Refreshed {
        let found = self
            .observe(&target.runtime, &target.to_ref())
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(instance = %target.instance, %error, "observe failed");
                None
            });
        Refreshed {
            instance: target.instance.clone(),
            runtime: target.runtime.clone(),
            found,
        }
    }

    /// A fresh look at the workload's desired instance.
    pub async fn refresh_desired(&self, workload: &Workload) -> Refreshed {
        self.refresh(&InstanceTarget {
            instance: workload.instance_id().to_string(),
            runtime: workload.desired.runtime.clone(),
            general_options: workload.general_options().to_vec(),
        })
        .await
    }

    /// The connector and its spec for a workload; writes its files for `podman`.
    fn spec(&self, workload: &Workload) -> Result<Spec<'_, P, K>, OpError> {
        let ready = workload
            .ready
            .as_ref()
            .map_err(|p| OpError::Unstartable(p.clone()))?;
        let id = workload.instance_id();
        match (self.connector(&workload.desired.runtime)?, &ready.config) {
            (Connector::Podman(podman), RuntimeConfig::Podman(c)) => {
                let mounts = workload_files::write(&self.io_folder, id, &ready.files)?;
                Ok(Spec::Podman(
                    podman,
                    PodmanRunSpec {
                        instance: id.to_string(),
                        container_name: id.short(),
                        image: c.image.clone(),
                        general_options: c.general_options.clone(),
                        // Control interface (issue 15): the FIFO folder's mount, after the
                        // user's options.
                        command_options: crate::control_interface::with_mount(
                            &self.io_folder,
                            &workload.desired,
                            c.command_options.clone(),
                        )
                        .map_err(OpError::ControlInterface)?,
                        command_args: c.command_args.clone(),
                        mounts,
                    },
                ))
            }
            (Connector::Kube(kube), RuntimeConfig::PodmanKube(c)) => Ok(Spec::Kube(
                kube,
                KubeSpec {
                    instance: id.to_string(),
                    manifest: c.manifest.clone(),
                    general_options: c.general_options.clone(),
                    play_options: c.play_options.clone(),
                    down_options: c.down_options.clone(),
                    // Control interface (issue 15): injected into the target container.
                    control_interface: crate::control_interface::folder_for(
                        &self.io_folder,
                        &workload.desired,
                    )
                    .map_err(OpError::ControlInterface)?
                    .map(|folder| KubeControlInterface {
                        folder,
                        target: c.control_interface_target.clone(),
                    }),
                },
            )),
            // `check_for_runtime` parsed the config for this very kind.
            _ => Err(OpError::NotEnabled(workload.desired.runtime.clone())),
        }
    }
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
pub(crate) mod tests;
