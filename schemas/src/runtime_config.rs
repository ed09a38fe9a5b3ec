//! The `runtimeConfig` string of a workload, parsed for its runtime (Ankaios §1.3).
//!
//! Both camelCase and snake_case keys are accepted, as in Ankaios. Unlike Ankaios, which ignores
//! unknown keys, we refuse them and suggest the closest known key: a misspelt `comandArgs` would
//! otherwise silently run a container without its arguments. Building command lines from these
//! values is the agent's job (`node-agent/src/runtime/`), not this module's.
//! The text, and the kube manifest inside it, are read within the bounds of `yaml.rs`: the
//! controller, the agent and `ank` all parse them.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::runtime_kind::RuntimeKind;
use crate::suggest::closest;
use crate::yaml::{self, Limits, YamlError};

/// A parsed runtimeConfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeConfig {
    /// For the `podman` runtime.
    Podman(PodmanConfig),
    /// For the `podman-kube` runtime.
    PodmanKube(PodmanKubeConfig),
}

/// The runtimeConfig of a `podman` workload.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct PodmanConfig {
    /// Arguments before the podman sub-command (`podman <general> run …`).
    #[serde(default)]
    pub general_options: Vec<String>,
    /// The image to run; required.
    pub image: String,
    /// Arguments of `podman run`, before the image.
    #[serde(default)]
    pub command_options: Vec<String>,
    /// Arguments after the image.
    #[serde(default)]
    pub command_args: Vec<String>,
}

/// The runtimeConfig of a `podman-kube` workload.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct PodmanKubeConfig {
    /// Arguments before `kube play`.
    #[serde(default)]
    pub general_options: Vec<String>,
    /// One or more Kubernetes YAML documents; required.
    pub manifest: String,
    /// Arguments appended to `podman kube play --quiet`.
    #[serde(default)]
    pub play_options: Vec<String>,
    /// Arguments appended to `podman kube down`.
    #[serde(default)]
    pub down_options: Vec<String>,
    /// `<pod>/<container>` that gets the control interface; needed iff the workload has allow
    /// rules.
    #[serde(default)]
    pub control_interface_target: Option<String>,
}

/// Why a runtimeConfig was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeConfigError {
    /// The runtime is not one ankmq runs, so no runtimeConfig of it can be read here.
    #[error("unknown runtime '{0}'")]
    UnknownRuntime(RuntimeKind),
    /// The text is not YAML, or is beyond a bound of `yaml.rs`.
    #[error("runtimeConfig: {0}")]
    Yaml(YamlError),
    /// The YAML is not a mapping.
    #[error("runtimeConfig must be a YAML mapping")]
    NotAMapping,
    /// A key that the runtime does not know.
    #[error("unknown key '{key}' in the {runtime} runtimeConfig")]
    UnknownKey {
        /// The runtime.
        runtime: &'static str,
        /// The key as written.
        key: String,
        /// The closest known key, if one is close.
        suggestion: Option<&'static str>,
    },
    /// A key given twice, e.g. as `commandArgs` and `command_args`.
    #[error("key '{0}' is given twice (camelCase and snake_case)")]
    DuplicateKey(&'static str),
    /// A required key is missing.
    #[error("the {runtime} runtimeConfig needs '{key}'")]
    MissingKey {
        /// The runtime.
        runtime: &'static str,
        /// The missing key.
        key: &'static str,
    },
    /// A value has the wrong type (e.g. a number in a list of arguments).
    #[error("invalid runtimeConfig: {0}")]
    InvalidValue(String),
    /// The podman-kube `manifest` is not valid multi-document YAML of Kubernetes objects.
    #[error("invalid podman-kube manifest: {0}")]
    KubeManifest(String),
    /// `controlInterfaceTarget` is not `<pod>/<container>`.
    #[error("controlInterfaceTarget '{0}' must be `<pod>/<container>`")]
    ControlInterfaceTarget(String),
}

impl RuntimeConfigError {
    /// A hint for the user, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            RuntimeConfigError::UnknownRuntime(_) => {
                Some(format!("one of {}", RuntimeKind::known_names()))
            }
            RuntimeConfigError::UnknownKey {
                suggestion: Some(s),
                ..
            } => Some(format!("did you mean `{s}`?")),
            RuntimeConfigError::UnknownKey { runtime, .. } => Some(format!(
                "known keys: {}",
                keys_of(runtime)
                    .iter()
                    .map(|(camel, _)| *camel)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => None,
        }
    }
}

const PODMAN_KEYS: &[(&str, &str)] = &[
    ("generalOptions", "general_options"),
    ("image", "image"),
    ("commandOptions", "command_options"),
    ("commandArgs", "command_args"),
];

const KUBE_KEYS: &[(&str, &str)] = &[
    ("generalOptions", "general_options"),
    ("manifest", "manifest"),
    ("playOptions", "play_options"),
    ("downOptions", "down_options"),
    ("controlInterfaceTarget", "control_interface_target"),
];

fn keys_of(runtime: &str) -> &'static [(&'static str, &'static str)] {
    match RuntimeKind::parse(runtime) {
        Ok(RuntimeKind::PodmanKube) => KUBE_KEYS,
        _ => PODMAN_KEYS,
    }
}

impl RuntimeConfig {
    /// Parses `text` as the runtimeConfig of `runtime`.
    pub fn parse(runtime: &RuntimeKind, text: &str) -> Result<RuntimeConfig, RuntimeConfigError> {
        match runtime {
            RuntimeKind::Podman => {
                let value = normalized("podman", PODMAN_KEYS, text)?;
                let config: PodmanConfig = from_value("podman", value)?;
                Ok(RuntimeConfig::Podman(config))
            }
            RuntimeKind::PodmanKube => {
                let value = normalized("podman-kube", KUBE_KEYS, text)?;
                let config: PodmanKubeConfig = from_value("podman-kube", value)?;
                check_kube_manifest(&config.manifest)?;
                if let Some(target) = &config.control_interface_target {
                    if !is_pod_slash_container(target) {
                        return Err(RuntimeConfigError::ControlInterfaceTarget(target.clone()));
                    }
                }
                Ok(RuntimeConfig::PodmanKube(config))
            }
            other => Err(RuntimeConfigError::UnknownRuntime(other.clone())),
        }
    }
}

/// Parses the YAML mapping and rewrites every key to its snake_case field name.
fn normalized(
    runtime: &'static str,
    keys: &'static [(&'static str, &'static str)],
    text: &str,
) -> Result<Value, RuntimeConfigError> {
    // Keys of any scalar type arrive as their text (`1: x` has the key "1").
    let value: Value = yaml::from_str(text, &Limits::DEFAULT).map_err(RuntimeConfigError::Yaml)?;
    let map = match value {
        Value::Object(map) => map,
        // An empty runtimeConfig is an empty mapping, which then misses its required key.
        Value::Null => Map::new(),
        _ => return Err(RuntimeConfigError::NotAMapping),
    };
    let mut out = Map::new();
    for (key_text, value) in map {
        let Some((_, snake)) = keys
            .iter()
            .find(|(camel, snake)| key_text == *camel || key_text == *snake)
        else {
            let candidates = keys.iter().map(|(camel, _)| *camel);
            return Err(RuntimeConfigError::UnknownKey {
                runtime,
                suggestion: closest(&key_text, candidates),
                key: key_text,
            });
        };
        if out.insert((*snake).to_owned(), value).is_some() {
            return Err(RuntimeConfigError::DuplicateKey(snake));
        }
    }
    Ok(Value::Object(out))
}

fn from_value<T: for<'de> Deserialize<'de>>(
    runtime: &'static str,
    value: Value,
) -> Result<T, RuntimeConfigError> {
    serde_json::from_value(value).map_err(|e| {
        let text = e.to_string();
        match text.strip_prefix("missing field `") {
            Some(rest) => {
                let field = rest.split('`').next().unwrap_or_default();
                let key = keys_of(runtime)
                    .iter()
                    .find(|(_, snake)| *snake == field)
                    .map_or("?", |(camel, _)| camel);
                RuntimeConfigError::MissingKey { runtime, key }
            }
            None => RuntimeConfigError::InvalidValue(text),
        }
    })
}

/// Every non-empty document must be a mapping with a string `kind`.
fn check_kube_manifest(manifest: &str) -> Result<(), RuntimeConfigError> {
    let mut objects = 0;
    let documents: Vec<Value> = yaml::documents(manifest, &Limits::DEFAULT)
        .map_err(|e| RuntimeConfigError::KubeManifest(e.to_string()))?;
    for (i, value) in documents.into_iter().enumerate() {
        match value {
            Value::Null => continue,
            Value::Object(map) => match map.get("kind") {
                Some(Value::String(kind)) if !kind.is_empty() => objects += 1,
                _ => {
                    return Err(RuntimeConfigError::KubeManifest(format!(
                        "document {} has no `kind`",
                        i + 1
                    )))
                }
            },
            _ => {
                return Err(RuntimeConfigError::KubeManifest(format!(
                    "document {} is not a mapping",
                    i + 1
                )))
            }
        }
    }
    if objects == 0 {
        return Err(RuntimeConfigError::KubeManifest(
            "it holds no Kubernetes object".to_owned(),
        ));
    }
    Ok(())
}

fn is_pod_slash_container(target: &str) -> bool {
    matches!(target.split_once('/'), Some((pod, container))
        if !pod.is_empty() && !container.is_empty() && !container.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn podman(text: &str) -> Result<PodmanConfig, RuntimeConfigError> {
        match RuntimeConfig::parse(&RuntimeKind::Podman, text)? {
            RuntimeConfig::Podman(c) => Ok(c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn podman_accepts_camel_and_snake_case() {
        let camel = podman(
            "image: x\ngeneralOptions: [--remote]\ncommandOptions: [-p, '80:80']\ncommandArgs: [sh]",
        )
        .unwrap();
        let snake = podman(
            "image: x\ngeneral_options: [--remote]\ncommand_options: [-p, '80:80']\ncommand_args: [sh]",
        )
        .unwrap();
        assert_eq!(camel, snake);
        assert_eq!(camel.general_options, ["--remote"]);
        assert_eq!(camel.command_options, ["-p", "80:80"]);
        assert_eq!(camel.command_args, ["sh"]);
    }

    #[test]
    fn podman_configs_are_refused_for_the_right_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "needs 'image'"),
            ("commandArgs: [sh]", "needs 'image'"),
            ("image: x\ncomandArgs: [sh]", "unknown key 'comandArgs'"),
            ("image: x\ncommandArgs: [sh]\ncommand_args: [sh]", "twice"),
            ("- image", "must be a YAML mapping"),
            ("image: [x", "not valid YAML"),
            ("image: x\ncommandArgs: sh", "invalid runtimeConfig"),
        ];
        for (text, expected) in cases {
            let err = podman(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn unknown_keys_come_with_a_suggestion() {
        let err = podman("image: x\ncomandArgs: [sh]").unwrap_err();
        assert_eq!(err.hint().as_deref(), Some("did you mean `commandArgs`?"));
    }

    #[test]
    fn kube_configs_need_a_manifest_of_kinds() {
        let ok = "manifest: |\n  kind: Pod\n  metadata: {name: web}\n  ---\n  kind: ConfigMap\nplayOptions: [--userns, host]\ncontrolInterfaceTarget: web/app";
        let RuntimeConfig::PodmanKube(c) =
            RuntimeConfig::parse(&RuntimeKind::PodmanKube, ok).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.control_interface_target.as_deref(), Some("web/app"));
        assert_eq!(c.play_options, ["--userns", "host"]);
        let cases: &[(&str, &str)] = &[
            ("playOptions: []", "needs 'manifest'"),
            ("manifest: |\n  metadata: {}", "has no `kind`"),
            ("manifest: |\n  kind: Pod\n  ---\n  - a", "not a mapping"),
            ("manifest: ''", "no Kubernetes object"),
            ("manifest: '{'", "invalid podman-kube manifest"),
            (
                "manifest: 'kind: Pod'\ncontrolInterfaceTarget: web",
                "must be `<pod>/<container>`",
            ),
            ("manifest: 'kind: Pod'\nimage: x", "unknown key 'image'"),
        ];
        for (text, expected) in cases {
            let err = RuntimeConfig::parse(&RuntimeKind::PodmanKube, text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn issue_14_a_runtime_config_and_its_kube_manifest_are_read_within_the_yaml_bounds() {
        let copies = vec!["*big"; 8_000].join(", ");
        let big = "x".repeat(100_000);
        let podman_text = format!("image: &big {big}\ncommandArgs: [{copies}]\n");
        let err = podman(&podman_text).unwrap_err();
        assert!(matches!(
            err,
            RuntimeConfigError::Yaml(YamlError::ExpandsTooMuch { .. })
        ));
        assert!(
            err.to_string()
                .starts_with("runtimeConfig: YAML aliases expand beyond 4 MiB"),
            "{err}"
        );
        // The kube manifest is a YAML string inside the YAML runtimeConfig.
        let kube = format!("kind: ConfigMap\ndata:\n  big: &big {big}\n  copies: [{copies}]\n");
        let text = format!("manifest: {}", serde_json::to_string(&kube).unwrap());
        let err = RuntimeConfig::parse(&RuntimeKind::PodmanKube, &text).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid podman-kube manifest: YAML aliases expand beyond 4 MiB"),
            "{err}"
        );
    }

    #[test]
    fn unknown_runtimes_are_refused() {
        let containerd = RuntimeKind::Other("containerd".into());
        let err = RuntimeConfig::parse(&containerd, "image: x").unwrap_err();
        assert_eq!(err, RuntimeConfigError::UnknownRuntime(containerd));
        assert_eq!(err.hint().as_deref(), Some("one of podman, podman-kube"));
    }
}
