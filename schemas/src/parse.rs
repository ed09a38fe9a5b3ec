//! Reads a manifest from YAML or JSON text, refusing what Ankaios would silently ignore.
//!
//! Parsing walks the document before deserializing it, so that it can report *every* structural
//! problem at once, each with the workload, the field, the line (from the parser's position of
//! the key or item; an alias's line is where it is used) and a hint:
//! unknown keys with the closest known key ("did you mean `restartPolicy`?"), unknown enum
//! values with the allowed ones, a wrong tag form for the apiVersion, missing required fields.
//! Ankaios ignores unknown keys; a typo there would silently drop a setting, so we refuse them.
//!
//! Parsing checks the shape only; [`crate::validate`] checks the rules (names, cycles, …).
//! A `v0.1` manifest is converted to `v1` and comes with a [`ParseWarning`].
//! The text is read through `yaml.rs`, whose bounds (size, alias expansion, depth) hold for
//! JSON too; a refused text is one error naming the bound.

use std::fmt;

use crate::conditions::AddCondition;
use crate::manifest::{ApiVersion, Manifest, ReadWriteEnum, RestartPolicy};
use crate::suggest::closest;
use crate::validation::ValidationError;
use crate::yaml::{Limits, YamlError};
use crate::yaml_tree::{json_tree, tree, Mapping, Node, Value};

/// A manifest read from text, with what the reader should be told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedManifest {
    /// The manifest, always in `v1` form (`api_version` is [`ApiVersion::V1`]).
    pub manifest: Manifest,
    /// The apiVersion the text was written in.
    pub source_api_version: ApiVersion,
    /// Things that are accepted but should change.
    pub warnings: Vec<ParseWarning>,
}

/// Something accepted that the user should change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseWarning {
    /// The manifest uses the deprecated `apiVersion: v0.1`.
    DeprecatedApiVersion,
}

impl fmt::Display for ParseWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseWarning::DeprecatedApiVersion => f.write_str(
                "apiVersion 'v0.1' is deprecated: use 'v1' (tags as a map, `filterMasks`)",
            ),
        }
    }
}

/// Reads a YAML manifest; see [`ParsedManifest::from_yaml`] for the warnings.
pub fn parse_manifest(yaml: &str) -> Result<Manifest, Vec<ValidationError>> {
    ParsedManifest::from_yaml(yaml).map(|p| p.manifest)
}

/// Reads a JSON manifest; see [`ParsedManifest::from_json`] for the warnings.
pub fn parse_manifest_json(json: &str) -> Result<Manifest, Vec<ValidationError>> {
    ParsedManifest::from_json(json).map(|p| p.manifest)
}

impl ParsedManifest {
    /// Reads a YAML manifest within [`Limits::DEFAULT`], returning every structural error.
    pub fn from_yaml(yaml: &str) -> Result<Self, Vec<ValidationError>> {
        Self::from_yaml_within(yaml, &Limits::DEFAULT)
    }

    /// Reads a YAML manifest within `limits`, returning every structural error.
    pub fn from_yaml_within(yaml: &str, limits: &Limits) -> Result<Self, Vec<ValidationError>> {
        let root = tree(yaml, limits).map_err(|e| vec![yaml_error(&e)])?;
        Self::from_tree(&root)
    }

    /// Reads a JSON manifest within [`Limits::DEFAULT`], returning every structural error.
    pub fn from_json(json: &str) -> Result<Self, Vec<ValidationError>> {
        Self::from_json_within(json, &Limits::DEFAULT)
    }

    /// Reads a JSON manifest within `limits`, returning every structural error.
    ///
    /// serde_json checks the syntax first (its messages name JSON's rules; its recursion limit
    /// is 128); the tree with lines is then read by the YAML parser, JSON being YAML, so the
    /// same bounds and the same line numbers apply.
    pub fn from_json_within(json: &str, limits: &Limits) -> Result<Self, Vec<ValidationError>> {
        if json.len() > limits.input_bytes {
            let e = YamlError::TooLarge {
                size: json.len(),
                limit: limits.input_bytes,
            };
            return Err(vec![yaml_error(&e)]);
        }
        serde_json::from_str::<serde::de::IgnoredAny>(json).map_err(|e| {
            vec![
                ValidationError::new(None, "", format!("not valid JSON: {e}"))
                    .at_line(Some(e.line()).filter(|l| *l > 0)),
            ]
        })?;
        let root = json_tree(json, limits).map_err(|e| vec![yaml_error(&e)])?;
        Self::from_tree(&root)
    }

    fn from_tree(root: &Node) -> Result<Self, Vec<ValidationError>> {
        let mut walker = Walker {
            errors: Vec::new(),
            version: None,
        };
        walker.manifest(root);
        if !walker.errors.is_empty() {
            return Err(walker.errors);
        }
        let source_api_version = walker.version.unwrap_or(ApiVersion::V1);
        let mut json = root.value.to_json();
        drop_nulls(&mut json);
        let mut manifest: Manifest = serde_json::from_value(json)
            .map_err(|e| vec![ValidationError::new(None, "", e.to_string())])?;
        let mut warnings = Vec::new();
        if source_api_version == ApiVersion::V0_1 {
            warnings.push(ParseWarning::DeprecatedApiVersion);
        }
        manifest.api_version = ApiVersion::V1;
        Ok(Self {
            manifest,
            source_api_version,
            warnings,
        })
    }
}

/// Removes `key: null` entries. The walker has refused every null that matters; the ones left
/// (`workloads:` with nothing under it, `tags: ~`) mean "none", as they did with serde_yaml.
fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// A refused text as the one error of the manifest, with its line.
fn yaml_error(e: &YamlError) -> ValidationError {
    ValidationError::new(None, "", e.to_string()).at_line(e.line())
}

/// One step of a path into the document, with the line of its key or item.
#[derive(Debug, Clone)]
enum Seg {
    Key(String, Option<usize>),
    Index(usize, Option<usize>),
}

impl Seg {
    fn line(&self) -> Option<usize> {
        match self {
            Seg::Key(_, line) | Seg::Index(_, line) => *line,
        }
    }
}

/// `path` and one more key step: the line is that of the key node.
fn key_path(path: &[Seg], key: &Node) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(Seg::Key(key.value.scalar_text(), key.line));
    p
}

/// `path` and the step to `key` of `map`, with its line when the key is there.
fn field_path(path: &[Seg], map: &Mapping, key: &str) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(Seg::Key(
        key.to_owned(),
        map.entry(key).and_then(|(k, _)| k.line),
    ));
    p
}

/// `path` and the step to item `i`.
fn index_path(path: &[Seg], i: usize, item: &Node) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(Seg::Index(i, item.line));
    p
}

const TOP_KEYS: &[&str] = &["apiVersion", "workloads", "configs"];
const WORKLOAD_KEYS: &[&str] = &[
    "agent",
    "runtime",
    "runtimeConfig",
    "restartPolicy",
    "dependencies",
    "tags",
    "configs",
    "files",
    "controlInterfaceAccess",
];
const FILE_KEYS: &[&str] = &["mountPoint", "data", "binaryData"];
const ACCESS_KEYS: &[&str] = &["allowRules", "denyRules"];
const STATE_RULE_KEYS: &[&str] = &["type", "operation", "filterMasks"];
const STATE_RULE_KEYS_V0_1: &[&str] = &["type", "operation", "filterMasks", "filterMask"];
const LOG_RULE_KEYS: &[&str] = &["type", "workloadNames"];
const TAG_KEYS: &[&str] = &["key", "value"];

struct Walker {
    errors: Vec<ValidationError>,
    version: Option<ApiVersion>,
}

impl Walker {
    fn error(&mut self, path: &[Seg], message: String, hint: Option<String>) {
        let (workload, field) = split_path(path);
        let line = path.last().and_then(Seg::line);
        let mut e = ValidationError::new(workload.as_deref(), field, message).at_line(line);
        e.hint = hint;
        self.errors.push(e);
    }

    fn manifest(&mut self, root: &Node) {
        let Some(map) = self.mapping(&[], &root.value, "the manifest") else {
            return;
        };
        self.unknown_keys(&[], map, TOP_KEYS);
        match map.get("apiVersion") {
            None => self.error(
                &[],
                "apiVersion is required".into(),
                Some("add `apiVersion: v1`".into()),
            ),
            Some(Value::String(v)) if v == "v1" => self.version = Some(ApiVersion::V1),
            Some(Value::String(v)) if v == "v0.1" => self.version = Some(ApiVersion::V0_1),
            Some(other) => self.error(
                &field_path(&[], map, "apiVersion"),
                format!(
                    "unsupported apiVersion '{}', expected 'v1' (or the deprecated 'v0.1')",
                    other.scalar_text()
                ),
                None,
            ),
        }
        if let Some(workloads) = map.get("workloads").filter(|v| !v.is_null()) {
            let path = field_path(&[], map, "workloads");
            if let Some(workloads) = self.mapping(&path, workloads, "workloads") {
                for (name, workload) in workloads.iter() {
                    self.workload(&key_path(&path, name), &workload.value);
                }
            }
        }
        if let Some(configs) = map.get("configs").filter(|v| !v.is_null()) {
            let path = field_path(&[], map, "configs");
            if let Some(configs) = self.mapping(&path, configs, "configs") {
                for (key, item) in configs.iter() {
                    self.config_item(&key_path(&path, key), &item.value);
                }
            }
        }
    }

    fn workload(&mut self, path: &[Seg], value: &Value) {
        let Some(map) = self.mapping(path, value, "a workload") else {
            return;
        };
        self.unknown_keys(path, map, WORKLOAD_KEYS);
        let field = |k: &str| field_path(path, map, k);
        for required in ["agent", "runtime", "runtimeConfig"] {
            match map.get(required) {
                None => {
                    let hint = (required == "agent")
                        .then(|| "`agent: \"\"` leaves the workload unscheduled".to_owned());
                    self.error(path, format!("missing required field '{required}'"), hint);
                }
                Some(Value::String(_)) => {}
                Some(_) => self.error(&field(required), "must be a string".into(), None),
            }
        }
        if let Some(v) = map.get("restartPolicy") {
            self.enum_value(&field("restartPolicy"), v, &RestartPolicy::NAMES);
        }
        if let Some(deps) = map.get("dependencies").filter(|v| !v.is_null()) {
            let deps_path = field("dependencies");
            if let Some(deps) = self.mapping(&deps_path, deps, "dependencies") {
                for (name, condition) in deps.iter() {
                    let p = key_path(&deps_path, name);
                    self.enum_value(&p, &condition.value, &AddCondition::NAMES);
                }
            }
        }
        if let Some(tags) = map.get("tags").filter(|v| !v.is_null()) {
            self.tags(&field("tags"), tags);
        }
        if let Some(configs) = map.get("configs").filter(|v| !v.is_null()) {
            let configs_path = field("configs");
            if let Some(configs) = self.mapping(&configs_path, configs, "configs") {
                for (alias, key) in configs.iter() {
                    if !matches!(key.value, Value::String(_)) {
                        let p = key_path(&configs_path, alias);
                        self.error(&p, "must be the key of a config item".into(), None);
                    }
                }
            }
        }
        if let Some(files) = map.get("files").filter(|v| !v.is_null()) {
            let files_path = field("files");
            if let Some(files) = self.sequence(&files_path, files, "files") {
                for (i, file) in files.iter().enumerate() {
                    self.file(&index_path(&files_path, i, file), &file.value);
                }
            }
        }
        if let Some(access) = map.get("controlInterfaceAccess").filter(|v| !v.is_null()) {
            self.access(&field("controlInterfaceAccess"), access);
        }
    }

    fn tags(&mut self, path: &[Seg], value: &Value) {
        match (value, self.version) {
            (Value::Mapping(_), Some(ApiVersion::V0_1)) => {
                self.error(
                    path,
                    "tags are a mapping, the v1 form; apiVersion v0.1 needs a list of {key, value}"
                        .into(),
                    Some("use `apiVersion: v1`".into()),
                );
            }
            (Value::Sequence(_), Some(ApiVersion::V1)) => self.error(
                path,
                "tags are a list of {key, value}, the v0.1 form; apiVersion v1 needs a mapping"
                    .into(),
                Some("write `tags: {key: value}`".into()),
            ),
            (Value::Mapping(map), _) => {
                for (k, v) in map.iter() {
                    if !matches!(v.value, Value::String(_)) {
                        self.error(
                            &key_path(path, k),
                            "a tag value must be a string".into(),
                            Some("quote it".into()),
                        );
                    }
                }
            }
            (Value::Sequence(items), _) => {
                for (i, item) in items.iter().enumerate() {
                    let p = index_path(path, i, item);
                    if let Some(entry) = self.mapping(&p, &item.value, "a tag") {
                        self.unknown_keys(&p, entry, TAG_KEYS);
                        for k in TAG_KEYS {
                            if !matches!(entry.get(k), Some(Value::String(_))) {
                                self.error(&p, format!("a tag needs a string '{k}'"), None);
                            }
                        }
                    }
                }
            }
            _ => self.error(path, "tags must be a mapping".into(), None),
        }
    }

    fn file(&mut self, path: &[Seg], value: &Value) {
        let Some(map) = self.mapping(path, value, "a file") else {
            return;
        };
        self.unknown_keys(path, map, FILE_KEYS);
        if !matches!(map.get("mountPoint"), Some(Value::String(_))) {
            self.error(path, "a file needs a string 'mountPoint'".into(), None);
        }
        let contents = ["data", "binaryData"]
            .iter()
            .filter(|k| map.contains_key(k))
            .count();
        if contents != 1 {
            self.error(
                path,
                "a file needs exactly one of 'data' and 'binaryData'".into(),
                None,
            );
        }
        for k in ["data", "binaryData"] {
            if map.get(k).is_some_and(|v| !matches!(v, Value::String(_))) {
                self.error(&field_path(path, map, k), "must be a string".into(), None);
            }
        }
    }

    fn access(&mut self, path: &[Seg], value: &Value) {
        let Some(map) = self.mapping(path, value, "controlInterfaceAccess") else {
            return;
        };
        self.unknown_keys(path, map, ACCESS_KEYS);
        for list in ACCESS_KEYS {
            let Some(rules) = map.get(list).filter(|v| !v.is_null()) else {
                continue;
            };
            let list_path = field_path(path, map, list);
            let Some(rules) = self.sequence(&list_path, rules, list) else {
                continue;
            };
            for (i, rule) in rules.iter().enumerate() {
                self.rule(&index_path(&list_path, i, rule), &rule.value);
            }
        }
    }

    fn rule(&mut self, path: &[Seg], value: &Value) {
        let Some(map) = self.mapping(path, value, "an access rule") else {
            return;
        };
        let field = |k: &str| field_path(path, map, k);
        match map.get("type") {
            Some(Value::String(t)) if t == "StateRule" => {
                let keys = if self.version == Some(ApiVersion::V0_1) {
                    STATE_RULE_KEYS_V0_1
                } else {
                    STATE_RULE_KEYS
                };
                self.unknown_keys(path, map, keys);
                match map.get("operation") {
                    Some(v) => self.enum_value(&field("operation"), v, &ReadWriteEnum::NAMES),
                    None => self.error(
                        path,
                        "a StateRule needs an 'operation'".into(),
                        Some(format!("one of {}", ReadWriteEnum::NAMES.join(", "))),
                    ),
                }
                for k in ["filterMasks", "filterMask"] {
                    if let Some(v) = map.get(k) {
                        self.strings(&field(k), v);
                    }
                }
            }
            Some(Value::String(t)) if t == "LogRule" => {
                self.unknown_keys(path, map, LOG_RULE_KEYS);
                if let Some(v) = map.get("workloadNames") {
                    self.strings(&field("workloadNames"), v);
                }
            }
            Some(other) => self.error(
                &field("type"),
                format!("unknown rule type '{}'", other.scalar_text()),
                Some("one of StateRule, LogRule".into()),
            ),
            None => self.error(
                path,
                "an access rule needs a 'type'".into(),
                Some("one of StateRule, LogRule".into()),
            ),
        }
    }

    fn config_item(&mut self, path: &[Seg], value: &Value) {
        match value {
            Value::String(_) => {}
            Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.config_item(&index_path(path, i, item), &item.value);
                }
            }
            Value::Mapping(map) => {
                for (k, v) in map.iter() {
                    self.config_item(&key_path(path, k), &v.value);
                }
            }
            other => self.error(
                path,
                format!(
                    "config values must be strings, not '{}'",
                    other.scalar_text()
                ),
                Some(format!("quote it: \"{}\"", other.scalar_text())),
            ),
        }
    }

    fn strings(&mut self, path: &[Seg], value: &Value) {
        if let Some(items) = self.sequence(path, value, "this field") {
            if items.iter().any(|v| !matches!(v.value, Value::String(_))) {
                self.error(path, "must be a list of strings".into(), None);
            }
        }
    }

    fn enum_value(&mut self, path: &[Seg], value: &Value, names: &[&str]) {
        let text = value.scalar_text();
        if !names.contains(&text.as_str()) || !matches!(value, Value::String(_)) {
            self.error(
                path,
                format!("unknown value '{text}'"),
                Some(format!("one of {}", names.join(", "))),
            );
        }
    }

    fn unknown_keys(&mut self, path: &[Seg], map: &Mapping, known: &[&'static str]) {
        for (key_node, _) in map.iter() {
            let key = key_node.value.scalar_text();
            if known.contains(&key.as_str()) {
                continue;
            }
            let hint = match closest(&key, known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known keys: {}", known.join(", ")),
            };
            self.error(
                &key_path(path, key_node),
                format!("unknown key '{key}'"),
                Some(hint),
            );
        }
    }

    fn mapping<'v>(&mut self, path: &[Seg], value: &'v Value, what: &str) -> Option<&'v Mapping> {
        match value {
            Value::Mapping(map) => Some(map),
            _ => {
                self.error(path, format!("{what} must be a mapping"), None);
                None
            }
        }
    }

    fn sequence<'v>(&mut self, path: &[Seg], value: &'v Value, what: &str) -> Option<&'v [Node]> {
        match value {
            Value::Sequence(items) => Some(items),
            _ => {
                self.error(path, format!("{what} must be a list"), None);
                None
            }
        }
    }
}

/// The workload (for paths under `workloads.<name>`) and the field path inside it.
fn split_path(path: &[Seg]) -> (Option<String>, String) {
    let (workload, rest) = match path {
        [Seg::Key(w, _), Seg::Key(name, _), rest @ ..] if w == "workloads" => {
            (Some(name.clone()), rest)
        }
        _ => (None, path),
    };
    let mut field = String::new();
    for seg in rest {
        match seg {
            Seg::Key(k, _) => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(k);
            }
            Seg::Index(i, _) => field.push_str(&format!("[{i}]")),
        }
    }
    (workload, field)
}

// Its claims render and validate what they parse.
#[cfg(all(test, feature = "render"))]
#[path = "parse_tests.rs"]
mod tests;
