//! The manifest: the desired state as users write it (Ankaios' `State` object).
//!
//! These types are the wire form too (camelCase keys, enums by name, maps sorted because they are
//! `BTreeMap`s), so a manifest read from YAML, sent as JSON in a request and published on
//! `{p}/state/desired` is one and the same value. The types accept what Ankaios accepts
//! (both tag forms, the `filterMask` alias) and always write the `v1` form.
//!
//! The types deliberately do not deny unknown fields: payloads from a newer version must still
//! parse. Refusing unknown keys in user-written manifests is `parse.rs`'s job, which can name the
//! key, its line and the closest known key.

use std::collections::BTreeMap;

#[cfg(feature = "json-schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::conditions::AddCondition;

/// The manifest format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
pub enum ApiVersion {
    /// `v1`, the current format.
    #[serde(rename = "v1")]
    V1,
    /// `v0.1`, deprecated: tags are a list of `{key, value}` entries.
    #[serde(rename = "v0.1")]
    V0_1,
}

/// Output is always in `v1` form (tags as a map), so it is always labelled `v1`: a `v0.1`
/// manifest written back out is a `v1` manifest.
impl Serialize for ApiVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("v1")
    }
}

/// A whole desired state: workloads and the config items their templates use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "json-schema", schemars(deny_unknown_fields))]
pub struct Manifest {
    /// The format version; required.
    pub api_version: ApiVersion,
    /// Workloads by name.
    #[serde(default)]
    pub workloads: BTreeMap<String, WorkloadSpec>,
    /// Config items by key, for the workloads' templates.
    #[serde(default)]
    pub configs: BTreeMap<String, ConfigItem>,
}

impl Manifest {
    /// An empty `v1` manifest.
    pub fn empty() -> Self {
        Self {
            api_version: ApiVersion::V1,
            workloads: BTreeMap::new(),
            configs: BTreeMap::new(),
        }
    }
}

/// One workload as written in a manifest (before rendering).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "json-schema", schemars(deny_unknown_fields))]
pub struct WorkloadSpec {
    /// The agent that runs the workload; `""` means not scheduled. Templated. The key is required.
    pub agent: String,
    /// The runtime: `podman`, `podman-kube`, or any valid name an agent may run (as the user
    /// wrote it; validation reads it into a [`crate::RuntimeKind`]).
    pub runtime: String,
    /// The runtime's configuration, a YAML document in a string. Templated. Surrounding whitespace
    /// is trimmed on reading, as Ankaios does.
    #[serde(deserialize_with = "trimmed")]
    pub runtime_config: String,
    /// When the agent restarts the workload after it ended.
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// Workloads (by name, on any agent) that must reach a state before this one starts.
    #[serde(default)]
    pub dependencies: BTreeMap<String, AddCondition>,
    /// Free-form metadata. Read as a map (`v1`) or a list of `{key, value}` (`v0.1`); always
    /// written as a map.
    #[serde(default, deserialize_with = "tags_in_either_form")]
    #[cfg_attr(feature = "json-schema", schemars(with = "BTreeMap<String, String>"))]
    pub tags: BTreeMap<String, String>,
    /// Template alias → key of a top-level config item.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    /// Files mounted read-only into the workload.
    #[serde(default)]
    pub files: Vec<WorkloadFile>,
    /// What the workload may do through the control interface.
    #[serde(default)]
    pub control_interface_access: ControlInterfaceAccess,
}

/// When a workload is restarted after it ended (Ankaios §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Hash)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RestartPolicy {
    /// Never restart.
    #[default]
    Never,
    /// Restart after `Failed(ExecFailed)`.
    OnFailure,
    /// Restart after `Succeeded(Ok)` or `Failed(ExecFailed)`.
    Always,
}

impl RestartPolicy {
    /// The wire names, for error hints.
    pub const NAMES: [&'static str; 3] = ["NEVER", "ON_FAILURE", "ALWAYS"];
}

/// A file mounted read-only into the workload at `mount_point`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct WorkloadFile {
    /// Absolute path of the file inside the workload.
    pub mount_point: String,
    /// The file's content, text or base64.
    #[serde(flatten)]
    pub content: FileContent,
}

/// The content of a workload file. Both forms are templated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum FileContent {
    /// UTF-8 text, written as is.
    Data(String),
    /// Standard base64 with padding; whitespace is ignored.
    BinaryData(String),
}

impl FileContent {
    /// The text of either form.
    pub fn text(&self) -> &str {
        match self {
            FileContent::Data(s) | FileContent::BinaryData(s) => s,
        }
    }

    /// The wire name of the form, `data` or `binaryData`.
    pub fn field_name(&self) -> &'static str {
        match self {
            FileContent::Data(_) => "data",
            FileContent::BinaryData(_) => "binaryData",
        }
    }
}

/// A config item: a string, an array or an object of config items, nested to any depth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(untagged)]
pub enum ConfigItem {
    /// A string leaf. Numbers are not accepted: quote them (`"5432"`), as in Ankaios.
    String(String),
    /// A list of items.
    Array(Vec<ConfigItem>),
    /// A map of items.
    Object(BTreeMap<String, ConfigItem>),
}

impl ConfigItem {
    /// The item as JSON, the form templates see.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ConfigItem::String(s) => serde_json::Value::String(s.clone()),
            ConfigItem::Array(items) => items.iter().map(ConfigItem::to_json).collect(),
            ConfigItem::Object(map) => serde_json::Value::Object(
                map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
            ),
        }
    }
}

/// What a workload may read, write and log through the control interface (Ankaios §1.4).
/// The interface exists only when `allow_rules` is non-empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "json-schema", schemars(deny_unknown_fields))]
pub struct ControlInterfaceAccess {
    /// What is allowed.
    #[serde(default)]
    pub allow_rules: Vec<AccessRule>,
    /// What is denied, even if allowed.
    #[serde(default)]
    pub deny_rules: Vec<AccessRule>,
}

/// One access rule, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(tag = "type")]
pub enum AccessRule {
    /// Access to parts of the complete state.
    StateRule(StateRule),
    /// Access to workloads' logs.
    LogRule(LogRule),
}

/// Access to the parts of the complete state named by field masks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct StateRule {
    /// Which operation the rule covers.
    pub operation: ReadWriteEnum,
    /// Dot-separated paths; a segment may be `*`. `filterMask` (the `v0.1` spelling) is read too.
    #[serde(default, alias = "filterMask")]
    pub filter_masks: Vec<String>,
}

/// Access to the logs of the named workloads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct LogRule {
    /// Workload names, each with at most one `*` wildcard.
    #[serde(default)]
    pub workload_names: Vec<String>,
}

/// The operation a state rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
pub enum ReadWriteEnum {
    /// Nothing.
    Nothing,
    /// Reading.
    Read,
    /// Writing.
    Write,
    /// Reading and writing.
    ReadWrite,
}

impl ReadWriteEnum {
    /// The wire names, for error hints.
    pub const NAMES: [&'static str; 4] = ["Nothing", "Read", "Write", "ReadWrite"];
}

fn trimmed<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    Ok(s.trim().to_owned())
}

/// Reads tags as a map (`v1`) or as a list of `{key, value}` (`v0.1`). Which form a given
/// apiVersion allows is checked by `parse.rs`, which can name the workload.
fn tags_in_either_form<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    struct Tag {
        key: String,
        value: String,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Tags {
        Map(BTreeMap<String, String>),
        List(Vec<Tag>),
    }
    Ok(match Tags::deserialize(d)? {
        Tags::Map(map) => map,
        Tags::List(list) => list.into_iter().map(|t| (t.key, t.value)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"agent":"a","runtime":"podman","runtimeConfig":"  image: x\n"}"#;

    #[test]
    fn omitted_fields_take_the_ankaios_defaults() {
        let w: WorkloadSpec = serde_json::from_str(MINIMAL).unwrap();
        assert_eq!(w.restart_policy, RestartPolicy::Never);
        assert!(w.dependencies.is_empty() && w.tags.is_empty() && w.configs.is_empty());
        assert!(w.files.is_empty());
        assert_eq!(
            w.control_interface_access,
            ControlInterfaceAccess::default()
        );
    }

    #[test]
    fn runtime_config_is_trimmed() {
        let w: WorkloadSpec = serde_json::from_str(MINIMAL).unwrap();
        assert_eq!(w.runtime_config, "image: x");
    }

    #[test]
    fn tags_are_read_in_both_forms_and_written_as_a_map() {
        let list =
            r#"{"agent":"a","runtime":"p","runtimeConfig":"","tags":[{"key":"k","value":"v"}]}"#;
        let w: WorkloadSpec = serde_json::from_str(list).unwrap();
        assert_eq!(w.tags.get("k").map(String::as_str), Some("v"));
        let out = serde_json::to_value(&w).unwrap();
        assert_eq!(out["tags"], serde_json::json!({"k": "v"}));
    }

    #[test]
    fn a_v0_1_manifest_is_written_as_v1() {
        let m: Manifest = serde_json::from_str(r#"{"apiVersion":"v0.1"}"#).unwrap();
        assert_eq!(m.api_version, ApiVersion::V0_1);
        assert_eq!(serde_json::to_value(&m).unwrap()["apiVersion"], "v1");
    }

    #[test]
    fn files_carry_data_or_binary_data() {
        let f: Vec<WorkloadFile> = serde_json::from_str(
            r#"[{"mountPoint":"/a","data":"x"},{"mountPoint":"/b","binaryData":"eA=="}]"#,
        )
        .unwrap();
        assert_eq!(f[0].content, FileContent::Data("x".into()));
        assert_eq!(f[1].content, FileContent::BinaryData("eA==".into()));
        let back = serde_json::to_string(&f).unwrap();
        assert!(back.contains(r#""binaryData":"eA==""#), "{back}");
    }

    #[test]
    fn access_rules_are_tagged_by_type_and_accept_the_filter_mask_alias() {
        let c: ControlInterfaceAccess = serde_json::from_str(
            r#"{"allowRules":[{"type":"StateRule","operation":"Read","filterMask":["a.*"]},
                {"type":"LogRule","workloadNames":["x*"]}]}"#,
        )
        .unwrap();
        assert_eq!(
            c.allow_rules,
            vec![
                AccessRule::StateRule(StateRule {
                    operation: ReadWriteEnum::Read,
                    filter_masks: vec!["a.*".into()]
                }),
                AccessRule::LogRule(LogRule {
                    workload_names: vec!["x*".into()]
                })
            ]
        );
        let out = serde_json::to_value(&c).unwrap();
        assert_eq!(out["allowRules"][0]["filterMasks"][0], "a.*");
    }

    #[test]
    fn config_items_nest_strings_arrays_and_objects() {
        let c: ConfigItem = serde_json::from_str(r#"{"a":["x",{"b":"y"}]}"#).unwrap();
        assert_eq!(c.to_json(), serde_json::json!({"a":["x",{"b":"y"}]}));
        assert!(serde_json::from_str::<ConfigItem>("5432").is_err());
    }
}
