//! Field masks: the dot-separated paths (`desiredState.workloads.nginx`) that select parts of a
//! CompleteState for `ank get state` and that say what `ank set state` / `apply` replace.
//!
//! Works on plain JSON trees so that the controller (answering requests) and the CLI (reading
//! retained topics while the controller is down) share one implementation. No I/O.
//!
//! Rules, from Ankaios (reference §5.2, §11.8):
//! - Read masks may use `*` for any single segment; a mask that matches nothing is skipped.
//! - A read mask under `desiredState` (or `effectiveState`) also returns its `apiVersion`, so the
//!   result can be fed back into `ank set state`.
//! - Asking for only the `state` or only the `subState` of a workload state returns both.
//! - Update masks take no wildcards. For each mask: if the path exists in the new state it is
//!   copied (creating parents as needed), otherwise it is removed from the current state.

use serde_json::{Map, Value};

/// Why a mask was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    /// A segment is empty (`a..b`, a leading or trailing `.`).
    #[error("field mask '{0}' has an empty segment")]
    EmptySegment(String),
    /// A wildcard appears in a mask that writes.
    #[error("field mask '{0}' contains '*': wildcards are only allowed when reading")]
    WildcardInUpdate(String),
    /// A mask writes below a value that is not an object (e.g. into a string).
    #[error("field mask '{0}' goes below a value that is not a mapping")]
    NotAMapping(String),
}

/// A parsed field mask: its segments, each a key or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMask {
    text: String,
    segments: Vec<String>,
}

impl FieldMask {
    /// Parses a read mask (wildcards allowed). The empty string means "everything".
    pub fn read(text: &str) -> Result<Self, MaskError> {
        Self::parse(text)
    }

    /// Parses an update mask (no wildcards). The empty string means "everything".
    pub fn update(text: &str) -> Result<Self, MaskError> {
        let mask = Self::parse(text)?;
        if mask.segments.iter().any(|s| s == "*") {
            return Err(MaskError::WildcardInUpdate(text.to_owned()));
        }
        Ok(mask)
    }

    fn parse(text: &str) -> Result<Self, MaskError> {
        let segments: Vec<String> = if text.is_empty() {
            Vec::new()
        } else {
            text.split('.').map(str::to_owned).collect()
        };
        if segments.iter().any(String::is_empty) {
            return Err(MaskError::EmptySegment(text.to_owned()));
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// The mask as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The mask's segments.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }
}

/// Returns the parts of `state` selected by `masks`, in the shape of `state`. No masks selects
/// everything. Read masks may contain `*`; paths that do not exist are skipped.
pub fn select(state: &Value, masks: &[FieldMask]) -> Value {
    if masks.is_empty() || masks.iter().any(|m| m.segments.is_empty()) {
        return state.clone();
    }
    let mut result = Value::Object(Map::new());
    for mask in masks.iter().flat_map(with_implied_siblings) {
        for path in concrete_paths(state, &mask) {
            if let Some(value) = get(state, &path) {
                // Cannot fail: `result` mirrors `state`, whose path prefixes are all mappings.
                let _ = put(&mut result, &path, value.clone());
            }
        }
    }
    result
}

/// Applies `masks` from `new` onto `state` (the `ank set state` semantics): each path present in
/// `new` is copied into `state`, each absent one is removed from `state`. No masks replaces the
/// whole state. On an error `state` is left unchanged.
pub fn update(state: &mut Value, new: &Value, masks: &[FieldMask]) -> Result<(), MaskError> {
    if masks.is_empty() {
        *state = new.clone();
        return Ok(());
    }
    let mut updated = state.clone();
    for mask in masks {
        if mask.segments.iter().any(|s| s == "*") {
            return Err(MaskError::WildcardInUpdate(mask.text.clone()));
        }
        if mask.segments.is_empty() {
            updated = new.clone();
            continue;
        }
        match get(new, &mask.segments) {
            Some(value) => put(&mut updated, &mask.segments, value.clone())
                .map_err(|()| MaskError::NotAMapping(mask.text.clone()))?,
            None => remove(&mut updated, &mask.segments),
        }
    }
    *state = updated;
    Ok(())
}

/// The mask itself plus the paths Ankaios returns alongside it: `apiVersion` for masks under a
/// state object, and `state`/`subState` together.
fn with_implied_siblings(mask: &FieldMask) -> Vec<FieldMask> {
    let mut masks = vec![mask.clone()];
    let segs = &mask.segments;
    if let Some(root @ ("desiredState" | "effectiveState")) = segs.first().map(String::as_str) {
        if segs.len() > 1 {
            masks.push(FieldMask {
                text: format!("{root}.apiVersion"),
                segments: vec![root.to_owned(), "apiVersion".to_owned()],
            });
        }
    }
    if segs.first().map(String::as_str) == Some("workloadStates") && segs.len() == 5 {
        let sibling = match segs[4].as_str() {
            "state" => Some("subState"),
            "subState" => Some("state"),
            _ => None,
        };
        if let Some(sibling) = sibling {
            let mut segments = segs.clone();
            segments[4] = sibling.to_owned();
            masks.push(FieldMask {
                text: segments.join("."),
                segments,
            });
        }
    }
    masks
}

/// Expands the wildcards of `mask` against `state` into the concrete paths that exist.
fn concrete_paths(state: &Value, mask: &FieldMask) -> Vec<Vec<String>> {
    let mut paths: Vec<(Vec<String>, &Value)> = vec![(Vec::new(), state)];
    for segment in &mask.segments {
        let mut next = Vec::new();
        for (path, value) in paths {
            let Value::Object(map) = value else { continue };
            if segment == "*" {
                for (key, child) in map {
                    next.push((extend(&path, key), child));
                }
            } else if let Some(child) = map.get(segment) {
                next.push((extend(&path, segment), child));
            }
        }
        paths = next;
    }
    paths.into_iter().map(|(path, _)| path).collect()
}

fn extend(path: &[String], key: &str) -> Vec<String> {
    let mut path = path.to_vec();
    path.push(key.to_owned());
    path
}

fn get<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(value, |value, segment| value.as_object()?.get(segment))
}

/// Writes `value` at `path`, creating mappings on the way; `Err` if a prefix is not a mapping.
fn put(root: &mut Value, path: &[String], value: Value) -> Result<(), ()> {
    let Some((last, parents)) = path.split_last() else {
        *root = value;
        return Ok(());
    };
    let mut current = root;
    for segment in parents {
        if current.is_null() {
            *current = Value::Object(Map::new());
        }
        current = current
            .as_object_mut()
            .ok_or(())?
            .entry(segment.clone())
            .or_insert(Value::Null);
    }
    if current.is_null() {
        *current = Value::Object(Map::new());
    }
    current
        .as_object_mut()
        .ok_or(())?
        .insert(last.clone(), value);
    Ok(())
}

fn remove(root: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = root;
    for segment in parents {
        match current.as_object_mut().and_then(|m| m.get_mut(segment)) {
            Some(child) => current = child,
            None => return,
        }
    }
    if let Some(map) = current.as_object_mut() {
        map.remove(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn masks(texts: &[&str]) -> Vec<FieldMask> {
        texts.iter().map(|t| FieldMask::read(t).unwrap()).collect()
    }

    fn state() -> Value {
        json!({
            "desiredState": {
                "apiVersion": "v1",
                "workloads": {
                    "nginx": {"agent": "agent_A", "runtime": "podman", "tags": {"team": "web"}},
                    "db": {"agent": "agent_B", "runtime": "podman", "tags": {}}
                },
                "configs": {"port": "8080"}
            },
            "workloadStates": {
                "agent_A": {"nginx": {"abc": {"state": "Running", "subState": "Ok", "additionalInfo": ""}}},
                "agent_B": {"db": {"def": {"state": "Pending", "subState": "Starting", "additionalInfo": "x"}}}
            },
            "agents": {"agent_A": {"tags": {}}}
        })
    }

    #[test]
    fn select_without_masks_returns_everything() {
        assert_eq!(select(&state(), &[]), state());
        assert_eq!(select(&state(), &masks(&[""])), state());
    }

    #[test]
    fn select_adds_api_version_under_desired_state() {
        let got = select(&state(), &masks(&["desiredState.workloads.nginx.agent"]));
        assert_eq!(
            got,
            json!({"desiredState": {"apiVersion": "v1", "workloads": {"nginx": {"agent": "agent_A"}}}})
        );
    }

    #[test]
    fn select_expands_wildcards_and_skips_missing_paths() {
        let got = select(
            &state(),
            &masks(&[
                "desiredState.workloads.*.runtime",
                "desiredState.nothing.here",
            ]),
        );
        assert_eq!(
            got,
            json!({"desiredState": {"apiVersion": "v1", "workloads": {
                "nginx": {"runtime": "podman"}, "db": {"runtime": "podman"}}}})
        );
    }

    #[test]
    fn select_returns_state_and_sub_state_together() {
        let got = select(&state(), &masks(&["workloadStates.*.*.*.state"]));
        assert_eq!(
            got,
            json!({"workloadStates": {
                "agent_A": {"nginx": {"abc": {"state": "Running", "subState": "Ok"}}},
                "agent_B": {"db": {"def": {"state": "Pending", "subState": "Starting"}}}
            }})
        );
    }

    #[test]
    fn select_of_a_missing_mask_is_empty() {
        assert_eq!(select(&state(), &masks(&["agents.nope"])), json!({}));
    }

    #[test]
    fn update_copies_present_paths_and_removes_absent_ones() {
        let mut current = state();
        let new = json!({"desiredState": {"workloads": {"web": {"agent": "agent_C"}}}});
        let update_masks = [
            FieldMask::update("desiredState.workloads.web").unwrap(),
            FieldMask::update("desiredState.workloads.db").unwrap(),
        ];
        update(&mut current, &new, &update_masks).unwrap();
        let workloads = &current["desiredState"]["workloads"];
        assert_eq!(workloads["web"], json!({"agent": "agent_C"}));
        assert!(workloads.get("db").is_none(), "absent path must be removed");
        assert!(workloads.get("nginx").is_some(), "unmasked path must stay");
    }

    #[test]
    fn update_creates_missing_parents() {
        let mut current = json!({});
        let new = json!({"desiredState": {"configs": {"a": {"b": "c"}}}});
        update(
            &mut current,
            &new,
            &[FieldMask::update("desiredState.configs.a").unwrap()],
        )
        .unwrap();
        assert_eq!(current, new);
    }

    #[test]
    fn update_without_masks_replaces_everything() {
        let mut current = state();
        update(&mut current, &json!({"x": 1}), &[]).unwrap();
        assert_eq!(current, json!({"x": 1}));
    }

    #[test]
    fn update_below_a_scalar_is_refused_and_changes_nothing() {
        let mut current = json!({"desiredState": {"apiVersion": "v1"}});
        let before = current.clone();
        let new = json!({"desiredState": {"apiVersion": {"x": 1}}});
        let err = update(
            &mut current,
            &new,
            &[
                FieldMask::update("desiredState.extra").unwrap(),
                FieldMask::update("desiredState.apiVersion.x").unwrap(),
            ],
        );
        assert_eq!(
            err,
            Err(MaskError::NotAMapping("desiredState.apiVersion.x".into()))
        );
        assert_eq!(current, before);
    }

    #[test]
    fn mask_parsing_rules() {
        assert!(FieldMask::read("desiredState.workloads.*").is_ok());
        assert_eq!(
            FieldMask::update("desiredState.workloads.*"),
            Err(MaskError::WildcardInUpdate(
                "desiredState.workloads.*".into()
            ))
        );
        for bad in ["a..b", ".a", "a."] {
            assert_eq!(
                FieldMask::read(bad),
                Err(MaskError::EmptySegment(bad.into())),
                "{bad}"
            );
        }
    }
}
