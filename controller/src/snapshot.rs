//! Per-agent snapshots: the complete, rendered workload set each agent must run, with the delete
//! conditions of Ankaios §2.4 computed here so that agents can honour them.
//!
//! Pure functions over rendered workloads. Two rules make snapshots safe to publish retained:
//! - An agent that had workloads keeps a snapshot forever, empty when its last workload went
//!   away: an explicit "run nothing", never silence (silence means "no snapshot yet, touch
//!   nothing" to an agent).
//! - A snapshot's generation is the generation at which *its content* last changed, so a restart
//!   (or a change elsewhere) republishes byte-identical snapshots and agents change nothing.
//!
//! Workloads without an agent (`agent: ""`, NotScheduled) are in no snapshot.

use std::collections::BTreeMap;

use ank_schemas::{AgentSnapshot, DeleteCondition, DesiredWorkload, RenderedWorkload};

/// Agent → workload name → desired workload, for every scheduled workload, with delete
/// conditions: a workload W with `dep: ADD_COND_RUNNING` gives `dep` the delete condition
/// `W: DEL_COND_NOT_PENDING_NOR_RUNNING`, carried in the snapshot of `dep`'s agent (W may run on
/// another agent: dependencies are resolved by name across agents).
pub fn workload_sets(
    rendered: &BTreeMap<String, RenderedWorkload>,
) -> BTreeMap<String, BTreeMap<String, DesiredWorkload>> {
    let mut delete_conditions: BTreeMap<&str, BTreeMap<String, DeleteCondition>> = BTreeMap::new();
    for (dependent, workload) in rendered {
        for (dependency, condition) in &workload.spec.dependencies {
            if let Some(delete) = condition.implied_delete_condition() {
                // Edges to workloads that do not exist (yet) carry nothing.
                if rendered.contains_key(dependency) {
                    delete_conditions
                        .entry(dependency.as_str())
                        .or_default()
                        .insert(dependent.clone(), delete);
                }
            }
        }
    }
    let mut sets: BTreeMap<String, BTreeMap<String, DesiredWorkload>> = BTreeMap::new();
    for (name, workload) in rendered {
        let agent = &workload.spec.agent;
        if agent.is_empty() {
            continue;
        }
        let conditions = delete_conditions.remove(name.as_str()).unwrap_or_default();
        // Who answers for each workload the conditions name: its scheduled instance. A
        // NotScheduled one has no agent to publish its state, so it is left out (absent).
        let expected = workload
            .spec
            .dependencies
            .keys()
            .chain(conditions.keys())
            .filter_map(|other| {
                let peer = rendered.get(other)?;
                (!peer.spec.agent.is_empty()).then(|| (other.clone(), peer.instance_id.clone()))
            })
            .collect();
        match DesiredWorkload::new(workload, conditions, expected) {
            Ok(desired) => {
                sets.entry(agent.clone())
                    .or_default()
                    .insert(name.clone(), desired);
            }
            // Validation refuses such a runtime before anything is accepted; a state that got
            // past it (a hand-edited state file) leaves that workload out rather than send an
            // agent a snapshot it cannot read.
            Err(invalid) => tracing::error!(workload = %name, %invalid, "workload left out"),
        }
    }
    sets
}

/// The snapshots after a change at `generation`: every agent of `rendered` and of `previous`
/// (emptied if it has no workloads left); an agent whose workloads are unchanged keeps its
/// previous snapshot, generation included.
pub fn snapshots(
    rendered: &BTreeMap<String, RenderedWorkload>,
    generation: u64,
    previous: &BTreeMap<String, AgentSnapshot>,
) -> BTreeMap<String, AgentSnapshot> {
    let mut sets = workload_sets(rendered);
    for agent in previous.keys() {
        sets.entry(agent.clone()).or_default();
    }
    sets.into_iter()
        .map(|(agent, workloads)| {
            let snapshot = match previous.get(&agent) {
                Some(old) if old.workloads == workloads => old.clone(),
                _ => AgentSnapshot {
                    generation,
                    workloads,
                },
            };
            (agent, snapshot)
        })
        .collect()
}

/// The snapshots of a persisted state: the content from `rendered`, each generation from
/// `agent_generations` (which lists every agent that has or had workloads). An agent missing
/// from it (a hand-edited file) gets `generation`.
pub fn restore(
    rendered: &BTreeMap<String, RenderedWorkload>,
    generation: u64,
    agent_generations: &BTreeMap<String, u64>,
) -> BTreeMap<String, AgentSnapshot> {
    let mut sets = workload_sets(rendered);
    for agent in agent_generations.keys() {
        sets.entry(agent.clone()).or_default();
    }
    sets.into_iter()
        .map(|(agent, workloads)| {
            let generation = agent_generations.get(&agent).copied().unwrap_or(generation);
            (
                agent,
                AgentSnapshot {
                    generation,
                    workloads,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ank_schemas::{parse_manifest, render};

    fn rendered(yaml: &str) -> BTreeMap<String, RenderedWorkload> {
        render(&parse_manifest(yaml).expect("parses")).expect("renders")
    }

    const DEPENDENCIES: &str = r#"
apiVersion: v1
workloads:
  db: {agent: agent_A, runtime: podman, runtimeConfig: "image: db"}
  web:
    agent: agent_B
    runtime: podman
    runtimeConfig: "image: web"
    dependencies: {db: ADD_COND_RUNNING, init: ADD_COND_SUCCEEDED, ghost: ADD_COND_RUNNING}
  init: {agent: agent_A, runtime: podman, runtimeConfig: "image: init"}
  parked: {agent: "", runtime: podman, runtimeConfig: "image: p"}
"#;

    #[test]
    fn a_running_dependency_gets_a_delete_condition_in_its_own_agents_snapshot() {
        let sets = workload_sets(&rendered(DEPENDENCIES));
        let db = &sets["agent_A"]["db"];
        assert_eq!(
            db.delete_conditions,
            BTreeMap::from([("web".to_owned(), DeleteCondition::NotPendingNorRunning)])
        );
    }

    #[test]
    fn issue_13_each_condition_names_the_instance_and_agent_that_answers_for_it() {
        let rendered = rendered(DEPENDENCIES);
        let sets = workload_sets(&rendered);
        let web = &sets["agent_B"]["web"];
        assert_eq!(
            web.expected_instances,
            BTreeMap::from([
                ("db".to_owned(), rendered["db"].instance_id.clone()),
                ("init".to_owned(), rendered["init"].instance_id.clone()),
            ]),
            "ghost is not in the desired state: nobody answers for it"
        );
        assert_eq!(web.expected_instances["db"].agent, "agent_A");
        let db = &sets["agent_A"]["db"];
        assert_eq!(
            db.expected_instances,
            BTreeMap::from([("web".to_owned(), rendered["web"].instance_id.clone())]),
            "the dependent of a delete condition too"
        );
        assert!(sets["agent_A"]["init"].expected_instances.is_empty());
    }

    #[test]
    fn succeeded_and_missing_dependencies_imply_no_delete_condition() {
        let sets = workload_sets(&rendered(DEPENDENCIES));
        assert!(sets["agent_A"]["init"].delete_conditions.is_empty());
        assert!(sets["agent_B"]["web"].delete_conditions.is_empty());
        assert!(!sets.values().any(|s| s.contains_key("ghost")));
    }

    #[test]
    fn unscheduled_workloads_are_in_no_snapshot() {
        let sets = workload_sets(&rendered(DEPENDENCIES));
        assert!(!sets.contains_key(""));
        assert!(!sets.values().any(|s| s.contains_key("parked")));
    }

    #[test]
    fn an_agent_that_lost_its_last_workload_gets_an_explicit_empty_snapshot() {
        let before = snapshots(&rendered(DEPENDENCIES), 1, &BTreeMap::new());
        let after = snapshots(
            &rendered(
                "apiVersion: v1\nworkloads:\n  db: {agent: agent_A, runtime: podman, runtimeConfig: 'image: db'}\n",
            ),
            2,
            &before,
        );
        assert_eq!(
            after["agent_B"],
            AgentSnapshot {
                generation: 2,
                workloads: BTreeMap::new()
            }
        );
        // agent_A changed too: `db` lost its delete condition and `init` is gone.
        assert_eq!(after["agent_A"].generation, 2);
    }

    #[test]
    fn an_unchanged_agent_keeps_its_snapshot_and_generation() {
        let before = snapshots(&rendered(DEPENDENCIES), 1, &BTreeMap::new());
        let after = snapshots(&rendered(DEPENDENCIES), 7, &before);
        assert_eq!(after, before);
    }

    #[test]
    fn restore_rebuilds_what_snapshots_computed() {
        let r = rendered(DEPENDENCIES);
        let built = snapshots(
            &r,
            3,
            &BTreeMap::from([(
                "agent_C".to_owned(),
                AgentSnapshot {
                    generation: 2,
                    workloads: BTreeMap::new(),
                },
            )]),
        );
        let generations = built
            .iter()
            .map(|(a, s)| (a.clone(), s.generation))
            .collect();
        assert_eq!(restore(&r, 3, &generations), built);
    }
}
