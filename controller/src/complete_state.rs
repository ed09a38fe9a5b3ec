//! The CompleteState that answers `getState` (Ankaios §1.7): the unrendered desired state, every
//! workload state (agent → name → instance hash → state) and the connected agents, narrowed by
//! read masks with `*` wildcards (§5.2 `get state`). Pure.
//!
//! The controller fills in what agents cannot say themselves:
//! - a workload without an agent is `NotScheduled`, under the agent key `""`;
//! - a workload of an agent that never published a status is `Pending(Initial)`;
//! - a workload of an agent whose status is not `online` is `AgentDisconnected`;
//! - otherwise the agent's report for the desired instance, or `Pending(Initial)` until it has
//!   one. A report for another instance (an old one being replaced, or a workload being deleted)
//!   is shown under its own hash until the agent clears it, as Ankaios shows it until `Removed`.

use std::collections::BTreeMap;

use ank_schemas::{
    select, shown_state, AgentEntry, AgentLoad, CompleteState, ExecutionState, FieldMask,
    InstanceId, Liveness, WorkloadStateEntry, MAX_LOG_INSTANCES,
};
use serde_json::Value;

use crate::apply::Refusal;
use crate::desired::Desired;
use crate::observed::Observed;

/// The whole CompleteState.
pub fn complete_state(desired: &Desired, observed: &Observed) -> CompleteState {
    let online = |agent: &str| {
        observed
            .agents()
            .get(agent)
            .is_some_and(|s| s.state == Liveness::Online)
    };
    let mut states: BTreeMap<String, BTreeMap<String, BTreeMap<String, WorkloadStateEntry>>> =
        BTreeMap::new();
    let mut put = |agent: &str, name: &str, hash: &str, entry: WorkloadStateEntry| {
        states
            .entry(agent.to_owned())
            .or_default()
            .entry(name.to_owned())
            .or_default()
            .insert(hash.to_owned(), entry);
    };

    for (name, workload) in desired.rendered() {
        let id = &workload.instance_id;
        let agent = workload.spec.agent.as_str();
        let reported = observed
            .workloads()
            .get(agent)
            .and_then(|w| w.get(name))
            .filter(|r| r.instance_id == *id);
        let (state, info) = shown_state(
            agent,
            observed.agents().get(agent).map(|status| status.state),
            reported.map(|r| (r.state, r.additional_info.as_str())),
        );
        let entry = entry(state, &info);
        put(agent, name, &id.hash, entry);
    }

    for (agent, workloads) in observed.workloads() {
        for (name, reported) in workloads {
            let desired_here = desired
                .rendered()
                .get(name)
                .is_some_and(|w| w.instance_id == reported.instance_id);
            if desired_here {
                continue;
            }
            let entry = if online(agent) {
                entry(reported.state, &reported.additional_info)
            } else {
                entry(ExecutionState::AgentDisconnected, "")
            };
            put(agent, name, &reported.instance_id.hash, entry);
        }
    }

    let agents = observed
        .agents()
        .iter()
        .filter(|(name, _)| online(name))
        .map(|(name, status)| {
            let load = status
                .resources
                .map_or_else(AgentLoad::default, |r| AgentLoad {
                    cpu_usage: r.cpu_usage,
                    free_memory: r.free_memory,
                });
            (
                name.clone(),
                AgentEntry {
                    status: load,
                    tags: status.tags.clone(),
                },
            )
        })
        .collect();

    CompleteState {
        desired_state: desired.manifest().clone(),
        workload_states: states,
        agents,
    }
}

/// The CompleteState narrowed by read `masks` (empty: everything), as JSON.
pub fn get_state(
    desired: &Desired,
    observed: &Observed,
    masks: &[String],
) -> Result<Value, Refusal> {
    let parsed = Refusal::masks(masks, FieldMask::read)?;
    let whole = serde_json::to_value(complete_state(desired, observed))
        .map_err(|e| Refusal::message(format!("cannot encode the complete state: {e}")))?;
    Ok(select(&whole, &parsed))
}

/// The instances of `instances` that are in the rendered desired state, in their order (the
/// targets Ankaios keeps for a `LogsRequest`, §8.5); at most [`MAX_LOG_INSTANCES`] are looked
/// at.
pub fn log_targets(desired: &Desired, instances: &[InstanceId]) -> Vec<InstanceId> {
    let rendered = desired.rendered();
    instances
        .iter()
        .take(MAX_LOG_INSTANCES)
        .filter(|id| {
            rendered
                .get(&id.workload)
                .is_some_and(|w| w.instance_id == **id)
        })
        .cloned()
        .collect()
}

fn entry(state: ExecutionState, additional_info: &str) -> WorkloadStateEntry {
    WorkloadStateEntry {
        state,
        additional_info: additional_info.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ank_schemas::{parse_manifest, InstanceId};
    use serde_json::json;

    const MANIFEST: &str = r#"
apiVersion: v1
workloads:
  parked: {agent: "", runtime: podman, runtimeConfig: "image: p"}
  fresh: {agent: never_seen, runtime: podman, runtimeConfig: "image: f"}
  gone: {agent: agent_lost, runtime: podman, runtimeConfig: "image: g"}
  web: {agent: agent_A, runtime: podman, runtimeConfig: "image: w"}
  waiting: {agent: agent_A, runtime: podman, runtimeConfig: "image: x"}
"#;

    fn setup() -> (Desired, Observed) {
        let desired = Desired::empty()
            .next(parse_manifest(MANIFEST).unwrap())
            .unwrap();
        let mut observed = Observed::default();
        observed
            .agent_status(
                "agent_A",
                br#"{"state":"online","epoch":1,"tags":{"loc":"car"},"resources":{"cpuUsage":3,"freeMemory":42}}"#,
            )
            .unwrap();
        observed
            .agent_status("agent_lost", br#"{"state":"lost","epoch":1}"#)
            .unwrap();
        let report = |id: &InstanceId, state: &str, sub: &str| {
            serde_json::to_vec(&json!({"instanceId": id.to_string(), "state": state,
                "subState": sub, "additionalInfo": "info"}))
            .unwrap()
        };
        let web = desired.rendered()["web"].instance_id.clone();
        observed
            .workload_state("agent_A", "web", &report(&web, "Running", "Ok"))
            .unwrap();
        let old = InstanceId::compute("waiting", "agent_A", "podman", "image: old", &[]);
        observed
            .workload_state(
                "agent_A",
                "waiting",
                &report(&old, "Stopping", "WaitingToStop"),
            )
            .unwrap();
        let removed = InstanceId::compute("deleted", "agent_A", "podman", "image: d", &[]);
        observed
            .workload_state(
                "agent_A",
                "deleted",
                &report(&removed, "Stopping", "Stopping"),
            )
            .unwrap();
        (desired, observed)
    }

    fn state_of(cs: &CompleteState, agent: &str, name: &str) -> Vec<String> {
        cs.workload_states[agent][name]
            .values()
            .map(|e| e.state.to_string())
            .collect()
    }

    /// (agent, workload, the states shown for it)
    #[test]
    fn derived_states_follow_the_agents_liveness() {
        let (desired, observed) = setup();
        let cs = complete_state(&desired, &observed);
        let cases = [
            ("", "parked", vec!["NotScheduled"]),
            ("never_seen", "fresh", vec!["Pending(Initial)"]),
            ("agent_lost", "gone", vec!["AgentDisconnected"]),
            ("agent_A", "web", vec!["Running(Ok)"]),
            ("agent_A", "deleted", vec!["Stopping(Stopping)"]),
        ];
        for (agent, name, states) in cases {
            assert_eq!(state_of(&cs, agent, name), states, "{agent}/{name}");
        }
    }

    #[test]
    fn a_report_for_an_older_instance_shows_under_its_own_hash() {
        let (desired, observed) = setup();
        let cs = complete_state(&desired, &observed);
        let waiting = &cs.workload_states["agent_A"]["waiting"];
        assert_eq!(waiting.len(), 2);
        let new_hash = &desired.rendered()["waiting"].instance_id.hash;
        assert_eq!(waiting[new_hash].state.to_string(), "Pending(Initial)");
    }

    #[test]
    fn issue_15_log_targets_are_the_instances_of_the_rendered_desired_state() {
        let (desired, _) = setup();
        let web = desired.rendered()["web"].instance_id.clone();
        let old = InstanceId::compute("waiting", "agent_A", "podman", "image: old", &[]);
        let unknown = InstanceId::compute("nope", "agent_A", "podman", "image: n", &[]);
        let moved = InstanceId::compute("web", "agent_B", "podman", "image: w", &[]);
        assert_eq!(
            log_targets(&desired, &[old, web.clone(), unknown, moved]),
            vec![web]
        );
    }

    #[test]
    fn only_online_agents_are_listed_with_their_load_and_tags() {
        let (desired, observed) = setup();
        let cs = complete_state(&desired, &observed);
        assert_eq!(cs.agents.keys().collect::<Vec<_>>(), ["agent_A"]);
        assert_eq!(cs.agents["agent_A"].status.free_memory, 42);
        assert_eq!(cs.agents["agent_A"].tags["loc"], "car");
    }

    #[test]
    fn get_state_narrows_by_masks_with_wildcards() {
        let (desired, observed) = setup();
        let got = get_state(
            &desired,
            &observed,
            &[
                "desiredState.workloads.web.agent".into(),
                "workloadStates.agent_A.*.*.state".into(),
                "agents.nobody".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            got["desiredState"],
            json!({"apiVersion": "v1", "workloads": {"web": {"agent": "agent_A"}}})
        );
        let web = &got["workloadStates"]["agent_A"]["web"];
        let (_, entry) = web.as_object().unwrap().iter().next().unwrap();
        assert_eq!(entry, &json!({"state": "Running", "subState": "Ok"}));
        assert!(got.get("agents").is_none());
    }

    #[test]
    fn a_malformed_mask_is_refused() {
        let (desired, observed) = setup();
        let refusal = get_state(&desired, &observed, &["desiredState..x".into()]).unwrap_err();
        assert_eq!(refusal.errors.len(), 1);
    }
}
