//! Turns a write request and the current desired state into the next state, or into every reason
//! to refuse it. Pure: no I/O, no clock; the server persists and publishes what comes out.
//!
//! The operations follow Ankaios (reference §5.2):
//! - `apply`: replaces (or with `delete`, removes) exactly the workloads and configs the manifest
//!   names, as Ankaios' masks `desiredState.workloads.<n>` / `desiredState.configs.<k>` do.
//! - `setState`: the field-mask update of `ank set state` on the JSON form (present paths are
//!   copied, absent ones removed; no masks replaces everything), then parsed and validated.
//! - `deleteWorkloads`: unknown names succeed with nothing changed.
//! - `deleteConfigs`: refused while a workload references the config.
//! - `runWorkload`: adds or replaces one workload.
//!
//! Every result is validated and rendered as a whole; a refusal changes nothing. The instances
//! are compared by name: a new id is added (and the old one deleted), the same id with another
//! tags/restartPolicy/dependencies/access is *updated* (the container stays, see instance_id.rs).
//! A request that leaves the manifest as it was is accepted without a new generation.

use std::collections::BTreeMap;

use ank_schemas::{
    parse_manifest_json, update, FieldMask, InstanceId, Manifest, MaskError, RenderedWorkload,
    RequestOp, ValidationError,
};
use serde_json::{json, Value};

use crate::desired::Desired;

/// Why a request was refused: one line, and every validation error when it is about content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// One line saying why.
    pub message: String,
    /// Every problem found, each naming its workload and field when known.
    pub errors: Vec<ValidationError>,
}

impl Refusal {
    /// A refusal with only a message.
    pub fn message(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            errors: Vec::new(),
        }
    }

    /// Each of `masks` parsed with `parse` (`FieldMask::read` or `FieldMask::update`), or one
    /// refusal naming every mask that does not parse.
    pub fn masks(
        masks: &[String],
        parse: impl Fn(&str) -> Result<FieldMask, MaskError>,
    ) -> Result<Vec<FieldMask>, Self> {
        let mut parsed = Vec::new();
        let mut errors = Vec::new();
        for mask in masks {
            match parse(mask) {
                Ok(m) => parsed.push(m),
                Err(e) => errors.push(ValidationError::new(None, mask.clone(), e.to_string())),
            }
        }
        if errors.is_empty() {
            Ok(parsed)
        } else {
            Err(Self {
                message: "invalid field masks".into(),
                errors,
            })
        }
    }

    /// The refusal of an invalid desired state.
    pub fn invalid(errors: Vec<ValidationError>) -> Self {
        Self {
            message: format!(
                "the desired state would be invalid ({} error{})",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            ),
            errors,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// An accepted request: the next state and the instances it adds, updates and deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The state after the request; the current one when nothing changed.
    pub state: Desired,
    /// Whether the manifest changed (and with it the generation).
    pub changed: bool,
    /// Instances that are new.
    pub added: Vec<InstanceId>,
    /// Instances that stay but whose workload changed (tags, restart policy, dependencies…).
    pub updated: Vec<InstanceId>,
    /// Instances that are gone.
    pub deleted: Vec<InstanceId>,
}

/// Carries out a write request on `current`. `getState` is not a write and is refused.
pub fn apply(current: &Desired, op: &RequestOp) -> Result<Change, Refusal> {
    let mut manifest = current.manifest().clone();
    match op {
        RequestOp::GetState { .. } => {
            return Err(Refusal::message("getState does not change the state"))
        }
        RequestOp::LogTargets { .. } => {
            return Err(Refusal::message("logTargets does not change the state"))
        }
        RequestOp::SubscribeEvents { .. } | RequestOp::CancelEvents { .. } => {
            return Err(Refusal::message(
                "event subscriptions do not change the state (and exist only on an agent's topic)",
            ))
        }
        RequestOp::Apply {
            manifest: request,
            delete,
        } => {
            for (name, workload) in &request.workloads {
                if *delete {
                    manifest.workloads.remove(name);
                } else {
                    manifest.workloads.insert(name.clone(), workload.clone());
                }
            }
            for (key, item) in &request.configs {
                if *delete {
                    manifest.configs.remove(key);
                } else {
                    manifest.configs.insert(key.clone(), item.clone());
                }
            }
        }
        RequestOp::SetState { masks, state } => {
            manifest = set_state(&manifest, masks, state)?;
        }
        RequestOp::DeleteWorkloads { names } => {
            for name in names {
                manifest.workloads.remove(name);
            }
        }
        RequestOp::DeleteConfigs { names } => {
            refuse_used_configs(&manifest, names)?;
            for name in names {
                manifest.configs.remove(name);
            }
        }
        RequestOp::RunWorkload { name, workload } => {
            manifest.workloads.insert(name.clone(), workload.clone());
        }
    }
    change_to(current, manifest)
}

/// The change from `current` to `manifest`: validated, rendered, diffed.
pub fn change_to(current: &Desired, manifest: Manifest) -> Result<Change, Refusal> {
    if &manifest == current.manifest() {
        return Ok(Change {
            state: current.clone(),
            changed: false,
            added: Vec::new(),
            updated: Vec::new(),
            deleted: Vec::new(),
        });
    }
    let state = current.next(manifest).map_err(Refusal::invalid)?;
    let (added, updated, deleted) = diff(current.rendered(), state.rendered());
    Ok(Change {
        state,
        changed: true,
        added,
        updated,
        deleted,
    })
}

/// `ank set state`: applies the update masks from `state` (a CompleteState-shaped object) onto
/// `{desiredState: current}` and reads the result back as a manifest.
fn set_state(current: &Manifest, masks: &[String], state: &Value) -> Result<Manifest, Refusal> {
    let mut parsed = Vec::new();
    let mut errors = Vec::new();
    for mask in masks {
        match FieldMask::update(mask) {
            Ok(m) if m.segments().first().map(String::as_str) == Some("desiredState") => {
                parsed.push(m)
            }
            // The empty mask means "everything", which is the desired state here.
            Ok(m) if m.segments().is_empty() => parsed.push(m),
            Ok(_) => errors.push(
                ValidationError::new(None, mask.clone(), "only `desiredState` can be set")
                    .with_hint("agents and workload states belong to the agents that write them"),
            ),
            Err(e) => errors.push(ValidationError::new(None, mask.clone(), e.to_string())),
        }
    }
    if !errors.is_empty() {
        return Err(Refusal {
            message: "invalid field masks".into(),
            errors,
        });
    }
    let current_json = serde_json::to_value(current)
        .map_err(|e| Refusal::message(format!("cannot encode the current state: {e}")))?;
    let mut whole = json!({ "desiredState": current_json });
    update(&mut whole, state, &parsed).map_err(|e| Refusal {
        message: "invalid field masks".into(),
        errors: vec![ValidationError::new(None, "", e.to_string())],
    })?;
    let desired = match whole.get("desiredState") {
        Some(desired) if !desired.is_null() => desired.to_string(),
        _ => {
            return Err(Refusal::message(
                "the new state has no `desiredState` (an empty mask replaces everything)",
            ))
        }
    };
    parse_manifest_json(&desired).map_err(Refusal::invalid)
}

/// Refuses deleting configs that a workload of `manifest` still references.
fn refuse_used_configs(manifest: &Manifest, names: &[String]) -> Result<(), Refusal> {
    let errors: Vec<ValidationError> = manifest
        .workloads
        .iter()
        .flat_map(|(workload, spec)| {
            spec.configs
                .iter()
                .filter(|(_, key)| names.contains(key))
                .map(move |(alias, key)| {
                    ValidationError::new(
                        Some(workload),
                        format!("configs.{alias}"),
                        format!("config '{key}' is used by workload '{workload}'"),
                    )
                    .with_hint("delete the workload or change its configs first")
                })
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Refusal {
            message: "configs still in use".into(),
            errors,
        })
    }
}

/// Added, updated and deleted instances between two renderings, each list sorted.
fn diff(
    old: &BTreeMap<String, RenderedWorkload>,
    new: &BTreeMap<String, RenderedWorkload>,
) -> (Vec<InstanceId>, Vec<InstanceId>, Vec<InstanceId>) {
    let (mut added, mut updated, mut deleted) = (Vec::new(), Vec::new(), Vec::new());
    for (name, now) in new {
        match old.get(name) {
            None => added.push(now.instance_id.clone()),
            Some(before) if before.instance_id == now.instance_id => {
                if before.spec != now.spec {
                    updated.push(now.instance_id.clone());
                }
            }
            Some(before) => {
                deleted.push(before.instance_id.clone());
                added.push(now.instance_id.clone());
            }
        }
    }
    for (name, before) in old {
        if !new.contains_key(name) {
            deleted.push(before.instance_id.clone());
        }
    }
    deleted.sort();
    (added, updated, deleted)
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
