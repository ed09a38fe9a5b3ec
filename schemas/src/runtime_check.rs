//! What a workload's runtime requires of it, beyond the rules every workload obeys: the runtime
//! is one this build runs, its runtimeConfig parses, the runtime takes files, a kube workload
//! with allow rules names its control interface target, and every file is writable. The agent
//! that runs the workload checks this once, when the snapshot arrives, and reports a failure as
//! that workload's `Pending(StartingFailed)` while the rest of the manifest runs (Ankaios §1.2,
//! §1.6, §7.2; issue 16 point 2). The controller accepts such workloads: another agent may run a
//! runtime this one does not.

use crate::files::{check_mount_point, file_bytes, FileProblem};
use crate::manifest::{ControlInterfaceAccess, WorkloadFile};
use crate::runtime_config::{RuntimeConfig, RuntimeConfigError};
use crate::runtime_kind::RuntimeKind;

/// A workload its runtime can start: the parsed runtimeConfig and the files' bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeReady {
    /// The runtimeConfig, parsed for the workload's runtime.
    pub config: RuntimeConfig,
    /// Every file, decoded, in manifest order.
    pub files: Vec<FileBytes>,
}

impl RuntimeReady {
    /// The `generalOptions` podman needs to reach the workload's containers.
    pub fn general_options(&self) -> &[String] {
        match &self.config {
            RuntimeConfig::Podman(c) => &c.general_options,
            RuntimeConfig::PodmanKube(c) => &c.general_options,
        }
    }
}

/// One workload file, checked and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileBytes {
    /// Where the container sees it (absolute, checked).
    pub mount_point: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// Why a workload's runtime cannot start it, whatever is retried. The text is the state's
/// additionalInfo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeProblem {
    /// The runtime is not one this build runs (Ankaios: "Unsupported Runtime").
    #[error("Unsupported Runtime '{0}'")]
    Unsupported(RuntimeKind),
    /// The runtimeConfig does not parse for the runtime.
    #[error("Could not parse the runtimeConfig: {0}")]
    Config(RuntimeConfigError),
    /// The runtime takes no files (podman-kube: use a ConfigMap).
    #[error("Workload files are not supported by the {0} runtime; use a ConfigMap")]
    FilesNotSupported(RuntimeKind),
    /// A podman-kube workload with allow rules does not say which container gets the control
    /// interface.
    #[error("A podman-kube workload with allowRules needs controlInterfaceTarget")]
    NoControlInterfaceTarget,
    /// A file cannot be written as given.
    #[error("Invalid workload file: {0}")]
    File(FileProblem),
}

/// Checks a rendered workload against its runtime's requirements and returns what the runtime
/// needs to start it.
pub fn check_for_runtime(
    runtime: &RuntimeKind,
    runtime_config: &str,
    files: &[WorkloadFile],
    access: &ControlInterfaceAccess,
) -> Result<RuntimeReady, RuntimeProblem> {
    if !runtime.is_known() {
        return Err(RuntimeProblem::Unsupported(runtime.clone()));
    }
    let config = RuntimeConfig::parse(runtime, runtime_config).map_err(RuntimeProblem::Config)?;
    if !files.is_empty() && !runtime.supports_files() {
        return Err(RuntimeProblem::FilesNotSupported(runtime.clone()));
    }
    if let RuntimeConfig::PodmanKube(kube) = &config {
        if !access.allow_rules.is_empty() && kube.control_interface_target.is_none() {
            return Err(RuntimeProblem::NoControlInterfaceTarget);
        }
    }
    let files = files
        .iter()
        .map(|file| {
            check_mount_point(&file.mount_point)?;
            Ok(FileBytes {
                mount_point: file.mount_point.clone(),
                bytes: file_bytes(&file.mount_point, &file.content)?,
            })
        })
        .collect::<Result<_, FileProblem>>()
        .map_err(RuntimeProblem::File)?;
    Ok(RuntimeReady { config, files })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{AccessRule, FileContent, ReadWriteEnum, StateRule};

    const POD: &str = "manifest: 'kind: Pod'";

    /// (runtime, runtimeConfig, files, access, refusal starting with, or None)
    type Row<'a> = (
        &'a str,
        &'a str,
        Vec<WorkloadFile>,
        &'a ControlInterfaceAccess,
        Option<&'a str>,
    );

    fn file(mount_point: &str, content: FileContent) -> WorkloadFile {
        WorkloadFile {
            mount_point: mount_point.into(),
            content,
        }
    }

    #[test]
    fn each_runtime_requirement_refuses_with_its_reason() {
        let kind = |t: &str| RuntimeKind::parse(t).expect("a name");
        let allow = ControlInterfaceAccess {
            allow_rules: vec![AccessRule::StateRule(StateRule {
                operation: ReadWriteEnum::Read,
                filter_masks: vec!["desiredState".into()],
            })],
            ..ControlInterfaceAccess::default()
        };
        let none = ControlInterfaceAccess::default();
        let text = |t: &str| file("/a", FileContent::Data(t.into()));
        let table: Vec<Row> = vec![
            ("podman", "image: x", vec![text("1")], &none, None),
            ("podman-kube", POD, vec![], &none, None),
            (
                "containerd",
                "image: x",
                vec![],
                &none,
                Some("Unsupported Runtime 'containerd'"),
            ),
            (
                "podman",
                "imgae: x",
                vec![],
                &none,
                Some("Could not parse the runtimeConfig: unknown key 'imgae'"),
            ),
            (
                "podman-kube",
                POD,
                vec![text("1")],
                &none,
                Some("Workload files are not supported by the podman-kube runtime"),
            ),
            (
                "podman-kube",
                POD,
                vec![],
                &allow,
                Some("A podman-kube workload with allowRules needs controlInterfaceTarget"),
            ),
            (
                "podman-kube",
                "manifest: 'kind: Pod'\ncontrolInterfaceTarget: p/c",
                vec![],
                &allow,
                None,
            ),
            (
                "podman",
                "image: x",
                vec![file("rel", FileContent::Data("x".into()))],
                &none,
                Some("Invalid workload file: mount point 'rel'"),
            ),
            (
                "podman",
                "image: x",
                vec![file("/b", FileContent::BinaryData("!!".into()))],
                &none,
                Some("Invalid workload file: binaryData of '/b'"),
            ),
        ];
        for (runtime, config, files, access, refusal) in table {
            let result = check_for_runtime(&kind(runtime), config, &files, access);
            match (refusal, result) {
                (None, Ok(ready)) => assert_eq!(ready.files.len(), files.len()),
                (Some(start), Err(problem)) => {
                    let text = problem.to_string();
                    assert!(text.starts_with(start), "{runtime}: {text}");
                }
                (refusal, result) => panic!("{runtime} {config}: {refusal:?} vs {result:?}"),
            }
        }
    }
}
