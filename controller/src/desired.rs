//! The desired state the controller owns: the manifest, its generation, and what follows from
//! them (the rendered workloads and every agent's snapshot), kept together so they never disagree.
//!
//! A [`Desired`] is only built from a valid manifest: [`Desired::new`] validates and renders, so
//! holding one proves that rendering succeeds. It is a plain value: changing it is `apply.rs`'s
//! job, saving it `persist.rs`'s, publishing it `publish.rs`'s.

use std::collections::BTreeMap;

use ank_schemas::{
    render, validate, AgentSnapshot, DesiredStatePayload, Manifest, RenderedWorkload,
    ValidationError,
};

use crate::snapshot;

/// The desired state at one generation, with its rendering and per-agent snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    manifest: Manifest,
    generation: u64,
    rendered: BTreeMap<String, RenderedWorkload>,
    snapshots: BTreeMap<String, AgentSnapshot>,
}

impl Desired {
    /// The state before anything was ever accepted: no workloads, generation 0, no agents.
    pub fn empty() -> Self {
        Self {
            manifest: Manifest::empty(),
            generation: 0,
            rendered: BTreeMap::new(),
            snapshots: BTreeMap::new(),
        }
    }

    /// Validates and renders `manifest` and restores the snapshots of `agent_generations` (agent →
    /// generation at which its snapshot last changed; every agent that has or had workloads).
    /// This is how a persisted state comes back: the same inputs give the same snapshots.
    pub fn new(
        manifest: Manifest,
        generation: u64,
        agent_generations: &BTreeMap<String, u64>,
    ) -> Result<Self, Vec<ValidationError>> {
        let rendered = checked_render(&manifest)?;
        let snapshots = snapshot::restore(&rendered, generation, agent_generations);
        Ok(Self {
            manifest,
            generation,
            rendered,
            snapshots,
        })
    }

    /// The next state after an accepted change to `manifest`: validated, rendered, the generation
    /// incremented, and each agent's snapshot given the new generation only if its content changed
    /// (an agent that lost its last workload keeps an explicit empty snapshot).
    pub fn next(&self, manifest: Manifest) -> Result<Self, Vec<ValidationError>> {
        let rendered = checked_render(&manifest)?;
        let generation = self.generation + 1;
        let snapshots = snapshot::snapshots(&rendered, generation, &self.snapshots);
        Ok(Self {
            manifest,
            generation,
            rendered,
            snapshots,
        })
    }

    /// The same state with explicit empty snapshots for `agents` it does not know yet, at the
    /// current generation (no change to the desired state itself, so no new generation).
    pub fn with_agents(&self, agents: &[String]) -> Self {
        let mut next = self.clone();
        for agent in agents {
            next.snapshots
                .entry(agent.clone())
                .or_insert_with(|| AgentSnapshot {
                    generation: self.generation,
                    workloads: BTreeMap::new(),
                });
        }
        next
    }

    /// The state as users wrote it (templates unrendered).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Incremented by every accepted change.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The rendered workloads by name, with their instance ids.
    pub fn rendered(&self) -> &BTreeMap<String, RenderedWorkload> {
        &self.rendered
    }

    /// Every agent's snapshot, including explicit empty ones.
    pub fn snapshots(&self) -> &BTreeMap<String, AgentSnapshot> {
        &self.snapshots
    }

    /// Agent → generation of its snapshot: what must be persisted to restore the snapshots.
    pub fn agent_generations(&self) -> BTreeMap<String, u64> {
        self.snapshots
            .iter()
            .map(|(agent, s)| (agent.clone(), s.generation))
            .collect()
    }

    /// The agents whose snapshot differs between `self` and `older` (added, changed, or gone).
    pub fn changed_agents(&self, older: &Desired) -> Vec<String> {
        let mut agents: Vec<String> = self
            .snapshots
            .iter()
            .filter(|(agent, s)| older.snapshots.get(*agent) != Some(*s))
            .map(|(agent, _)| agent.clone())
            .collect();
        // Snapshots are never dropped (see snapshot.rs), but a hand-edited state file could.
        agents.extend(
            older
                .snapshots
                .keys()
                .filter(|a| !self.snapshots.contains_key(*a))
                .cloned(),
        );
        agents
    }

    /// The `{p}/state/desired` payload.
    pub fn payload(&self) -> DesiredStatePayload {
        DesiredStatePayload {
            generation: self.generation,
            desired_state: self.manifest.clone(),
        }
    }
}

/// Every validation error of `manifest`, or its rendering.
fn checked_render(
    manifest: &Manifest,
) -> Result<BTreeMap<String, RenderedWorkload>, Vec<ValidationError>> {
    let errors = validate(manifest);
    if !errors.is_empty() {
        return Err(errors);
    }
    render(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ank_schemas::parse_manifest;

    fn manifest(yaml: &str) -> Manifest {
        parse_manifest(yaml).expect("test manifest parses")
    }

    const TWO_AGENTS: &str = r#"
apiVersion: v1
workloads:
  a: {agent: agent_A, runtime: podman, runtimeConfig: "image: a"}
  b: {agent: agent_B, runtime: podman, runtimeConfig: "image: b"}
"#;

    #[test]
    fn restoring_from_the_persisted_parts_gives_identical_snapshots() {
        let first = Desired::empty().next(manifest(TWO_AGENTS)).unwrap();
        let restored = Desired::new(
            first.manifest().clone(),
            first.generation(),
            &first.agent_generations(),
        )
        .unwrap();
        assert_eq!(restored, first);
    }

    #[test]
    fn only_changed_agents_get_the_new_generation() {
        let first = Desired::empty().next(manifest(TWO_AGENTS)).unwrap();
        let second = first
            .next(manifest(
                r#"
apiVersion: v1
workloads:
  a: {agent: agent_A, runtime: podman, runtimeConfig: "image: a2"}
  b: {agent: agent_B, runtime: podman, runtimeConfig: "image: b"}
"#,
            ))
            .unwrap();
        assert_eq!(second.generation(), 2);
        assert_eq!(second.snapshots()["agent_A"].generation, 2);
        assert_eq!(second.snapshots()["agent_B"].generation, 1);
        assert_eq!(second.changed_agents(&first), vec!["agent_A".to_owned()]);
    }

    #[test]
    fn an_invalid_manifest_is_refused_with_every_error() {
        let errors = Desired::empty()
            .next(manifest(
                r#"
apiVersion: v1
workloads:
  a: {agent: "bad.agent", runtime: podman, runtimeConfig: "image: a"}
  b: {agent: agent_B, runtime: podman, runtimeConfig: "image: b", configs: {c: missing}}
"#,
            ))
            .unwrap_err();
        assert!(errors.len() >= 2, "{errors:?}");
    }
}
