//! Claims about `dispatch.rs`; `desired` is shared with `execute.rs`'s tests.

use super::*;
use crate::runtime::PodmanCli;
use ank_schemas::{
    ControlInterfaceAccess, DesiredWorkload, FileContent, RestartPolicy, WorkloadFile,
};
use std::collections::BTreeMap;
use std::path::Path;

/// A podman workload of `agent_A` with `files`.
pub(crate) fn desired(files: Vec<WorkloadFile>) -> Workload {
    let config = "image: localhost/img\ncommandArgs: [sh]";
    Workload::new(DesiredWorkload {
        instance_id: InstanceId::compute("w", "agent_A", "podman", config, &files),
        runtime: RuntimeKind::Podman,
        runtime_config: config.into(),
        restart_policy: RestartPolicy::Never,
        dependencies: BTreeMap::new(),
        tags: BTreeMap::new(),
        files,
        control_interface_access: ControlInterfaceAccess::default(),
        delete_conditions: BTreeMap::new(),
        expected_instances: BTreeMap::new(),
    })
}

/// Real connectors that are never run: `spec` only builds arguments and writes files.
fn runtimes(io: &Path, kube: bool) -> Runtimes {
    let cli = PodmanCli::new("podman");
    Runtimes {
        podman: Some(PodmanRuntime::new(cli.clone(), "agent_A")),
        kube: kube.then(|| PodmanKubeRuntime::new(cli, "agent_A")),
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
    let rt = runtimes(dir.path(), false);
    let Ok(Spec::Podman(_, spec)) = rt.spec(&d) else {
        panic!("a podman spec");
    };
    assert_eq!(spec.container_name, d.instance_id().short());
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
fn bad_files_and_disabled_or_unknown_runtimes_are_not_retryable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtimes(dir.path(), false);
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
        match rt.spec(&d) {
            Err(error @ OpError::Unstartable(_)) => assert!(!error.is_retryable()),
            Err(other) => panic!("{mount_point}: {other:?}"),
            Ok(_) => panic!("{mount_point}: accepted"),
        }
    }
    for runtime in [
        RuntimeKind::PodmanKube,
        RuntimeKind::Other("containerd".into()),
    ] {
        let error = rt
            .connector(&runtime)
            .err()
            .expect("not enabled on this agent");
        assert!(matches!(&error, OpError::NotEnabled(kind) if *kind == runtime));
        assert!(!error.is_retryable() && error.is_gone());
    }
}
