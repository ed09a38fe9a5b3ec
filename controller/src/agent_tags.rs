//! Agent tag updates: the `agents.<a>.tags` part of a `setState` (Ankaios §9, `ank set state
//! agents…` or a control-interface `UpdateStateRequest`). Pure: the server publishes the result
//! on `{p}/agents/<a>/tags`, the agent takes it into its status.
//!
//! Ankaios' rules, kept here: the update masks are applied to the `agents` part of the complete
//! state the same way as to `desiredState` (present paths copied, absent ones removed); then only
//! the **tags** of **connected** agents are taken. New agents, agents the update removes and
//! `status` values are ignored. Tags are not persisted: they hold for the agent's current run
//! (its status epoch), and a restarted agent starts again from its configured tags.
//!
//! Unlike Ankaios, the tags are bounded (`ank_schemas::validate_agent_tags`), because they
//! become part of a retained status; a refusal names the agent and changes nothing.

use std::collections::BTreeMap;

use ank_schemas::{
    update, validate_agent_tags, AgentStatus, AgentTags, FieldMask, Liveness, RequestOp,
    ValidationError,
};
use serde_json::{json, Map, Value};

use crate::apply::Refusal;

/// The first segment of every mask this module handles.
const AGENTS: &str = "agents";

/// Whether `mask` (as written) is about agents rather than the desired state.
pub fn is_agents_mask(mask: &str) -> bool {
    mask.split('.').next() == Some(AGENTS)
}

/// Splits the `agents…` masks off a `setState`: the desired-state request that is left (`None`
/// when only agents were named) and the tag updates. Any other request passes unchanged; a
/// `setState` without masks replaces only the desired state, as before.
pub fn split(
    op: &RequestOp,
    agents: &BTreeMap<String, AgentStatus>,
) -> Result<(Option<RequestOp>, BTreeMap<String, AgentTags>), Refusal> {
    let RequestOp::SetState { masks, state } = op else {
        return Ok((Some(op.clone()), BTreeMap::new()));
    };
    let (agent_masks, rest): (Vec<String>, Vec<String>) =
        masks.iter().cloned().partition(|m| is_agents_mask(m));
    if agent_masks.is_empty() {
        return Ok((Some(op.clone()), BTreeMap::new()));
    }
    let updates = tag_updates(agents, &agent_masks, state)?;
    let rest = (!rest.is_empty()).then(|| RequestOp::SetState {
        masks: rest,
        state: state.clone(),
    });
    Ok((rest, updates))
}

/// The new tags of every connected agent whose tags `masks` (all `agents…` masks) change, read
/// from `state` (a CompleteState-shaped object). Agents whose tags stay as they are are left
/// out.
pub fn tag_updates(
    agents: &BTreeMap<String, AgentStatus>,
    masks: &[String],
    state: &Value,
) -> Result<BTreeMap<String, AgentTags>, Refusal> {
    let parsed = Refusal::masks(masks, FieldMask::update)?;
    let connected: BTreeMap<&String, &AgentStatus> = agents
        .iter()
        .filter(|(_, status)| status.state == Liveness::Online)
        .collect();
    let current: Map<String, Value> = connected
        .iter()
        .map(|(name, status)| ((*name).clone(), json!({ "tags": status.tags })))
        .collect();
    let mut whole = json!({ AGENTS: current });
    update(&mut whole, state, &parsed).map_err(|e| Refusal {
        message: "invalid field masks".into(),
        errors: vec![ValidationError::new(None, "", e.to_string())],
    })?;
    let after = whole.get(AGENTS).and_then(Value::as_object);

    let mut updates = BTreeMap::new();
    for (name, status) in connected {
        // An agent the update removed keeps its tags, as in Ankaios.
        let Some(entry) = after.and_then(|a| a.get(name.as_str())) else {
            continue;
        };
        let field = format!("agents.{name}.tags");
        let tags: BTreeMap<String, String> = match entry.get("tags") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(tags) => serde_json::from_value(tags.clone()).map_err(|e| {
                invalid_tags(ValidationError::new(
                    None,
                    field.clone(),
                    format!("tags must be a map of strings to strings: {e}"),
                ))
            })?,
        };
        validate_agent_tags(&tags)
            .map_err(|e| invalid_tags(ValidationError::new(None, field, e.to_string())))?;
        if tags != status.tags {
            updates.insert(
                name.clone(),
                AgentTags {
                    epoch: status.epoch,
                    tags,
                },
            );
        }
    }
    Ok(updates)
}

fn invalid_tags(error: ValidationError) -> Refusal {
    Refusal {
        message: "invalid agent tags".into(),
        errors: vec![error],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: Liveness, epoch: u64, tags: &[(&str, &str)]) -> AgentStatus {
        serde_json::from_value(json!({
            "state": state,
            "epoch": epoch,
            "tags": tags.iter().copied().collect::<BTreeMap<_, _>>(),
        }))
        .unwrap()
    }

    fn agents() -> BTreeMap<String, AgentStatus> {
        BTreeMap::from([
            (
                "agent_A".into(),
                status(Liveness::Online, 7, &[("loc", "car")]),
            ),
            ("agent_B".into(), status(Liveness::Online, 3, &[("x", "1")])),
            ("agent_off".into(), status(Liveness::Lost, 2, &[])),
        ])
    }

    fn masks(m: &[&str]) -> Vec<String> {
        m.iter().map(|m| (*m).to_owned()).collect()
    }

    fn tags(t: &[(&str, &str)]) -> BTreeMap<String, String> {
        t.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    /// (case, masks, new state, expected updates as agent → (epoch, tags))
    type Case = (
        &'static str,
        Vec<String>,
        Value,
        Vec<(&'static str, u64, BTreeMap<String, String>)>,
    );

    #[test]
    fn issue_15_agent_tag_updates_follow_ankaios() {
        let cases: Vec<Case> = vec![
            (
                "one agent's tags replaced, with the agent's epoch",
                masks(&["agents.agent_A.tags"]),
                json!({"agents": {"agent_A": {"tags": {"owner": "fleet"}}}}),
                vec![("agent_A", 7, tags(&[("owner", "fleet")]))],
            ),
            (
                "one tag set through a deeper mask, the others kept",
                masks(&["agents.agent_A.tags.owner"]),
                json!({"agents": {"agent_A": {"tags": {"owner": "fleet"}}}}),
                vec![("agent_A", 7, tags(&[("loc", "car"), ("owner", "fleet")]))],
            ),
            (
                "tags absent from the new state are removed",
                masks(&["agents.agent_A.tags"]),
                json!({}),
                vec![("agent_A", 7, tags(&[]))],
            ),
            (
                "an agent the update removes keeps its tags",
                masks(&["agents.agent_A"]),
                json!({}),
                vec![],
            ),
            (
                "unknown and disconnected agents are ignored",
                masks(&["agents.ghost.tags", "agents.agent_off.tags"]),
                json!({"agents": {"ghost": {"tags": {"a": "b"}},
                                  "agent_off": {"tags": {"a": "b"}}}}),
                vec![],
            ),
            (
                "status values are ignored",
                masks(&["agents.agent_B"]),
                json!({"agents": {"agent_B": {"tags": {"x": "1"},
                                  "status": {"cpuUsage": {"cpuUsage": 99}}}}}),
                vec![],
            ),
            (
                "the whole agents map",
                masks(&["agents"]),
                json!({"agents": {"agent_B": {"tags": {"y": "2"}}}}),
                vec![("agent_B", 3, tags(&[("y", "2")]))],
            ),
        ];
        for (case, masks, state, expected) in cases {
            let updates = tag_updates(&agents(), &masks, &state).expect(case);
            let expected: BTreeMap<String, AgentTags> = expected
                .into_iter()
                .map(|(a, epoch, tags)| (a.to_owned(), AgentTags { epoch, tags }))
                .collect();
            assert_eq!(updates, expected, "{case}");
        }
    }

    #[test]
    fn issue_15_bad_agent_tags_are_refused_naming_the_agent() {
        let too_many: Map<String, Value> = (0..=ank_schemas::MAX_AGENT_TAGS)
            .map(|i| (format!("k{i}"), json!("v")))
            .collect();
        for (case, state) in [
            (
                "not strings",
                json!({"agents": {"agent_A": {"tags": {"n": 1}}}}),
            ),
            ("not a map", json!({"agents": {"agent_A": {"tags": ["a"]}}})),
            (
                "too many",
                json!({"agents": {"agent_A": {"tags": too_many}}}),
            ),
        ] {
            let refusal =
                tag_updates(&agents(), &masks(&["agents.agent_A.tags"]), &state).expect_err(case);
            assert_eq!(refusal.errors[0].field, "agents.agent_A.tags", "{case}");
        }
        let wildcard = tag_updates(&agents(), &masks(&["agents.*.tags"]), &json!({}));
        assert!(wildcard.is_err(), "wildcards are not update masks");
    }

    #[test]
    fn issue_15_set_state_is_split_into_desired_state_and_agent_tags() {
        let state = json!({"agents": {"agent_A": {"tags": {"o": "f"}}}, "desiredState": {}});
        let op = RequestOp::SetState {
            masks: masks(&["agents.agent_A.tags", "desiredState.workloads.w"]),
            state: state.clone(),
        };
        let (rest, updates) = split(&op, &agents()).unwrap();
        assert_eq!(
            rest,
            Some(RequestOp::SetState {
                masks: masks(&["desiredState.workloads.w"]),
                state: state.clone(),
            })
        );
        assert_eq!(updates["agent_A"].tags, tags(&[("o", "f")]));

        let only_tags = RequestOp::SetState {
            masks: masks(&["agents.agent_A.tags"]),
            state: state.clone(),
        };
        assert_eq!(split(&only_tags, &agents()).unwrap().0, None);

        // No masks: the desired state only, as `ank set state` without masks always did.
        let everything = RequestOp::SetState {
            masks: vec![],
            state,
        };
        let (rest, updates) = split(&everything, &agents()).unwrap();
        assert_eq!(rest, Some(everything));
        assert!(updates.is_empty());
    }

    #[test]
    fn only_masks_starting_with_agents_are_agent_masks() {
        assert!(is_agents_mask("agents"));
        assert!(is_agents_mask("agents.a.tags"));
        assert!(!is_agents_mask("agentsX"));
        assert!(!is_agents_mask("desiredState.agents"));
        assert!(!is_agents_mask(""));
    }
}
