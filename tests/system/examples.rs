//! The manifests in `examples/` are what a new user copies first, so each must be accepted
//! exactly as `ank apply` would accept it: parsed, validated and rendered without an error.
//!
//! The table is the directory listing, so a new example is covered the moment it is added.
//! Beyond "it is accepted", the examples must run on a machine without an image registry: every
//! container uses the local test image, and Kubernetes containers say `imagePullPolicy: Never`.
//! Running the examples on real podman is the job of the scenario tests (issue 7).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ank_schemas::yaml::{self, Limits};
use ank_schemas::{
    parse_manifest, render, validate, FileContent, Manifest, RenderedWorkload, RuntimeConfig,
    RuntimeKind,
};
use ank_system_tests::podman::workspace_root;
use serde_json::Value;

/// The image every example runs (built locally by scripts/test-env.sh).
const LOCAL_IMAGE: &str = "localhost/ank-test/busybox:latest";

/// The examples the task and the README promise; the listing may hold more.
const PROMISED: [&str; 7] = [
    "quickstart.yaml",
    "podman.yaml",
    "podman-kube.yaml",
    "dependencies.yaml",
    "configs.yaml",
    "files.yaml",
    "control-interface.yaml",
];

/// The agents the examples may name; the quickstart starts `agent_A` only.
const AGENTS: [&str; 2] = ["agent_A", "agent_B"];

fn examples_dir() -> PathBuf {
    workspace_root().join("examples")
}

/// Every `examples/*.yaml`, sorted by name.
fn example_files() -> Vec<PathBuf> {
    let dir = examples_dir();
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
                .path()
        })
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads, parses, validates and renders one example, or says every reason it is refused.
fn accept(path: &Path) -> Result<(Manifest, BTreeMap<String, RenderedWorkload>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    let manifest = parse_manifest(&text).map_err(|errors| list("parse", &errors))?;
    let errors = validate(&manifest);
    if !errors.is_empty() {
        return Err(list("validate", &errors));
    }
    let rendered = render(&manifest).map_err(|errors| list("render", &errors))?;
    Ok((manifest, rendered))
}

fn list(stage: &str, errors: &[impl std::fmt::Display]) -> String {
    let lines: Vec<String> = errors.iter().map(|e| format!("  {stage}: {e}")).collect();
    lines.join("\n")
}

/// Every example, accepted and rendered, or a panic naming each refused file and why.
fn accepted_examples() -> Vec<(String, Manifest, BTreeMap<String, RenderedWorkload>)> {
    let files = example_files();
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for path in &files {
        match accept(path) {
            Ok((manifest, rendered)) => accepted.push((name_of(path), manifest, rendered)),
            Err(why) => refused.push(format!("{}:\n{why}", name_of(path))),
        }
    }
    assert!(
        refused.is_empty(),
        "examples refused:\n{}",
        refused.join("\n")
    );
    accepted
}

/// The runtime an example names; every example names one as a valid name.
fn kind(runtime: &str) -> RuntimeKind {
    RuntimeKind::parse(runtime).unwrap_or_else(|e| panic!("an example's runtime: {e}"))
}

/// The rendered runtime configs of every example, as (file, workload, config).
fn runtime_configs() -> Vec<(String, String, RuntimeConfig)> {
    let mut configs = Vec::new();
    for (file, _, rendered) in accepted_examples() {
        for (name, workload) in rendered {
            let spec = &workload.spec;
            let config = RuntimeConfig::parse(&kind(&spec.runtime), &spec.runtime_config)
                .unwrap_or_else(|e| panic!("{file}: {name}: runtimeConfig: {e}"));
            configs.push((file.clone(), name, config));
        }
    }
    configs
}

/// The YAML documents of a kube manifest, without empty ones.
fn kube_documents(manifest: &str) -> Vec<Value> {
    yaml::documents::<Value>(manifest, &Limits::DEFAULT)
        .unwrap_or_else(|e| panic!("kube manifest is not YAML: {e}"))
        .into_iter()
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The containers of a Pod or of a Deployment's pod template.
fn kube_containers(document: &Value) -> Vec<Value> {
    let spec = match document["kind"].as_str() {
        Some("Pod") => &document["spec"],
        Some("Deployment") => &document["spec"]["template"]["spec"],
        _ => return Vec::new(),
    };
    spec["containers"].as_array().cloned().unwrap_or_default()
}

#[test]
fn every_promised_example_exists() {
    let names: Vec<String> = example_files().iter().map(|p| name_of(p)).collect();
    for promised in PROMISED {
        assert!(
            names.iter().any(|n| n == promised),
            "examples/{promised} is missing (found {names:?})"
        );
    }
}

#[test]
fn every_example_parses_validates_and_renders() {
    let accepted = accepted_examples();
    assert!(
        accepted.len() >= PROMISED.len(),
        "only {} examples found in {}",
        accepted.len(),
        examples_dir().display()
    );
    for (file, manifest, rendered) in accepted {
        assert!(!manifest.workloads.is_empty(), "{file} has no workload");
        assert_eq!(
            rendered.len(),
            manifest.workloads.len(),
            "{file}: not every workload rendered"
        );
    }
}

#[test]
fn every_example_runs_on_a_known_agent() {
    for (file, _, rendered) in accepted_examples() {
        for (name, workload) in rendered {
            assert!(
                AGENTS.contains(&workload.spec.agent.as_str()),
                "{file}: {name} runs on `{}`, not on {AGENTS:?}",
                workload.spec.agent
            );
        }
    }
}

#[test]
fn podman_examples_use_only_the_local_image() {
    for (file, name, config) in runtime_configs() {
        if let RuntimeConfig::Podman(podman) = config {
            assert_eq!(podman.image, LOCAL_IMAGE, "{file}: {name}");
        }
    }
}

#[test]
fn podman_kube_runtime_configs_parse_as_kube_configs() {
    let mut kube_workloads = 0;
    for (file, _, rendered) in accepted_examples() {
        for (name, workload) in rendered {
            let spec = &workload.spec;
            if kind(&spec.runtime) != RuntimeKind::PodmanKube {
                continue;
            }
            kube_workloads += 1;
            match RuntimeConfig::parse(&kind(&spec.runtime), &spec.runtime_config) {
                Ok(RuntimeConfig::PodmanKube(_)) => {}
                other => panic!("{file}: {name}: expected a podman-kube config, got {other:?}"),
            }
        }
    }
    // podman-kube.yaml has a Pod and a Deployment, configs.yaml a templated Pod.
    assert!(
        kube_workloads >= 3,
        "only {kube_workloads} podman-kube workloads"
    );
}

#[test]
fn kube_examples_never_pull_and_use_the_local_image() {
    let mut kinds = Vec::new();
    for (file, name, config) in runtime_configs() {
        let RuntimeConfig::PodmanKube(kube) = config else {
            continue;
        };
        for document in kube_documents(&kube.manifest) {
            if let Some(kind) = document["kind"].as_str() {
                kinds.push(kind.to_owned());
            }
            for container in kube_containers(&document) {
                let which = format!("{file}: {name}: container {:?}", container["name"]);
                assert_eq!(container["image"].as_str(), Some(LOCAL_IMAGE), "{which}");
                assert_eq!(
                    container["imagePullPolicy"].as_str(),
                    Some("Never"),
                    "{which}: kube play would try a registry"
                );
            }
        }
    }
    for kind in ["Pod", "Deployment", "ConfigMap"] {
        assert!(kinds.iter().any(|k| k == kind), "no example shows a {kind}");
    }
}

#[test]
fn the_indent_partial_puts_the_config_file_verbatim_into_the_config_map() {
    let (_, manifest, rendered) = accepted_examples()
        .into_iter()
        .find(|(file, _, _)| file == "configs.yaml")
        .expect("configs.yaml is an example");
    let Some(ank_schemas::ConfigItem::String(expected)) = manifest.configs.get("proxy_conf") else {
        panic!("configs.yaml: proxy_conf is not a string");
    };
    let spec = &rendered["proxy_pod"].spec;
    let Ok(RuntimeConfig::PodmanKube(kube)) =
        RuntimeConfig::parse(&kind(&spec.runtime), &spec.runtime_config)
    else {
        panic!("configs.yaml: proxy_pod is not podman-kube");
    };
    let documents = kube_documents(&kube.manifest);
    let config_map = documents
        .iter()
        .find(|d| d["kind"].as_str() == Some("ConfigMap"))
        .expect("proxy_pod has a ConfigMap");
    assert_eq!(
        config_map["data"]["proxy.conf"].as_str(),
        Some(expected.as_str())
    );

    // The same partial inside a mounted file, under a YAML key.
    let file = &rendered["config_printer"].spec.files[0];
    let FileContent::Data(text) = &file.content else {
        panic!("config_printer's file is text");
    };
    let settings: Value = yaml::from_str(text, &Limits::DEFAULT)
        .unwrap_or_else(|e| panic!("rendered settings.yaml is not YAML: {e}\n{text}"));
    assert_eq!(settings["proxy"].as_str(), Some(expected.as_str()));
    assert_eq!(settings["port"].as_u64(), Some(18082));
}

#[test]
fn the_each_loop_renders_one_option_pair_per_list_item() {
    let (_, _, rendered) = accepted_examples()
        .into_iter()
        .find(|(file, _, _)| file == "configs.yaml")
        .expect("configs.yaml is an example");
    let spec = &rendered["templated_web"].spec;
    let Ok(RuntimeConfig::Podman(podman)) =
        RuntimeConfig::parse(&kind(&spec.runtime), &spec.runtime_config)
    else {
        panic!("configs.yaml: templated_web is not podman");
    };
    assert_eq!(
        podman.command_options,
        [
            "-p",
            "127.0.0.1:18082:8080",
            "-e",
            "TITLE=configured by ankmq",
            "-e",
            "MOTTO=one manifest, many values",
        ]
    );
    assert_eq!(spec.agent, "agent_A");
}
