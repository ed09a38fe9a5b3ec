//! Every rule a desired state must pass (Ankaios §1.8), checked at once so that a user sees all
//! problems of a manifest in one go.
//!
//! [`validate`] runs the rules on a parsed [`Manifest`]: names, config keys at any depth, config
//! aliases, rendering (missing config keys, template errors), the rendered agent, access rule
//! formats, files, the runtime's name and the runtimeConfig of a runtime ankmq knows, and
//! dependency cycles. Where we are stricter than Ankaios it says so beside the rule. Parse errors
//! (`parse.rs`) use the same [`ValidationError`], so the CLI prints one list.
//!
//! Only what is invalid whatever agent runs the workload is refused here. What depends on the
//! runtime (an unknown runtime, files on podman-kube, a kube control interface target) is the
//! agent's to judge with `runtime_check.rs`, per workload, as Ankaios does (issue 16 point 2).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

#[cfg(feature = "json-schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[cfg(feature = "render")]
use crate::files::{check_mount_point, file_bytes, FileProblem};
use crate::manifest::Manifest;
#[cfg(feature = "render")]
use crate::manifest::{AccessRule, ConfigItem, FileContent, WorkloadSpec};
use crate::names::{is_name_char, name_problem, MAX_NAME_LEN};
#[cfg(feature = "render")]
use crate::render::render_workload;
#[cfg(feature = "render")]
use crate::runtime_config::{RuntimeConfig, RuntimeConfigError};
#[cfg(feature = "render")]
use crate::runtime_kind::RuntimeKind;

/// One problem of a manifest: where it is and what to do about it.
///
/// It is also the error payload of a refused request, so its JSON form is part of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ValidationError {
    /// The workload concerned, if any.
    #[serde(default)]
    pub workload: Option<String>,
    /// The field, as a path inside the workload (or the manifest), e.g. `restartPolicy`,
    /// `files[0].mountPoint`, `configs.db.port`. Empty when the problem is not in one field.
    #[serde(default)]
    pub field: String,
    /// The 1-based line in the manifest text, when known.
    #[serde(default)]
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// What to do about it, when we know.
    #[serde(default)]
    pub hint: Option<String>,
}

impl ValidationError {
    /// An error about `field` of `workload`.
    pub fn new(
        workload: Option<&str>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            workload: workload.map(str::to_owned),
            field: field.into(),
            line: None,
            message: message.into(),
            hint: None,
        }
    }

    /// The same error with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The same error at `line`, if known.
    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }
}

/// `workload 'nginx', field 'restartPolicy' (line 7): unknown value 'SOMETIMES' (hint: one of
/// NEVER, ON_FAILURE, ALWAYS)`; the parts that are unknown are left out.
impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut place = Vec::new();
        if let Some(w) = &self.workload {
            place.push(format!("workload '{w}'"));
        }
        if !self.field.is_empty() {
            place.push(format!("field '{}'", self.field));
        }
        let mut place = place.join(", ");
        if let Some(line) = self.line {
            if place.is_empty() {
                place = format!("line {line}");
            } else {
                place.push_str(&format!(" (line {line})"));
            }
        }
        if place.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{place}: {}", self.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationError {}

/// Runs every rule on `manifest` and returns every error, in a stable order (config keys, then
/// workloads by name, then cycles). Empty means valid.
// Every per-workload rule renders the workload first (templated fields), so the rules
// come with the `render` feature; `dependency_cycles` and the pattern checks do not.
#[cfg(feature = "render")]
pub fn validate(manifest: &Manifest) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for (key, item) in &manifest.configs {
        check_config_item(&format!("configs.{key}"), key, item, &mut errors);
    }
    for (name, spec) in &manifest.workloads {
        validate_workload(name, spec, &manifest.configs, &mut errors);
    }
    for cycle in dependency_cycles(manifest) {
        errors.push(
            ValidationError::new(
                cycle.first().map(String::as_str),
                "dependencies",
                format!("dependency cycle: {}", cycle.join(" -> ")),
            )
            .with_hint("remove one of the dependencies of the cycle"),
        );
    }
    errors
}

/// Runs every per-workload rule on one workload, with the manifest's `configs` for rendering.
/// Cycles need the whole manifest and are left to [`validate`].
// Every per-workload rule renders the workload first (templated fields), so the rules
#[cfg(feature = "render")]
pub fn validate_workload(
    name: &str,
    spec: &WorkloadSpec,
    configs: &BTreeMap<String, ConfigItem>,
    errors: &mut Vec<ValidationError>,
) {
    let w = Some(name);
    if let Some(problem) = name_problem(name) {
        errors.push(ValidationError::new(
            w,
            "",
            format!("the workload name {problem}"),
        ));
    }
    for (alias, key) in &spec.configs {
        if let Some(problem) = name_problem(alias) {
            errors.push(ValidationError::new(
                w,
                format!("configs.{alias}"),
                format!("the alias {problem}"),
            ));
        }
        if let Some(problem) = name_problem(key) {
            errors.push(ValidationError::new(
                w,
                format!("configs.{alias}"),
                format!("the config key '{key}' {problem}"),
            ));
        }
    }
    // Stricter than Ankaios' server (its CLI checks this): a dependency that is not a valid name
    // can never be satisfied.
    for dependency in spec.dependencies.keys() {
        if let Some(problem) = name_problem(dependency) {
            errors.push(ValidationError::new(
                w,
                format!("dependencies.{dependency}"),
                format!("the dependency name {problem}"),
            ));
        }
    }
    check_access_rules(name, spec, errors);
    // Any valid name is accepted, as in Ankaios: an agent that does not run the runtime reports
    // the workload `Pending(StartingFailed)`, and the rest of the manifest runs.
    let runtime = match RuntimeKind::parse(&spec.runtime) {
        Ok(runtime) => Some(runtime),
        Err(invalid) => {
            errors.push(ValidationError::new(
                w,
                "runtime",
                format!("the runtime name {}", invalid.problem),
            ));
            None
        }
    };
    for (i, file) in spec.files.iter().enumerate() {
        if let Err(problem) = check_mount_point(&file.mount_point) {
            errors.push(file_error(w, format!("files[{i}].mountPoint"), &problem));
        }
    }
    let rendered = match render_workload(name, spec, configs) {
        Ok(rendered) => rendered.spec,
        Err(render_errors) => {
            errors.extend(render_errors);
            return;
        }
    };
    if !rendered.agent.is_empty() {
        if let Some(problem) = name_problem(&rendered.agent) {
            errors.push(ValidationError::new(
                w,
                "agent",
                format!("the agent '{}' {problem}", rendered.agent),
            ));
        }
    }
    for (i, file) in rendered.files.iter().enumerate() {
        if matches!(file.content, FileContent::BinaryData(_)) {
            if let Err(problem) = file_bytes(&file.mount_point, &file.content) {
                errors.push(file_error(w, format!("files[{i}].binaryData"), &problem));
            }
        }
    }
    // Stricter than Ankaios, which lets the agent report `Pending(StartingFailed)`: a runtimeConfig
    // that the runtime it names cannot read fails on every agent, so it is refused with its line
    // and a "did you mean" hint (README, "Where ankmq differs from Ankaios").
    if let Some(runtime) = runtime.filter(RuntimeKind::is_known) {
        if let Err(e) = RuntimeConfig::parse(&runtime, &rendered.runtime_config) {
            errors.push(config_error(w, &e));
        }
    }
}

// Every per-workload rule renders the workload first (templated fields), so the rules
#[cfg(feature = "render")]
fn file_error(w: Option<&str>, field: String, problem: &FileProblem) -> ValidationError {
    let message = match problem {
        // The field already names the file.
        FileProblem::Base64 { reason, .. } => format!("not valid base64: {reason}"),
        other => other.to_string(),
    };
    ValidationError::new(w, field, message).with_hint(problem.hint())
}

// Every per-workload rule renders the workload first (templated fields), so the rules
#[cfg(feature = "render")]
fn config_error(w: Option<&str>, e: &RuntimeConfigError) -> ValidationError {
    let mut error = ValidationError::new(w, "runtimeConfig", e.to_string());
    error.hint = e.hint();
    error
}

// Every per-workload rule renders the workload first (templated fields), so the rules
#[cfg(feature = "render")]
fn check_config_item(path: &str, key: &str, item: &ConfigItem, errors: &mut Vec<ValidationError>) {
    if let Some(problem) = name_problem(key) {
        errors.push(ValidationError::new(
            None,
            path,
            format!("the config key '{key}' {problem}"),
        ));
    }
    check_config_children(path, item, errors);
}

/// The keys below `item`, at any depth: an array element has no key of its own, but objects
/// inside it do.
// Every per-workload rule renders the workload first (templated fields), so the rules
#[cfg(feature = "render")]
fn check_config_children(path: &str, item: &ConfigItem, errors: &mut Vec<ValidationError>) {
    match item {
        ConfigItem::String(_) => {}
        ConfigItem::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_config_children(&format!("{path}[{i}]"), item, errors);
            }
        }
        ConfigItem::Object(map) => {
            for (k, v) in map {
                check_config_item(&format!("{path}.{k}"), k, v, errors);
            }
        }
    }
}

// Every per-workload rule renders the workload first (templated fields), so the rules
#[cfg(feature = "render")]
fn check_access_rules(name: &str, spec: &WorkloadSpec, errors: &mut Vec<ValidationError>) {
    let access = &spec.control_interface_access;
    for (list, rules) in [
        ("allowRules", &access.allow_rules),
        ("denyRules", &access.deny_rules),
    ] {
        for (i, rule) in rules.iter().enumerate() {
            let base = format!("controlInterfaceAccess.{list}[{i}]");
            match rule {
                AccessRule::StateRule(rule) => {
                    for (j, mask) in rule.filter_masks.iter().enumerate() {
                        if !is_valid_filter_mask(mask) {
                            errors.push(
                                ValidationError::new(
                                    Some(name),
                                    format!("{base}.filterMasks[{j}]"),
                                    format!("invalid filter mask '{mask}'"),
                                )
                                .with_hint("segments separated by `.`, each `*` or [A-Za-z0-9_-]+"),
                            );
                        }
                    }
                }
                AccessRule::LogRule(rule) => {
                    for (j, pattern) in rule.workload_names.iter().enumerate() {
                        if !is_valid_workload_pattern(pattern) {
                            errors.push(
                                ValidationError::new(
                                    Some(name),
                                    format!("{base}.workloadNames[{j}]"),
                                    format!("invalid workload name pattern '{pattern}'"),
                                )
                                .with_hint(
                                    "a workload name with at most one `*`, at most 64 characters",
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
}

/// A field mask of a state rule: non-empty, `.`-separated segments, each `*` or `[A-Za-z0-9_-]+`.
pub fn is_valid_filter_mask(mask: &str) -> bool {
    !mask.is_empty()
        && mask
            .split('.')
            .all(|s| s == "*" || (!s.is_empty() && s.chars().all(is_name_char)))
}

/// A workload name pattern of a log rule: at most one `*`; without one, a valid workload name;
/// with one, the parts around it in the charset and at most 64 characters in all.
pub fn is_valid_workload_pattern(pattern: &str) -> bool {
    match pattern.split_once('*') {
        None => name_problem(pattern).is_none(),
        Some((before, after)) => {
            !after.contains('*')
                && pattern.len() <= MAX_NAME_LEN + 1
                && before.chars().chain(after.chars()).all(is_name_char)
        }
    }
}

/// Every dependency cycle, each as the names along it, starting and ending with the smallest
/// name (`a -> b -> a`). Edges to workloads that are not in the manifest are ignored.
pub fn dependency_cycles(manifest: &Manifest) -> Vec<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    fn visit<'a>(
        node: &'a str,
        manifest: &'a Manifest,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
        cycles: &mut BTreeSet<Vec<String>>,
    ) {
        marks.insert(node, Mark::OnPath);
        path.push(node);
        let deps = manifest.workloads.get(node).map(|w| &w.dependencies);
        for dep in deps.into_iter().flat_map(|d| d.keys()) {
            let Some((dep, _)) = manifest.workloads.get_key_value(dep) else {
                continue;
            };
            match marks.get(dep.as_str()) {
                None => visit(dep, manifest, marks, path, cycles),
                Some(Mark::OnPath) => {
                    let start = path.iter().position(|n| *n == dep).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[start..].iter().map(|s| (*s).to_owned()).collect();
                    let min = (0..cycle.len()).min_by_key(|&i| &cycle[i]).unwrap_or(0);
                    cycle.rotate_left(min);
                    cycle.push(cycle[0].clone());
                    cycles.insert(cycle);
                }
                Some(Mark::Done) => {}
            }
        }
        path.pop();
        marks.insert(node, Mark::Done);
    }
    let mut marks = BTreeMap::new();
    let mut cycles = BTreeSet::new();
    for name in manifest.workloads.keys() {
        if !marks.contains_key(name.as_str()) {
            visit(name, manifest, &mut marks, &mut Vec::new(), &mut cycles);
        }
    }
    cycles.into_iter().collect()
}

#[cfg(all(test, feature = "render"))]
#[path = "validation_tests.rs"]
mod tests;
