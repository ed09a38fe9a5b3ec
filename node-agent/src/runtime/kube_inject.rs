//! The podman-kube side of the control interface (issue 15): the FIFO folder of a workload with
//! allow rules is injected into the manifest given to `podman kube play`, into the container
//! named by `runtimeConfig.controlInterfaceTarget` (`<pod>/<container>`), as Ankaios does
//! (`podman_kube_runtime.rs`, reference §7.2): a `hostPath` volume `control-interface-volume`
//! (type `Directory`) on the pod and a mount of it at `/run/ankaios/control_interface` in that
//! container. A pod is a `Pod` whose `metadata.name` is `<pod>`, or a `Deployment` whose
//! `metadata.name` + `-pod` is `<pod>` (podman's name for a Deployment's pod).
//!
//! Pure: it edits parsed YAML documents (the same walk that adds the ownership labels in
//! `podman_kube.rs`); it never touches the FIFOs. A target that names nothing in the manifest
//! is an error naming what is missing, reported as the workload's `Pending(StartingFailed)`.

use std::path::PathBuf;

use ank_schemas::control_interface::CONTAINER_PATH;
use serde_json::{json, Map, Value};

/// The volume's name in the pod, as Ankaios names it.
pub const VOLUME_NAME: &str = "control-interface-volume";

/// Where a podman-kube workload's control interface goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeControlInterface {
    /// The instance's FIFO folder on the host.
    pub folder: PathBuf,
    /// `runtimeConfig.controlInterfaceTarget`, `<pod>/<container>`; `None` when it is missing.
    pub target: Option<String>,
}

/// Adds the volume and the mount to the target container of `documents`.
pub fn inject(documents: &mut [Value], ci: &KubeControlInterface) -> Result<(), String> {
    let target = ci.target.as_deref().ok_or(
        "A podman-kube workload with allowRules needs controlInterfaceTarget (`<pod>/<container>`)",
    )?;
    let Some((pod, container)) = target.split_once('/') else {
        return Err(format!(
            "controlInterfaceTarget '{target}' must be `<pod>/<container>`"
        ));
    };
    let folder = ci
        .folder
        .to_str()
        .ok_or_else(|| format!("the control interface folder {:?} is not UTF-8", ci.folder))?;
    let spec = documents
        .iter_mut()
        .find_map(|doc| pod_spec(doc, pod))
        .ok_or_else(|| {
            format!(
                "controlInterfaceTarget '{target}': the manifest has no Pod named '{pod}' \
                 (nor a Deployment named '{}')",
                pod.strip_suffix("-pod").unwrap_or(pod)
            )
        })?;
    let containers = spec
        .get_mut("containers")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| {
            format!("controlInterfaceTarget '{target}': pod '{pod}' has no containers")
        })?;
    let found = containers
        .iter_mut()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| {
            format!("controlInterfaceTarget '{target}': pod '{pod}' has no container named '{container}'")
        })?;
    push(
        found,
        "volumeMounts",
        json!({"name": VOLUME_NAME, "mountPath": CONTAINER_PATH}),
    )?;
    push(
        spec,
        "volumes",
        json!({"name": VOLUME_NAME, "hostPath": {"path": folder, "type": "Directory"}}),
    )
}

/// The pod spec of `doc` if it is the pod named `pod`.
fn pod_spec<'a>(doc: &'a mut Value, pod: &str) -> Option<&'a mut Map<String, Value>> {
    let name = doc.pointer("/metadata/name").and_then(Value::as_str)?;
    let path = match doc.get("kind").and_then(Value::as_str)? {
        "Pod" if name == pod => "/spec",
        "Deployment" if format!("{name}-pod") == pod => "/spec/template/spec",
        _ => return None,
    };
    doc.pointer_mut(path).and_then(Value::as_object_mut)
}

/// Appends `item` to the list `key` of `map` (created if missing), replacing an entry of the
/// same name: a manifest that already has a `control-interface-volume` gets ours.
fn push(map: &mut Map<String, Value>, key: &str, item: Value) -> Result<(), String> {
    let list = map.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if list.is_null() {
        *list = Value::Array(Vec::new());
    }
    let list = list
        .as_array_mut()
        .ok_or_else(|| format!("`{key}` of the control interface target is not a list"))?;
    list.retain(|entry| entry.get("name") != item.get("name"));
    list.push(item);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ci(target: Option<&str>) -> KubeControlInterface {
        KubeControlInterface {
            folder: PathBuf::from("/run/ank/a_io/w.h/control_interface"),
            target: target.map(str::to_owned),
        }
    }

    fn docs(yaml: &str) -> Vec<Value> {
        ank_schemas::yaml::documents(yaml, &ank_schemas::yaml::Limits::DEFAULT).unwrap()
    }

    const MANIFEST: &str = "\
kind: ConfigMap
metadata: {name: cfg}
---
kind: Pod
metadata: {name: web}
spec:
  containers:
    - name: side
      image: x
    - name: app
      image: x
      volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, emptyDir: {}}]
---
kind: Deployment
metadata: {name: dep}
spec:
  template:
    spec:
      containers: [{name: app, image: x}]
";

    #[test]
    fn issue_15_the_fifo_folder_is_mounted_into_the_target_container_only() {
        let mut d = docs(MANIFEST);
        inject(&mut d, &ci(Some("web/app"))).unwrap();
        let app = &d[1]["spec"]["containers"][1];
        assert_eq!(
            app["volumeMounts"][0]["name"], "data",
            "existing mounts stay"
        );
        assert_eq!(app["volumeMounts"][1]["name"], VOLUME_NAME);
        assert_eq!(app["volumeMounts"][1]["mountPath"], CONTAINER_PATH);
        assert!(d[1]["spec"]["containers"][0].get("volumeMounts").is_none());
        let volume = &d[1]["spec"]["volumes"][1];
        assert_eq!(volume["name"], VOLUME_NAME);
        assert_eq!(
            volume["hostPath"]["path"],
            "/run/ank/a_io/w.h/control_interface"
        );
        assert_eq!(volume["hostPath"]["type"], "Directory");
        assert!(d[2]["spec"]["template"]["spec"].get("volumes").is_none());
    }

    #[test]
    fn issue_15_a_deployment_is_targeted_by_its_pod_name() {
        let mut d = docs(MANIFEST);
        inject(&mut d, &ci(Some("dep-pod/app"))).unwrap();
        let spec = &d[2]["spec"]["template"]["spec"];
        assert_eq!(
            spec["containers"][0]["volumeMounts"][0]["name"],
            VOLUME_NAME
        );
        assert_eq!(spec["volumes"][0]["hostPath"]["type"], "Directory");
    }

    #[test]
    fn issue_15_a_target_that_names_nothing_is_an_error_naming_what_is_missing() {
        let cases = [
            (None, "needs controlInterfaceTarget"),
            (Some("web"), "must be `<pod>/<container>`"),
            (Some("nope/app"), "no Pod named 'nope'"),
            (Some("dep/app"), "no Pod named 'dep'"),
            (Some("web/nope"), "no container named 'nope'"),
            (Some("cfg/app"), "no Pod named 'cfg'"),
        ];
        for (target, expected) in cases {
            let mut d = docs(MANIFEST);
            let before = d.clone();
            let error = inject(&mut d, &ci(target)).unwrap_err();
            assert!(error.contains(expected), "{target:?}: {error}");
            assert_eq!(d, before, "{target:?}: nothing changed");
        }
    }
}
