//! The text work on a `podman-kube` manifest, apart from running podman: adding the `ankmq.*`
//! ownership labels to every `Pod` and `Deployment` template before `kube play` (how the agent
//! finds its pods again, see `podman_kube.rs`) and the control interface's mount where a workload
//! has one, and reading the pod ids back from `kube play`'s
//! output. Both read outside input (the manifest comes from the bus, the output from podman), so
//! both are pure and tested here with captured text.

use ank_schemas::yaml::{self, Limits};
use serde_json::{Map, Value};

use super::kube_inject::{self, KubeControlInterface};

/// Adds `labels` to every `Pod` and `Deployment` template of a multi-document manifest.
///
/// Other documents (ConfigMaps, PVCs, ...) are kept as they are. The result is re-serialised, so
/// comments, formatting and key order are lost, and aliases are expanded; podman does not care.
/// The manifest comes from the bus, so it is read within the bounds of `ank_schemas::yaml`
/// (the controller checked them too, but an agent does not trust its input).
pub fn label_manifest(manifest: &str, labels: &[(&str, String)]) -> Result<String, String> {
    edit_manifest(manifest, labels, None)
}

/// [`label_manifest`], plus the control interface of `ci` when the workload has one
/// (`kube_inject.rs`).
pub fn edit_manifest(
    manifest: &str,
    labels: &[(&str, String)],
    ci: Option<&KubeControlInterface>,
) -> Result<String, String> {
    let mut documents: Vec<Value> = yaml::documents(manifest, &Limits::DEFAULT)
        .map_err(|e| format!("the manifest is not accepted: {e}"))?;
    if let Some(ci) = ci {
        kube_inject::inject(&mut documents, ci)?;
    }
    let mut out = Vec::new();
    for mut value in documents {
        if value.is_null() {
            continue;
        }
        let kind = value.get("kind").and_then(Value::as_str).map(str::to_owned);
        let path: &[&str] = match kind.as_deref() {
            Some("Pod") => &["metadata", "labels"],
            Some("Deployment") => &["spec", "template", "metadata", "labels"],
            _ => &[],
        };
        if !path.is_empty() {
            let map = mapping_at(&mut value, path)
                .ok_or_else(|| format!("a {kind:?} document is not a mapping where labels go"))?;
            for (key, val) in labels {
                map.insert((*key).to_owned(), Value::from(val.as_str()));
            }
        }
        out.push(yaml::to_string(&value).map_err(|e| e.to_string())?);
    }
    if out.is_empty() {
        return Err("the manifest has no YAML document".into());
    }
    Ok(out.join("---\n"))
}

/// The mapping at `path`, creating missing (or null) levels; `None` if a level is not a mapping.
fn mapping_at<'a>(value: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut current = value;
    for key in path {
        let map = current.as_object_mut()?;
        let entry = map.entry(*key).or_insert_with(|| Value::Object(Map::new()));
        if entry.is_null() {
            *entry = Value::Object(Map::new());
        }
        current = entry;
    }
    current.as_object_mut()
}

/// The pod ids in `kube play` output: the lines under a `Pod:` or `Pods:` header.
pub fn parse_pod_ids(stdout: &str) -> Vec<String> {
    let mut in_pods = false;
    let mut ids = Vec::new();
    for line in stdout.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(header) = line.strip_suffix(':') {
            in_pods = header == "Pod" || header == "Pods";
        } else if in_pods {
            ids.push(line.to_owned());
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::labels;
    use crate::runtime::podman_kube::NAME;

    const POD_WITH_CONFIGMAP: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  greeting: hello
---
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: main
    image: localhost/img
";

    const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dep
spec:
  template:
    metadata:
      labels:
        app: dep
    spec:
      containers:
      - name: a
        image: localhost/img
";

    fn ours() -> Vec<(&'static str, String)> {
        labels::ownership("web.h.agent", "agent", &NAME, &[])
    }

    fn docs(yaml: &str) -> Vec<Value> {
        yaml::documents(yaml, &Limits::DEFAULT).expect("yaml")
    }

    #[test]
    fn pods_get_the_ownership_labels_and_configmaps_stay_as_they_are() {
        let out = label_manifest(POD_WITH_CONFIGMAP, &ours()).expect("labels");
        let docs = docs(&out);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0], self::docs(POD_WITH_CONFIGMAP)[0]);
        let labels = &docs[1]["metadata"]["labels"];
        assert_eq!(labels["ankmq.instance"].as_str(), Some("web.h.agent"));
        assert_eq!(labels["ankmq.agent"].as_str(), Some("agent"));
        assert_eq!(labels["ankmq.runtime"].as_str(), Some("podman-kube"));
    }

    #[test]
    fn deployments_get_them_on_the_pod_template_beside_existing_labels() {
        let out = label_manifest(DEPLOYMENT, &ours()).expect("labels");
        let labels = &docs(&out)[0]["spec"]["template"]["metadata"]["labels"];
        assert_eq!(labels["app"].as_str(), Some("dep"));
        assert_eq!(labels["ankmq.instance"].as_str(), Some("web.h.agent"));
    }

    #[test]
    fn general_options_label_survives_yaml_quoting() {
        let labels = labels::ownership("i.h.a", "a", &NAME, &["--log-level".into(), "info".into()]);
        let out = label_manifest(POD_WITH_CONFIGMAP, &labels).expect("labels");
        let value = &docs(&out)[1]["metadata"]["labels"]["ankmq.general-options"];
        assert_eq!(value.as_str(), Some(r#"["--log-level","info"]"#));
    }

    #[test]
    fn label_manifest_refuses_what_is_not_yaml_or_empty() {
        let table = [
            "kind: Pod\nmetadata: [unclosed",
            "",
            "---\n",
            "kind: Pod\nmetadata: 3\n",
        ];
        for manifest in table {
            assert!(label_manifest(manifest, &ours()).is_err(), "{manifest:?}");
        }
    }

    #[test]
    fn issue_14_label_manifest_refuses_alias_amplification_naming_the_bound() {
        let copies = vec!["*big"; 8_000].join(", ");
        let manifest = format!(
            "kind: ConfigMap\ndata:\n  big: &big {}\n  copies: [{copies}]\n",
            "x".repeat(100_000)
        );
        let err = label_manifest(&manifest, &ours()).unwrap_err();
        assert!(
            err.contains("YAML aliases expand beyond 4 MiB (limit MAX_EXPANDED_BYTES)"),
            "{err}"
        );
    }

    #[test]
    fn pod_ids_are_read_from_the_captured_play_output() {
        let out = include_str!("../../tests/fixtures/kube_play_deployment.txt");
        let ids = parse_pod_ids(out);
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].len(), 64);
        assert!(!out.lines().any(|l| l.trim() == ids[0] && l.contains(':')));
    }

    #[test]
    fn pod_ids_of_several_pods_skip_container_sections() {
        let out = "Pod:\naaa\nContainer:\nc1\n\nPod:\nbbb\nContainers:\nc2\nc3\n";
        assert_eq!(parse_pod_ids(out), ["aaa", "bbb"]);
    }
}
