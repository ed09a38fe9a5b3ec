//! The `podman-kube` runtime: pods from a Kubernetes manifest, via `podman kube play`.
//!
//! How pods are remembered: before playing, the manifest gets the `ankmq.*` labels
//! (`labels.rs`) added to every `Pod`'s `metadata.labels` and every `Deployment`'s
//! `spec.template.metadata.labels`. podman 4.3.1 copies pod labels onto the pod's containers (not
//! the infra container), so the same `podman ps --filter label=...` that finds `podman` workloads
//! finds these containers and their pod ids, after an agent restart too. Ankaios keeps two podman
//! volumes per instance for this (`<instance>.config`, `<instance>.pods`, §7.2); labels need no
//! extra objects and cannot drift from the pods they describe. (`kube play --annotation` was
//! considered: podman puts annotations on containers, but `ps` does not show them.)
//!
//! Delete is `podman <generalOptions> kube down <downOptions> -` with the played manifest on
//! stdin when this process played it, then `podman pod stop` and `pod rm --force` of any pod
//! still labelled with the instance. The second step is what removes the pods of an instance
//! adopted after an agent restart (the manifest is not kept across restarts) and of a
//! half-failed play. Unlike Ankaios, `generalOptions` are passed to `kube down`, `ps`, `pod stop`,
//! `pod rm` and `logs` as well (§11.12), a restart after success does `down` before `play`
//! (§7.2), and logs are supported: each line is prefixed with its container's name.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use ank_schemas::RuntimeKind;

use super::kube_inject::KubeControlInterface;
use super::kube_manifest::{edit_manifest, parse_pod_ids};
use super::podman_cli::PodmanCli;
use super::podman_logs::stream_logs;
use super::{labels, ps};
use super::{
    InstanceRef, LineStream, LogOptions, ObservedInstance, RuntimeConnector, RuntimeError,
    RuntimeId,
};

/// The runtime name in manifests.
pub const NAME: RuntimeKind = RuntimeKind::PodmanKube;

/// Everything `podman kube play` needs for one workload instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeSpec {
    /// The full instance id, put into the pods' `ankmq.instance` label.
    pub instance: String,
    /// The Kubernetes YAML (one or more documents: Pods, Deployments, ConfigMaps, ...).
    pub manifest: String,
    /// podman options before the subcommand, used for every call.
    pub general_options: Vec<String>,
    /// Options of `kube play`, after `--quiet`.
    pub play_options: Vec<String>,
    /// Options of `kube down`.
    pub down_options: Vec<String>,
    /// Where the control interface goes, for a workload with allow rules (issue 15).
    pub control_interface: Option<KubeControlInterface>,
}

impl KubeSpec {
    /// How to address this instance.
    pub fn to_ref(&self) -> InstanceRef {
        InstanceRef {
            instance: self.instance.clone(),
            general_options: self.general_options.clone(),
        }
    }
}

/// What `kube down` needs later: the manifest as played and the down options.
#[derive(Debug, Clone)]
struct Played {
    manifest: String,
    down_options: Vec<String>,
}

/// The `podman-kube` runtime connector of one agent.
#[derive(Debug)]
pub struct PodmanKubeRuntime {
    cli: PodmanCli,
    agent: String,
    stop_grace: Duration,
    /// Manifests played by this process, by instance. A std Mutex: every critical section is a
    /// map lookup or insert, never held across an `.await`.
    played: Mutex<HashMap<String, Played>>,
}

impl PodmanKubeRuntime {
    /// A connector that labels pods with `agent`.
    pub fn new(cli: PodmanCli, agent: impl Into<String>) -> Self {
        Self {
            cli,
            agent: agent.into(),
            stop_grace: super::podman::DEFAULT_STOP_GRACE,
            played: Mutex::new(HashMap::new()),
        }
    }

    /// Sets how long `pod stop` waits before killing (`-t`), in whole seconds.
    pub fn with_stop_grace(mut self, grace: Duration) -> Self {
        self.stop_grace = grace;
        self
    }

    /// The manifest with the ownership labels added to every Pod and Deployment template, and
    /// the control interface injected into its target container (`kube_inject.rs`).
    pub fn labelled_manifest(&self, spec: &KubeSpec) -> Result<String, RuntimeError> {
        let labels = labels::ownership(&spec.instance, &self.agent, &NAME, &spec.general_options);
        edit_manifest(&spec.manifest, &labels, spec.control_interface.as_ref()).map_err(|reason| {
            RuntimeError::InvalidSpec {
                instance: spec.instance.clone(),
                reason,
            }
        })
    }

    /// The arguments of `kube play`, after the general options.
    pub fn play_args(spec: &KubeSpec) -> Vec<String> {
        let mut args = vec!["kube".to_owned(), "play".to_owned(), "--quiet".to_owned()];
        args.extend(spec.play_options.iter().cloned());
        args.push("-".into());
        args
    }

    /// The arguments of `kube down`, after the general options.
    pub fn down_args(down_options: &[String]) -> Vec<String> {
        let mut args = vec!["kube".to_owned(), "down".to_owned()];
        args.extend(down_options.iter().cloned());
        args.push("-".into());
        args
    }

    /// The two calls that remove `pods`, after the general options: `pod stop` with the grace
    /// period, then `pod rm --force`.
    ///
    /// Two calls because podman 4.3.1's `pod rm --force -t 0` takes seconds longer than
    /// `pod stop -t 0` followed by `pod rm` (measured: 3.8 s against 0.4 s for one pod).
    pub fn pod_remove_args(&self, pods: &[String]) -> [Vec<String>; 2] {
        let mut stop = vec![
            "pod".to_owned(),
            "stop".to_owned(),
            "--ignore".to_owned(),
            "-t".to_owned(),
            self.stop_grace.as_secs().to_string(),
        ];
        stop.extend(pods.iter().cloned());
        let mut rm = vec![
            "pod".to_owned(),
            "rm".to_owned(),
            "--force".to_owned(),
            "--ignore".to_owned(),
        ];
        rm.extend(pods.iter().cloned());
        [stop, rm]
    }

    fn remembered(&self, instance: &str) -> Option<Played> {
        // A poisoned lock only means another task panicked mid-insert; the map is still usable.
        let map = self.played.lock().unwrap_or_else(|e| e.into_inner());
        map.get(instance).cloned()
    }

    fn remember(&self, instance: &str, played: Option<Played>) {
        let mut map = self.played.lock().unwrap_or_else(|e| e.into_inner());
        match played {
            Some(played) => map.insert(instance.to_owned(), played),
            None => map.remove(instance),
        };
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

    /// `kube down` (if the manifest is known), then `pod rm` of what is left, then a check that
    /// nothing is left. A failed `kube down` (e.g. "no pod with name") is an error only if pods
    /// remain afterwards.
    async fn take_down(
        &self,
        target: &InstanceRef,
        played: Option<Played>,
    ) -> Result<(), RuntimeError> {
        let mut down_error = None;
        if let Some(played) = played {
            let args = Self::down_args(&played.down_options);
            if let Err(e) = self
                .cli
                .run(
                    &target.general_options,
                    &args,
                    Some(played.manifest.as_bytes()),
                )
                .await
            {
                down_error = Some(e);
            }
        }
        if let Some(left) = self.containers(target).await? {
            for args in self.pod_remove_args(&left.pods()) {
                self.cli.run(&target.general_options, &args, None).await?;
            }
            if self.containers(target).await?.is_some() {
                return Err(match down_error {
                    Some(e) => e.into(),
                    None => RuntimeError::NotRemoved {
                        instance: target.instance.clone(),
                    },
                });
            }
        }
        if let Some(e) = down_error {
            let instance = &target.instance;
            tracing::debug!(%instance, error = %e, "kube down failed; the pods are gone anyway");
        }
        self.remember(&target.instance, None);
        Ok(())
    }
}
impl RuntimeConnector for PodmanKubeRuntime {
    type Spec = KubeSpec;

    fn kind(&self) -> RuntimeKind {
        NAME
    }

    async fn list_instances(&self) -> Result<Vec<ObservedInstance>, RuntimeError> {
        ps::instances_of(&self.cli, &self.agent, &NAME).await
    }

    async fn create(&self, spec: &KubeSpec) -> Result<RuntimeId, RuntimeError> {
        let manifest = self.labelled_manifest(spec)?;
        let played = Played {
            manifest,
            down_options: spec.down_options.clone(),
        };
        let args = Self::play_args(spec);
        match self
            .cli
            .run(
                &spec.general_options,
                &args,
                Some(played.manifest.as_bytes()),
            )
            .await
        {
            Ok(stdout) => {
                self.remember(&spec.instance, Some(played));
                Ok(RuntimeId::Pods(parse_pod_ids(&stdout)))
            }
            Err(error) => {
                // A play can fail half way (one pod created, the next refused): take down what
                // it made so the retry starts clean.
                if let Err(cleanup) = self.take_down(&spec.to_ref(), Some(played)).await {
                    tracing::warn!(instance = %spec.instance, %cleanup, "cleanup after failed kube play");
                }
                Err(error.into())
            }
        }
    }

    async fn restart(&self, spec: &KubeSpec) -> Result<RuntimeId, RuntimeError> {
        let played = Played {
            manifest: self.labelled_manifest(spec)?,
            down_options: spec.down_options.clone(),
        };
        self.take_down(&spec.to_ref(), Some(played)).await?;
        self.create(spec).await
    }

    async fn delete(&self, target: &InstanceRef) -> Result<(), RuntimeError> {
        let played = self.remembered(&target.instance);
        self.take_down(target, played).await
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
        stream_logs(&self.cli, found, target, options, true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn play_and_down_read_the_manifest_from_stdin_after_their_options() {
        let spec = KubeSpec {
            instance: "i".into(),
            manifest: String::new(),
            general_options: vec![],
            play_options: vec!["--network".into(), "host".into()],
            down_options: vec!["--force".into()],
            control_interface: None,
        };
        assert_eq!(
            PodmanKubeRuntime::play_args(&spec),
            ["kube", "play", "--quiet", "--network", "host", "-"]
        );
        assert_eq!(
            PodmanKubeRuntime::down_args(&spec.down_options),
            ["kube", "down", "--force", "-"]
        );
    }

    #[test]
    fn leftover_pods_are_stopped_with_the_grace_then_removed() {
        let rt = PodmanKubeRuntime::new(PodmanCli::new("podman"), "a")
            .with_stop_grace(Duration::from_secs(2));
        let [stop, rm] = rt.pod_remove_args(&["p1".into(), "p2".into()]);
        assert_eq!(stop, ["pod", "stop", "--ignore", "-t", "2", "p1", "p2"]);
        assert_eq!(rm, ["pod", "rm", "--force", "--ignore", "p1", "p2"]);
    }
}
