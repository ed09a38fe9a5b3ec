//! What changed between two CompleteStates, in the shape of Ankaios' events (§5.2, §8.4):
//! the field paths added, updated and removed, and the changed fields of the new state.
//!
//! Shared by `ank get events` and the agent's control-interface events (issue 15).
//!
//! `ank get events` computes events itself from the retained topics it watches, so it needs
//! no event stream from the controller and keeps working while the controller is down. Pure.

use serde::Serialize;
use serde_json::Value;

use crate::{select, FieldMask};

/// One event: which paths changed, and the new values of the changed parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// When the change was seen, RFC 3339 UTC.
    pub timestamp: String,
    /// Paths present now but not before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added_fields: Vec<String>,
    /// Paths whose value changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub updated_fields: Vec<String>,
    /// Paths present before but not now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed_fields: Vec<String>,
    /// The new state, narrowed to the added and updated paths.
    pub complete_state: Value,
}

/// The event between `old` and `new` (both already narrowed by the user's masks), or `None` when
/// nothing changed.
pub fn event(old: &Value, new: &Value, timestamp: String) -> Option<Event> {
    let mut changes = Changes::default();
    walk(old, new, &mut Vec::new(), &mut changes);
    if changes.is_empty() {
        return None;
    }
    let masks: Vec<FieldMask> = changes
        .added
        .iter()
        .chain(&changes.updated)
        .filter_map(|p| FieldMask::read(p).ok())
        .collect();
    let complete_state = if masks.is_empty() {
        Value::Object(Default::default())
    } else {
        select(new, &masks)
    };
    Some(Event {
        timestamp,
        added_fields: changes.added,
        updated_fields: changes.updated,
        removed_fields: changes.removed,
        complete_state,
    })
}

/// The event between `old` and `new` for a subscriber of `masks` (Ankaios §8.4): an added or
/// removed subtree shorter than a mask is named by the mask's concrete paths inside it (a
/// subscriber of `desiredState.workloads.nginx` sees `desiredState.workloads.nginx` added, not
/// `desiredState`), `*` segments expanded over what is there. `old` and `new` are already
/// narrowed by `masks`.
pub fn event_for_masks(
    old: &Value,
    new: &Value,
    masks: &[FieldMask],
    timestamp: String,
) -> Option<Event> {
    let mut e = event(old, new, timestamp)?;
    e.added_fields = continued(&e.added_fields, masks, new);
    e.removed_fields = continued(&e.removed_fields, masks, old);
    Some(e)
}

/// `paths`, each one shorter than a mask it leads to replaced by the mask's paths in `tree`.
fn continued(paths: &[String], masks: &[FieldMask], tree: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for path in paths {
        let segments: Vec<&str> = path.split('.').collect();
        let mut deeper = Vec::new();
        for mask in masks {
            let m = mask.segments();
            let leads_there =
                m.len() > segments.len() && segments.iter().zip(m).all(|(p, s)| s == "*" || s == p);
            if leads_there {
                let mut prefix: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
                let at = segments.iter().try_fold(tree, |v, s| v.get(*s));
                if let Some(at) = at {
                    expand(at, &m[segments.len()..], &mut prefix, &mut deeper);
                }
            }
        }
        if deeper.is_empty() {
            out.push(path.clone());
        } else {
            out.extend(deeper);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Every concrete path of `rest` (mask segments, `*` for any key) under `value`.
fn expand(value: &Value, rest: &[String], prefix: &mut Vec<String>, out: &mut Vec<String>) {
    let Some((first, tail)) = rest.split_first() else {
        out.push(prefix.join("."));
        return;
    };
    let Value::Object(map) = value else {
        return;
    };
    for (key, child) in map {
        if first == "*" || first == key {
            prefix.push(key.clone());
            expand(child, tail, prefix, out);
            prefix.pop();
        }
    }
}

#[derive(Default)]
struct Changes {
    added: Vec<String>,
    updated: Vec<String>,
    removed: Vec<String>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty()
    }
}

/// Recurses through objects; a differing non-object value is an update of its path.
fn walk(old: &Value, new: &Value, path: &mut Vec<String>, changes: &mut Changes) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (key, old_value) in o {
                path.push(key.clone());
                match n.get(key) {
                    Some(new_value) => walk(old_value, new_value, path, changes),
                    None => changes.removed.push(path.join(".")),
                }
                path.pop();
            }
            for key in n.keys().filter(|k| !o.contains_key(*k)) {
                path.push(key.clone());
                changes.added.push(path.join("."));
                path.pop();
            }
        }
        (o, n) if o != n => changes.updated.push(path.join(".")),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_kind_of_change_is_named_by_its_path() {
        let old = json!({"workloadStates": {"a": {"w": {"h1": {"state": "Pending", "subState": "Starting"}}},
                                            "b": {"gone": {"h": {"state": "Running"}}}}});
        let new = json!({"workloadStates": {"a": {"w": {"h1": {"state": "Running", "subState": "Ok"}},
                                                  "x": {"h2": {"state": "Pending"}}}}});
        let e = event(&old, &new, "t".into()).expect("a change");
        assert_eq!(e.added_fields, ["workloadStates.a.x"]);
        assert_eq!(
            e.updated_fields,
            [
                "workloadStates.a.w.h1.state",
                "workloadStates.a.w.h1.subState"
            ]
        );
        assert_eq!(e.removed_fields, ["workloadStates.b"]);
        assert_eq!(
            e.complete_state,
            json!({"workloadStates": {"a": {"w": {"h1": {"state": "Running", "subState": "Ok"}},
                                            "x": {"h2": {"state": "Pending"}}}}})
        );
    }

    #[test]
    fn issue_15_added_and_removed_paths_are_continued_to_the_subscribed_masks() {
        let masks = |m: &[&str]| -> Vec<FieldMask> {
            m.iter()
                .map(|m| FieldMask::read(m).expect("a mask"))
                .collect()
        };
        let with = json!({"desiredState": {"workloads": {"nginx": {"agent": "a"}}}});
        let subscribed = masks(&["desiredState.workloads.nginx"]);
        let added = event_for_masks(&json!({}), &with, &subscribed, "t".into()).expect("added");
        assert_eq!(added.added_fields, ["desiredState.workloads.nginx"]);
        let removed = event_for_masks(&with, &json!({}), &subscribed, "t".into()).expect("gone");
        assert_eq!(removed.removed_fields, ["desiredState.workloads.nginx"]);

        let states = json!({"workloadStates": {"agent_A": {"w": {"h1": {"state": "Running"}}}}});
        let wildcard = masks(&["workloadStates.*.*.*.state"]);
        let e = event_for_masks(&json!({}), &states, &wildcard, "t".into()).expect("added");
        assert_eq!(e.added_fields, ["workloadStates.agent_A.w.h1.state"]);

        // A path as deep as the mask, or without a mask, stays as it is.
        let e = event_for_masks(&json!({}), &with, &[], "t".into()).expect("added");
        assert_eq!(e.added_fields, ["desiredState"]);
    }

    #[test]
    fn no_change_is_no_event() {
        let s = json!({"a": {"b": 1}});
        assert_eq!(event(&s, &s, "t".into()), None);
    }

    #[test]
    fn empty_lists_are_left_out_of_the_json() {
        let e = event(&json!({}), &json!({"a": 1}), "t".into()).expect("a change");
        assert_eq!(
            serde_json::to_value(&e).expect("json"),
            json!({"timestamp": "t", "addedFields": ["a"], "completeState": {"a": 1}})
        );
    }
}
