//! Reads a manifest from YAML or JSON text, refusing what Ankaios would silently ignore.
//!
//! Parsing walks the document before deserializing it, so that it can report *every* structural
//! problem at once, each with the workload, the field, the line (found by following the key path
//! through the block-style text; flow-style and JSON on one line give none) and a hint:
//! unknown keys with the closest known key ("did you mean `restartPolicy`?"), unknown enum
//! values with the allowed ones, a wrong tag form for the apiVersion, missing required fields.
//! Ankaios ignores unknown keys; a typo there would silently drop a setting, so we refuse them.
//!
//! Parsing checks the shape only; [`crate::validate`] checks the rules (names, cycles, …).
//! A `v0.1` manifest is converted to `v1` and comes with a [`ParseWarning`].

use std::fmt;

use serde_yaml::Value;

use crate::conditions::AddCondition;
use crate::manifest::{ApiVersion, Manifest, ReadWriteEnum, RestartPolicy};
use crate::suggest::closest;
use crate::validation::ValidationError;

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
    /// Reads a YAML manifest, returning every structural error.
    pub fn from_yaml(yaml: &str) -> Result<Self, Vec<ValidationError>> {
        let value: Value = serde_yaml::from_str(yaml).map_err(|e| {
            vec![
                ValidationError::new(None, "", format!("not valid YAML: {e}"))
                    .at_line(e.location().map(|l| l.line())),
            ]
        })?;
        Self::from_value(value, yaml)
    }

    /// Reads a JSON manifest, returning every structural error.
    pub fn from_json(json: &str) -> Result<Self, Vec<ValidationError>> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            vec![
                ValidationError::new(None, "", format!("not valid JSON: {e}"))
                    .at_line(Some(e.line()).filter(|l| *l > 0)),
            ]
        })?;
        let value = serde_yaml::to_value(value)
            .map_err(|e| vec![ValidationError::new(None, "", e.to_string())])?;
        Self::from_value(value, json)
    }

    fn from_value(mut value: Value, text: &str) -> Result<Self, Vec<ValidationError>> {
        stringify_scalar_keys(&mut value);
        let mut walker = Walker {
            text,
            errors: Vec::new(),
            version: None,
        };
        walker.manifest(&value);
        if !walker.errors.is_empty() {
            return Err(walker.errors);
        }
        let source_api_version = walker.version.unwrap_or(ApiVersion::V1);
        let mut manifest: Manifest = serde_yaml::from_value(value)
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

/// Numbers and booleans used as keys (a workload named `1`) become strings, as the CLI of
/// Ankaios allows integer keys.
fn stringify_scalar_keys(value: &mut Value) {
    match value {
        Value::Mapping(map) => {
            let entries: Vec<(Value, Value)> = std::mem::take(map).into_iter().collect();
            for (key, mut v) in entries {
                stringify_scalar_keys(&mut v);
                let key = match key {
                    Value::Number(n) => Value::String(n.to_string()),
                    Value::Bool(b) => Value::String(b.to_string()),
                    other => other,
                };
                map.insert(key, v);
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(stringify_scalar_keys),
        Value::Tagged(tagged) => stringify_scalar_keys(&mut tagged.value),
        _ => {}
    }
}

/// One step of a path into the document.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
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

struct Walker<'t> {
    text: &'t str,
    errors: Vec<ValidationError>,
    version: Option<ApiVersion>,
}

impl Walker<'_> {
    fn error(&mut self, path: &[Seg], message: String, hint: Option<String>) {
        let (workload, field) = split_path(path);
        let mut e = ValidationError::new(workload.as_deref(), field, message)
            .at_line(line_of(self.text, path));
        e.hint = hint;
        self.errors.push(e);
    }

    fn manifest(&mut self, value: &Value) {
        let Some(map) = self.mapping(&[], value, "the manifest") else {
            return;
        };
        self.unknown_keys(&[], map, TOP_KEYS);
        let top = |k: &str| vec![Seg::Key(k.to_owned())];
        match map.get("apiVersion") {
            None => self.error(
                &[],
                "apiVersion is required".into(),
                Some("add `apiVersion: v1`".into()),
            ),
            Some(Value::String(v)) if v == "v1" => self.version = Some(ApiVersion::V1),
            Some(Value::String(v)) if v == "v0.1" => self.version = Some(ApiVersion::V0_1),
            Some(other) => self.error(
                &top("apiVersion"),
                format!(
                    "unsupported apiVersion '{}', expected 'v1' (or the deprecated 'v0.1')",
                    scalar_text(other)
                ),
                None,
            ),
        }
        if let Some(workloads) = map.get("workloads").filter(|v| !v.is_null()) {
            if let Some(workloads) = self.mapping(&top("workloads"), workloads, "workloads") {
                for (name, workload) in workloads {
                    let mut path = top("workloads");
                    path.push(Seg::Key(scalar_text(name)));
                    self.workload(&path, workload);
                }
            }
        }
        if let Some(configs) = map.get("configs").filter(|v| !v.is_null()) {
            if let Some(configs) = self.mapping(&top("configs"), configs, "configs") {
                for (key, item) in configs {
                    let mut path = top("configs");
                    path.push(Seg::Key(scalar_text(key)));
                    self.config_item(&path, item);
                }
            }
        }
    }

    fn workload(&mut self, path: &[Seg], value: &Value) {
        let Some(map) = self.mapping(path, value, "a workload") else {
            return;
        };
        self.unknown_keys(path, map, WORKLOAD_KEYS);
        let field = |k: &str| {
            let mut p = path.to_vec();
            p.push(Seg::Key(k.to_owned()));
            p
        };
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
            if let Some(deps) = self.mapping(&field("dependencies"), deps, "dependencies") {
                for (name, condition) in deps {
                    let mut p = field("dependencies");
                    p.push(Seg::Key(scalar_text(name)));
                    self.enum_value(&p, condition, &AddCondition::NAMES);
                }
            }
        }
        if let Some(tags) = map.get("tags").filter(|v| !v.is_null()) {
            self.tags(&field("tags"), tags);
        }
        if let Some(configs) = map.get("configs").filter(|v| !v.is_null()) {
            if let Some(configs) = self.mapping(&field("configs"), configs, "configs") {
                for (alias, key) in configs {
                    if !matches!(key, Value::String(_)) {
                        let mut p = field("configs");
                        p.push(Seg::Key(scalar_text(alias)));
                        self.error(&p, "must be the key of a config item".into(), None);
                    }
                }
            }
        }
        if let Some(files) = map.get("files").filter(|v| !v.is_null()) {
            if let Some(files) = self.sequence(&field("files"), files, "files") {
                for (i, file) in files.iter().enumerate() {
                    let mut p = field("files");
                    p.push(Seg::Index(i));
                    self.file(&p, file);
                }
            }
        }
        if let Some(access) = map.get("controlInterfaceAccess").filter(|v| !v.is_null()) {
            self.access(&field("controlInterfaceAccess"), access);
        }
    }

    fn tags(&mut self, path: &[Seg], value: &Value) {
        match (value, self.version) {
            (Value::Mapping(map), Some(ApiVersion::V0_1)) => {
                let _ = map;
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
                for (k, v) in map {
                    if !matches!(v, Value::String(_)) {
                        let mut p = path.to_vec();
                        p.push(Seg::Key(scalar_text(k)));
                        self.error(
                            &p,
                            "a tag value must be a string".into(),
                            Some("quote it".into()),
                        );
                    }
                }
            }
            (Value::Sequence(items), _) => {
                for (i, item) in items.iter().enumerate() {
                    let mut p = path.to_vec();
                    p.push(Seg::Index(i));
                    if let Some(entry) = self.mapping(&p, item, "a tag") {
                        self.unknown_keys(&p, entry, TAG_KEYS);
                        for k in TAG_KEYS {
                            if !matches!(entry.get(*k), Some(Value::String(_))) {
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
            .filter(|k| map.contains_key(**k))
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
                let mut p = path.to_vec();
                p.push(Seg::Key(k.to_owned()));
                self.error(&p, "must be a string".into(), None);
            }
        }
    }

    fn access(&mut self, path: &[Seg], value: &Value) {
        let Some(map) = self.mapping(path, value, "controlInterfaceAccess") else {
            return;
        };
        self.unknown_keys(path, map, ACCESS_KEYS);
        for list in ACCESS_KEYS {
            let Some(rules) = map.get(*list).filter(|v| !v.is_null()) else {
                continue;
            };
            let mut list_path = path.to_vec();
            list_path.push(Seg::Key((*list).to_owned()));
            let Some(rules) = self.sequence(&list_path, rules, list) else {
                continue;
            };
            for (i, rule) in rules.iter().enumerate() {
                let mut p = list_path.clone();
                p.push(Seg::Index(i));
                self.rule(&p, rule);
            }
        }
    }

    fn rule(&mut self, path: &[Seg], value: &Value) {
        let Some(map) = self.mapping(path, value, "an access rule") else {
            return;
        };
        let field = |k: &str| {
            let mut p = path.to_vec();
            p.push(Seg::Key(k.to_owned()));
            p
        };
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
                format!("unknown rule type '{}'", scalar_text(other)),
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
                    let mut p = path.to_vec();
                    p.push(Seg::Index(i));
                    self.config_item(&p, item);
                }
            }
            Value::Mapping(map) => {
                for (k, v) in map {
                    let mut p = path.to_vec();
                    p.push(Seg::Key(scalar_text(k)));
                    self.config_item(&p, v);
                }
            }
            other => self.error(
                path,
                format!(
                    "config values must be strings, not '{}'",
                    scalar_text(other)
                ),
                Some(format!("quote it: \"{}\"", scalar_text(other))),
            ),
        }
    }

    fn strings(&mut self, path: &[Seg], value: &Value) {
        if let Some(items) = self.sequence(path, value, "this field") {
            if items.iter().any(|v| !matches!(v, Value::String(_))) {
                self.error(path, "must be a list of strings".into(), None);
            }
        }
    }

    fn enum_value(&mut self, path: &[Seg], value: &Value, names: &[&str]) {
        let text = scalar_text(value);
        if !names.contains(&text.as_str()) || !matches!(value, Value::String(_)) {
            self.error(
                path,
                format!("unknown value '{text}'"),
                Some(format!("one of {}", names.join(", "))),
            );
        }
    }

    fn unknown_keys(&mut self, path: &[Seg], map: &serde_yaml::Mapping, known: &[&'static str]) {
        for key in map.keys() {
            let key = scalar_text(key);
            if known.contains(&key.as_str()) {
                continue;
            }
            let mut p = path.to_vec();
            p.push(Seg::Key(key.clone()));
            let hint = match closest(&key, known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known keys: {}", known.join(", ")),
            };
            self.error(&p, format!("unknown key '{key}'"), Some(hint));
        }
    }

    fn mapping<'v>(
        &mut self,
        path: &[Seg],
        value: &'v Value,
        what: &str,
    ) -> Option<&'v serde_yaml::Mapping> {
        match value {
            Value::Mapping(map) => Some(map),
            _ => {
                self.error(path, format!("{what} must be a mapping"), None);
                None
            }
        }
    }

    fn sequence<'v>(&mut self, path: &[Seg], value: &'v Value, what: &str) -> Option<&'v [Value]> {
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
        [Seg::Key(w), Seg::Key(name), rest @ ..] if w == "workloads" => (Some(name.clone()), rest),
        _ => (None, path),
    };
    let mut field = String::new();
    for seg in rest {
        match seg {
            Seg::Key(k) => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(k);
            }
            Seg::Index(i) => field.push_str(&format!("[{i}]")),
        }
    }
    (workload, field)
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_owned(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

/// A line of text: where its content starts, and the content after any `- ` markers.
struct Line<'t> {
    raw_indent: usize,
    is_item: bool,
    indent: usize,
    content: &'t str,
}

fn split_line(line: &str) -> Line<'_> {
    let raw_indent = line.len() - line.trim_start_matches(' ').len();
    let mut content = &line[raw_indent..];
    let mut indent = raw_indent;
    let mut is_item = false;
    while let Some(rest) =
        content
            .strip_prefix("- ")
            .or(if content == "-" { Some("") } else { None })
    {
        is_item = true;
        let stripped = rest.trim_start_matches(' ');
        indent += content.len() - stripped.len();
        content = stripped;
    }
    Line {
        raw_indent,
        is_item,
        indent,
        content: content.trim_end(),
    }
}

fn is_key_line(content: &str, key: &str) -> bool {
    [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ]
    .iter()
    .any(|k| {
        content
            .strip_prefix(k.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    })
}

/// The 1-based line of the node at `path`, found by following the keys and list items through
/// block-style YAML (or pretty-printed JSON). `None` when the path runs through flow style.
fn line_of(text: &str, path: &[Seg]) -> Option<usize> {
    let lines: Vec<Line<'_>> = text.lines().map(split_line).collect();
    // Lines of only brackets are JSON structure, not nodes.
    let meaningful = |l: &Line<'_>| {
        !l.content.starts_with('#') && !l.content.chars().all(|c| "{}[],".contains(c))
    };
    // The block being searched: its first line, and the indentation of its parent.
    let mut start = 0;
    let mut parent: Option<usize> = None;
    // Whether `start` is a list item line whose content is the block's first child.
    let mut same_line = false;
    let mut found = None;
    for seg in path {
        match seg {
            Seg::Key(key) => {
                let first = if same_line {
                    start
                } else {
                    start + usize::from(found.is_some())
                };
                let mut child_indent = None;
                let mut hit = None;
                for (i, line) in lines.iter().enumerate().skip(first) {
                    if !meaningful(line) {
                        continue;
                    }
                    let ends_block =
                        !(same_line && i == start) && parent.is_some_and(|p| line.raw_indent <= p);
                    if ends_block {
                        break;
                    }
                    let ci = *child_indent.get_or_insert(line.indent);
                    if line.indent == ci && is_key_line(line.content, key) {
                        hit = Some((i, line.indent));
                        break;
                    }
                }
                let (i, indent) = hit?;
                found = Some(i);
                start = i;
                parent = Some(indent);
                same_line = false;
            }
            Seg::Index(n) => {
                let mut dash_indent = None;
                let mut count = 0;
                let mut hit = None;
                for (i, line) in lines.iter().enumerate().skip(start + 1) {
                    if !meaningful(line) {
                        continue;
                    }
                    let p = parent.unwrap_or(0);
                    if line.raw_indent < p || (line.raw_indent == p && !line.is_item) {
                        break;
                    }
                    if !line.is_item
                        || *dash_indent.get_or_insert(line.raw_indent) != line.raw_indent
                    {
                        continue;
                    }
                    if count == *n {
                        hit = Some((i, line.raw_indent));
                        break;
                    }
                    count += 1;
                }
                let (i, dash) = hit?;
                found = Some(i);
                start = i;
                parent = Some(dash);
                same_line = true;
            }
        }
    }
    found.map(|i| i + 1)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
