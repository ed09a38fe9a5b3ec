//! Carries the planner's runtime actions out: builds each connector's spec from the desired
//! workload, writes the workload's files, and calls the [`RuntimeConnector`] trait. Each
//! operation runs as its own task and ends in an [`OpOutcome`] that the run loop records in
//! [`Observed`] (`begin` before, `finish` after), so at most one operation per workload runs at a
//! time and later triggers coalesce into the next plan. A podman error is an outcome, never a
//! panic or an exit.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use ank_schemas::{DesiredWorkload, InstanceId, RuntimeConfig};

use crate::observed::{InstanceTarget, Observed, Operation, WorkloadBook};
use crate::reconcile::Action;
use crate::runtime::{
    InstanceRef, KubeSpec, ObservedInstance, PodmanKubeRuntime, PodmanRunSpec, PodmanRuntime,
    RuntimeConnector, RuntimeError,
};
use crate::workload_files::{self, instance_folder};

/// The connectors this agent runs; a disabled runtime is `None`.
#[derive(Debug)]
pub struct Runtimes {
    /// `podman`.
    pub podman: Option<PodmanRuntime>,
    /// `podman-kube`.
    pub kube: Option<PodmanKubeRuntime>,
    /// Where workload files are written (`<run_folder>/<agent>_io`).
    pub io_folder: PathBuf,
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpFailure {
    /// Removing the old instance failed; nothing was created.
    Delete(String),
    /// Creating (or restarting) failed.
    Create {
        /// The error, for `Retry n: <error>` or `Pending(StartingFailed)`.
        error: String,
        /// Whether trying again can help.
        retryable: bool,
    },
}

/// A fresh look at one instance after an operation; `None` when it is gone.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// The instance id text.
    pub instance: String,
    /// Its runtime.
    pub runtime: String,
    /// What podman shows now.
    pub found: Option<ObservedInstance>,
}

/// How an operation ended.
#[derive(Debug, Clone)]
pub struct OpOutcome {
    /// The workload the operation was for.
    pub workload: String,
    /// Which operation.
    pub op: Operation,
    /// The instance created or restarted, if the operation creates one.
    pub new_instance: Option<InstanceId>,
    /// For a restart-policy restart, the crash streak to record.
    pub policy_restart: Option<u32>,
    /// `Ok` or the failed step.
    pub result: Result<(), OpFailure>,
    /// The instances the operation touched, looked at again afterwards.
    pub refreshed: Vec<Refreshed>,
}

/// A spawned operation.
pub type OpFuture = Pin<Box<dyn Future<Output = OpOutcome> + Send>>;

/// Books the start of a runtime action in `observed` and returns the operation to spawn; `None`
/// for actions that are not runtime operations (reports, adoption, retries).
pub fn begin(
    runtimes: &Arc<Runtimes>,
    observed: &mut Observed,
    action: Action,
) -> Option<OpFuture> {
    let runtimes = Arc::clone(runtimes);
    match action {
        Action::Report(_) | Action::RetryAt(_) => None,
        Action::Adopt { workload, instance } => {
            let mut book = WorkloadBook::new(instance);
            book.on_created();
            observed.books.insert(workload, book);
            None
        }
        Action::Create { workload, desired } => {
            book_for(observed, &workload, &desired.instance_id).in_flight = Some(Operation::Create);
            Some(Box::pin(async move {
                let result = runtimes.create(&desired).await;
                let refreshed = vec![runtimes.refresh_desired(&desired).await];
                OpOutcome {
                    workload,
                    op: Operation::Create,
                    new_instance: Some(desired.instance_id.clone()),
                    policy_restart: None,
                    result,
                    refreshed,
                }
            }))
        }
        Action::Restart {
            workload,
            desired,
            policy_restart,
        } => {
            book_for(observed, &workload, &desired.instance_id).in_flight =
                Some(Operation::Restart);
            Some(Box::pin(async move {
                let result = runtimes.restart(&desired).await;
                let refreshed = vec![runtimes.refresh_desired(&desired).await];
                OpOutcome {
                    workload,
                    op: Operation::Restart,
                    new_instance: Some(desired.instance_id.clone()),
                    policy_restart,
                    result,
                    refreshed,
                }
            }))
        }
        Action::Replace {
            workload,
            old,
            desired,
            policy_restart,
        } => {
            mark_deleting(observed, &workload, &old, Operation::Replace);
            Some(Box::pin(async move {
                let mut refreshed = Vec::new();
                let result = match runtimes.delete(&old).await {
                    Err(error) => Err(OpFailure::Delete(error)),
                    Ok(()) => runtimes.create(&desired).await,
                };
                if old.instance != desired.instance_id.to_string() {
                    refreshed.push(runtimes.refresh(&old).await);
                }
                refreshed.push(runtimes.refresh_desired(&desired).await);
                OpOutcome {
                    workload,
                    op: Operation::Replace,
                    new_instance: Some(desired.instance_id.clone()),
                    policy_restart,
                    result,
                    refreshed,
                }
            }))
        }
        Action::Delete { workload, target } => {
            mark_deleting(observed, &workload, &target, Operation::Delete);
            Some(Box::pin(async move {
                let result = runtimes.delete(&target).await.map_err(OpFailure::Delete);
                let refreshed = vec![runtimes.refresh(&target).await];
                OpOutcome {
                    workload,
                    op: Operation::Delete,
                    new_instance: None,
                    policy_restart: None,
                    result,
                    refreshed,
                }
            }))
        }
    }
}

/// The book of `workload` for `instance`, fresh if it was about another instance.
fn book_for<'a>(
    observed: &'a mut Observed,
    workload: &str,
    instance: &InstanceId,
) -> &'a mut WorkloadBook {
    let book = observed
        .books
        .entry(workload.to_owned())
        .or_insert_with(|| WorkloadBook::new(instance.clone()));
    if book.instance != *instance {
        *book = WorkloadBook::new(instance.clone());
    }
    book
}

fn mark_deleting(observed: &mut Observed, workload: &str, target: &InstanceTarget, op: Operation) {
    match target.instance.parse::<InstanceId>() {
        Ok(id) => {
            let existed = observed
                .books
                .get(workload)
                .is_some_and(|b| b.instance == id);
            let book = book_for(observed, workload, &id);
            if !existed {
                // Found in podman: it exists although this run did not create it.
                book.created = true;
            }
            book.in_flight = Some(op);
        }
        // Not an instance id: no book can guard it, so forget it until podman shows it again.
        Err(_) => {
            observed.instances.remove(&target.instance);
        }
    }
}

/// Records how an operation ended. `jitter` is a fresh random value in `[0, 1]` for the retry
/// delay of a failure.
pub fn finish(observed: &mut Observed, outcome: &OpOutcome, now: Instant, jitter: f64) {
    let Some(book) = observed.books.get_mut(&outcome.workload) else {
        return;
    };
    book.in_flight = None;
    match (&outcome.result, outcome.op) {
        (Ok(()), Operation::Delete) => book.on_deleted(),
        (Err(OpFailure::Delete(error)), _) => {
            tracing::warn!(workload = %outcome.workload, %error, "delete failed");
            book.on_delete_failed(error.clone(), now, jitter);
        }
        (result, _) => {
            if let Some(new) = &outcome.new_instance {
                if book.instance != *new {
                    *book = WorkloadBook::new(new.clone());
                }
            }
            match result {
                Ok(()) => {
                    book.on_created();
                    if let Some(streak) = outcome.policy_restart {
                        book.on_restarted(now, streak);
                    }
                }
                Err(OpFailure::Create { error, retryable }) => {
                    tracing::warn!(workload = %outcome.workload, %error, retryable, "create failed");
                    if outcome.op == Operation::Restart {
                        // The container is still there: count the attempt so the backoff grows.
                        book.on_created();
                        if let Some(streak) = outcome.policy_restart {
                            book.on_restarted(now, streak);
                        }
                    } else {
                        book.on_create_failed(error.clone(), *retryable, now, jitter);
                    }
                }
                Err(OpFailure::Delete(_)) => {}
            }
        }
    }
}

fn create_failure(error: RuntimeError) -> OpFailure {
    OpFailure::Create {
        retryable: error.is_retryable(),
        error: error.to_string(),
    }
}

fn not_retryable(error: impl Into<String>) -> OpFailure {
    OpFailure::Create {
        error: error.into(),
        retryable: false,
    }
}

impl Runtimes {
    fn podman(&self) -> Result<&PodmanRuntime, OpFailure> {
        self.podman
            .as_ref()
            .ok_or_else(|| not_retryable("the runtime 'podman' is not enabled on this agent"))
    }

    fn kube(&self) -> Result<&PodmanKubeRuntime, OpFailure> {
        self.kube
            .as_ref()
            .ok_or_else(|| not_retryable("the runtime 'podman-kube' is not enabled on this agent"))
    }

    async fn create(&self, desired: &DesiredWorkload) -> Result<(), OpFailure> {
        match self.spec(desired)? {
            Spec::Podman(spec) => self.podman()?.create(&spec).await,
            Spec::Kube(spec) => self.kube()?.create(&spec).await,
        }
        .map(|_| ())
        .map_err(create_failure)
    }

    async fn restart(&self, desired: &DesiredWorkload) -> Result<(), OpFailure> {
        match self.spec(desired)? {
            Spec::Podman(spec) => self.podman()?.restart(&spec).await,
            Spec::Kube(spec) => self.kube()?.restart(&spec).await,
        }
        .map(|_| ())
        .map_err(create_failure)
    }

    async fn delete(&self, target: &InstanceTarget) -> Result<(), String> {
        let reference = target.to_ref();
        let result = match target.runtime.as_str() {
            "podman-kube" => match &self.kube {
                Some(kube) => kube.delete(&reference).await,
                None => return Err("the runtime 'podman-kube' is not enabled".into()),
            },
            _ => match &self.podman {
                Some(podman) => podman.delete(&reference).await,
                None => return Err("the runtime 'podman' is not enabled".into()),
            },
        };
        result.map_err(|e| e.to_string())?;
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

    async fn observe(&self, runtime: &str, reference: &InstanceRef) -> Option<ObservedInstance> {
        let result = match runtime {
            "podman-kube" => match &self.kube {
                Some(kube) => kube.observe(reference).await,
                None => return None,
            },
            _ => match &self.podman {
                Some(podman) => podman.observe(reference).await,
                None => return None,
            },
        };
        result.unwrap_or_else(|error| {
            tracing::warn!(instance = %reference.instance, %error, "observe failed");
            None
        })
    }

    /// Every instance of `runtime` this agent owns: `podman ps` with podman's default options,
    /// plus a look at each of `extra` (instances whose `generalOptions` may point podman at
    /// another store, which the default listing cannot see).
    pub async fn list(
        &self,
        runtime: &str,
        extra: &[InstanceTarget],
    ) -> Result<Vec<ObservedInstance>, String> {
        let mut found = match runtime {
            "podman-kube" => match &self.kube {
                Some(kube) => kube.list_instances().await,
                None => return Ok(Vec::new()),
            },
            _ => match &self.podman {
                Some(podman) => podman.list_instances().await,
                None => return Ok(Vec::new()),
            },
        }
        .map_err(|e| e.to_string())?;
        for target in extra.iter().filter(|t| t.runtime == runtime) {
            if found.iter().any(|i| i.instance == target.instance) {
                continue;
            }
            let reference = target.to_ref();
            let seen = match runtime {
                "podman-kube" => match &self.kube {
                    Some(kube) => kube.observe(&reference).await,
                    None => Ok(None),
                },
                _ => match &self.podman {
                    Some(podman) => podman.observe(&reference).await,
                    None => Ok(None),
                },
            };
            if let Some(instance) = seen.map_err(|e| e.to_string())? {
                found.push(instance);
            }
        }
        Ok(found)
    }

    async fn refresh(&self, target: &InstanceTarget) -> Refreshed {
        Refreshed {
            instance: target.instance.clone(),
            runtime: target.runtime.clone(),
            found: self.observe(&target.runtime, &target.to_ref()).await,
        }
    }

    async fn refresh_desired(&self, desired: &DesiredWorkload) -> Refreshed {
        let general_options = match RuntimeConfig::parse(&desired.runtime, &desired.runtime_config)
        {
            Ok(RuntimeConfig::Podman(c)) => c.general_options,
            Ok(RuntimeConfig::PodmanKube(c)) => c.general_options,
            Err(_) => Vec::new(),
        };
        let target = InstanceTarget {
            instance: desired.instance_id.to_string(),
            runtime: desired.runtime.clone(),
            general_options,
        };
        self.refresh(&target).await
    }

    /// The connector spec of a desired workload; writes its files for `podman`.
    fn spec(&self, desired: &DesiredWorkload) -> Result<Spec, OpFailure> {
        let config = RuntimeConfig::parse(&desired.runtime, &desired.runtime_config)
            .map_err(|e| not_retryable(format!("Could not parse the runtimeConfig: {e}")))?;
        let id = &desired.instance_id;
        match config {
            RuntimeConfig::Podman(c) => Ok(Spec::Podman(PodmanRunSpec {
                instance: id.to_string(),
                container_name: id.short(),
                image: c.image,
                general_options: c.general_options,
                // Control interface (issue 15): the FIFO folder's mount, after the user's options.
                command_options: crate::control_interface::with_mount(
                    &self.io_folder,
                    desired,
                    c.command_options,
                )
                .map_err(not_retryable)?,
                command_args: c.command_args,
                // Not retried (Ankaios: `Pending(StartingFailed)`).
                mounts: workload_files::write(&self.io_folder, desired)
                    .map_err(|e| not_retryable(e.to_string()))?,
            })),
            RuntimeConfig::PodmanKube(c) => {
                if !desired.files.is_empty() {
                    return Err(not_retryable(
                        "Workload files are not supported by the podman-kube runtime; use a ConfigMap",
                    ));
                }
                Ok(Spec::Kube(KubeSpec {
                    instance: id.to_string(),
                    manifest: c.manifest,
                    general_options: c.general_options,
                    play_options: c.play_options,
                    down_options: c.down_options,
                }))
            }
        }
    }
}

enum Spec {
    Podman(PodmanRunSpec),
    Kube(KubeSpec),
}

#[cfg(test)]
mod tests {
    use super::*;
    use ank_schemas::{ControlInterfaceAccess, FileContent, RestartPolicy, WorkloadFile};
    use std::collections::BTreeMap;
    use std::path::Path;

    fn desired(files: Vec<WorkloadFile>) -> DesiredWorkload {
        let config = "image: localhost/img\ncommandArgs: [sh]";
        DesiredWorkload {
            instance_id: InstanceId::compute("w", "agent_A", "podman", config, &files),
            runtime: "podman".into(),
            runtime_config: config.into(),
            restart_policy: RestartPolicy::Never,
            dependencies: BTreeMap::new(),
            tags: BTreeMap::new(),
            files,
            control_interface_access: ControlInterfaceAccess::default(),
            delete_conditions: BTreeMap::new(),
            expected_instances: BTreeMap::new(),
        }
    }

    fn runtimes(io: &Path) -> Runtimes {
        Runtimes {
            podman: None,
            kube: None,
            io_folder: io.to_owned(),
        }
    }

    #[test]
    fn files_are_written_under_the_instance_folder_and_mounted_where_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = desired(vec![
            WorkloadFile {
                mount_point: "/etc/app/conf.txt".into(),
                content: FileContent::Data("port=1".into()),
            },
            WorkloadFile {
                mount_point: "/bin.dat".into(),
                content: FileContent::BinaryData("aGVs\nbG8=".into()),
            },
        ]);
        let Ok(Spec::Podman(spec)) = runtimes(dir.path()).spec(&d) else {
            panic!("a podman spec");
        };
        assert_eq!(spec.container_name, d.instance_id.short());
        assert_eq!(spec.mounts.len(), 2);
        assert_eq!(spec.mounts[0].mount_point, "/etc/app/conf.txt");
        assert!(spec.mounts[0].host_path.starts_with(dir.path()));
        assert_eq!(
            std::fs::read_to_string(&spec.mounts[0].host_path).unwrap(),
            "port=1"
        );
        assert_eq!(std::fs::read(&spec.mounts[1].host_path).unwrap(), b"hello");
    }

    #[test]
    fn bad_files_are_not_retryable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let table = [
            ("/etc/../passwd", FileContent::Data("x".into())),
            ("relative", FileContent::Data("x".into())),
            ("/x", FileContent::BinaryData("***".into())),
        ];
        for (mount_point, content) in table {
            let d = desired(vec![WorkloadFile {
                mount_point: mount_point.into(),
                content,
            }]);
            match runtimes(dir.path()).spec(&d) {
                Err(OpFailure::Create {
                    retryable: false, ..
                }) => {}
                Err(other) => panic!("{mount_point}: {other:?}"),
                Ok(_) => panic!("{mount_point}: accepted"),
            }
        }
    }

    #[test]
    fn finish_records_create_failures_restarts_and_replacements() {
        let now = Instant::now();
        let d = desired(Vec::new());
        let mut observed = Observed::new("agent_A", vec!["podman".into()]);
        let outcome = |op, result, policy_restart| OpOutcome {
            workload: "w".into(),
            op,
            new_instance: Some(d.instance_id.clone()),
            policy_restart,
            result,
            refreshed: Vec::new(),
        };
        book_for(&mut observed, "w", &d.instance_id).in_flight = Some(Operation::Create);
        let failed = Err(OpFailure::Create {
            error: "pull".into(),
            retryable: true,
        });
        finish(
            &mut observed,
            &outcome(Operation::Create, failed, None),
            now,
            0.5,
        );
        let book = &observed.books["w"];
        assert_eq!(book.in_flight, None);
        assert_eq!(book.create_failure.as_ref().map(|f| f.attempt), Some(1));
        finish(
            &mut observed,
            &outcome(Operation::Replace, Ok(()), Some(1)),
            now,
            0.5,
        );
        let book = &observed.books["w"];
        assert!(book.created && book.create_failure.is_none());
        assert_eq!((book.restart_count, book.crash_streak), (1, 1));
    }
}
