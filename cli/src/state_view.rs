//! What the cluster looks like, built purely from the retained topics.
//!
//! Every `ank get …` reads retained topics directly instead of asking the controller, so it works
//! while the controller is down (issue #6). This module turns those messages into one [`View`]
//! and derives what Ankaios shows from it: an instance row per workload, the CompleteState of
//! Ankaios §1.7. Deriving is where the liveness rules live:
//! - a workload of an agent whose status is not `online` is `AgentDisconnected`;
//! - a desired workload whose agent is `""` is `NotScheduled`;
//! - a desired instance with no state yet (its agent never reported it, or its topic still
//!   holds the instance it replaces) is `Pending(Initial)`.
//!
//! No I/O: `ank-bus` delivers the messages, the commands print the result.

use std::collections::BTreeMap;

use ank_bus::Message;
use ank_schemas::{
    AgentEntry, AgentLoad, AgentSnapshot, AgentStatus, CompleteState, ControllerStatus,
    DesiredStatePayload, ExecutionState, InstanceId, Liveness, Manifest, Topic, Topics,
    WorkloadStateEntry, WorkloadStatePayload,
};

/// Everything the retained topics say, decoded. Undecodable payloads are dropped with a warning:
/// bus input is untrusted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    /// `{p}/controller/status`, if any controller ever connected.
    pub controller: Option<ControllerStatus>,
    /// `{p}/state/desired`.
    pub desired: Option<DesiredStatePayload>,
    /// `{p}/agents/{a}/status` by agent.
    pub agents: BTreeMap<String, AgentStatus>,
    /// `{p}/agents/{a}/desired` by agent.
    pub snapshots: BTreeMap<String, AgentSnapshot>,
    /// `{p}/agents/{a}/workloads/{w}/state` by (agent, workload).
    pub states: BTreeMap<(String, String), WorkloadStatePayload>,
}

/// One workload instance as `ank get workloads` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The instance id.
    pub id: InstanceId,
    /// The runtime, when the desired state names it.
    pub runtime: String,
    /// The state after the liveness rules (see the module docs).
    pub state: ExecutionState,
    /// The additional info of the state.
    pub additional_info: String,
}

impl View {
    /// The MQTT filters whose retained messages make up a view.
    pub fn filters(topics: &Topics) -> Vec<String> {
        topics.cli_watch_subscriptions()
    }

    /// A view of a retained snapshot.
    pub fn from_messages(topics: &Topics, messages: &[Message]) -> View {
        let mut view = View::default();
        for message in messages {
            view.apply(topics, message);
        }
        view
    }

    /// Applies one message; an empty payload clears the topic. Returns whether the view changed
    /// in a way a reader cares about (a topic outside the view changes nothing).
    pub fn apply(&mut self, topics: &Topics, message: &Message) -> bool {
        let Some(topic) = topics.parse(&message.topic) else {
            return false;
        };
        let payload = &message.payload;
        match topic {
            Topic::ControllerStatus => set(&mut self.controller, decode(&message.topic, payload)),
            Topic::DesiredState => set(&mut self.desired, decode(&message.topic, payload)),
            Topic::AgentStatus { agent } => {
                put(&mut self.agents, agent, decode(&message.topic, payload))
            }
            Topic::AgentDesired { agent } => {
                put(&mut self.snapshots, agent, decode(&message.topic, payload))
            }
            Topic::WorkloadState { agent, workload } => put(
                &mut self.states,
                (agent, workload),
                decode(&message.topic, payload),
            ),
            _ => false,
        }
    }

    /// Whether `agent`'s retained status says `online`.
    pub fn agent_online(&self, agent: &str) -> bool {
        self.agents
            .get(agent)
            .is_some_and(|s| s.state == Liveness::Online)
    }

    /// The state an instance is shown in, given the retained state of its topic (if it is about
    /// this instance) and its agent's liveness.
    pub fn shown_state(&self, id: &InstanceId) -> (ExecutionState, String) {
        let retained = self
            .states
            .get(&(id.agent.clone(), id.workload.clone()))
            .filter(|s| &s.instance_id == id);
        ank_schemas::shown_state(
            &id.agent,
            self.agents.get(&id.agent).map(|status| status.state),
            retained.map(|s| (s.state, s.additional_info.as_str())),
        )
    }

    /// Every instance: those with a retained state, then the desired ones without one (agent
    /// snapshots, and the unscheduled workloads of the desired state). Sorted by workload name,
    /// then agent.
    pub fn instances(&self) -> Vec<Instance> {
        let mut found: BTreeMap<(String, String, String), Instance> = BTreeMap::new();
        let runtimes = self.desired_runtimes();
        let mut add = |id: InstanceId, view: &View| {
            let key = (id.workload.clone(), id.agent.clone(), id.hash.clone());
            if found.contains_key(&key) {
                return;
            }
            let runtime = runtimes
                .get(&(id.workload.clone(), id.agent.clone()))
                .cloned()
                .unwrap_or_default();
            let (state, additional_info) = view.shown_state(&id);
            found.insert(
                key,
                Instance {
                    id,
                    runtime,
                    state,
                    additional_info,
                },
            );
        };
        for state in self.states.values() {
            add(state.instance_id.clone(), self);
        }
        for snapshot in self.snapshots.values() {
            for desired in snapshot.workloads.values() {
                // While a topic holds another instance (an update in progress) both are shown,
                // the new one `Pending(Initial)` until the agent reports it, as Ankaios' server
                // lists both (issue 16, §4.1).
                add(desired.instance_id.clone(), self);
            }
        }
        for id in self.unscheduled() {
            add(id, self);
        }
        found.into_values().collect()
    }

    /// The CompleteState (Ankaios §1.7): the unrendered desired state, every instance's state
    /// by agent, workload and hash, and the connected agents.
    pub fn complete_state(&self) -> CompleteState {
        let mut workload_states: BTreeMap<_, BTreeMap<_, BTreeMap<_, _>>> = BTreeMap::new();
        for instance in self.instances() {
            workload_states
                .entry(instance.id.agent.clone())
                .or_default()
                .entry(instance.id.workload.clone())
                .or_default()
                .insert(
                    instance.id.hash.clone(),
                    WorkloadStateEntry {
                        state: instance.state,
                        additional_info: instance.additional_info,
                    },
                );
        }
        let agents = self
            .agents
            .iter()
            .filter(|(_, s)| s.state == Liveness::Online)
            .map(|(name, s)| {
                let status = s
                    .resources
                    .map(|r| AgentLoad {
                        cpu_usage: r.cpu_usage,
                        free_memory: r.free_memory,
                    })
                    .unwrap_or_default();
                let entry = AgentEntry {
                    status,
                    tags: s.tags.clone(),
                };
                (name.clone(), entry)
            })
            .collect();
        CompleteState {
            desired_state: self.desired_manifest(),
            workload_states,
            agents,
        }
    }

    /// The desired state, or an empty one when no controller has published one yet.
    pub fn desired_manifest(&self) -> Manifest {
        self.desired
            .as_ref()
            .map(|d| d.desired_state.clone())
            .unwrap_or_else(Manifest::empty)
    }

    /// (workload, agent) → runtime, from the agent snapshots and the rendered desired state.
    fn desired_runtimes(&self) -> BTreeMap<(String, String), String> {
        let mut runtimes = BTreeMap::new();
        for (agent, snapshot) in &self.snapshots {
            for (name, w) in &snapshot.workloads {
                runtimes.insert((name.clone(), agent.clone()), w.runtime.to_string());
            }
        }
        if let Some(desired) = &self.desired {
            for (name, spec) in &desired.desired_state.workloads {
                runtimes
                    .entry((name.clone(), spec.agent.clone()))
                    .or_insert_with(|| spec.runtime.clone());
            }
            for (name, rendered) in rendered(&desired.desired_state) {
                runtimes
                    .entry((name, rendered.spec.agent))
                    .or_insert(rendered.spec.runtime);
            }
        }
        runtimes
    }

    /// The instances of desired workloads whose (rendered) agent is empty.
    fn unscheduled(&self) -> Vec<InstanceId> {
        let Some(desired) = &self.desired else {
            return Vec::new();
        };
        rendered(&desired.desired_state)
            .into_values()
            .filter(|r| r.instance_id.agent.is_empty())
            .map(|r| r.instance_id)
            .collect()
    }
}

/// The rendered workloads of a desired state, one by one (not `ank_schemas::render`, which fails
/// as a whole): a workload that does not render, which the controller would have refused, is
/// left out without hiding the others.
fn rendered(manifest: &Manifest) -> BTreeMap<String, ank_schemas::RenderedWorkload> {
    let mut out = BTreeMap::new();
    for (name, spec) in &manifest.workloads {
        if let Ok(r) = ank_schemas::render_workload(name, spec, &manifest.configs) {
            out.insert(name.clone(), r);
        }
    }
    out
}

/// Decodes a payload; `None` for an empty (cleared) one or, with a warning, for garbage.
fn decode<T: serde::de::DeserializeOwned>(topic: &str, payload: &[u8]) -> Option<T> {
    if payload.is_empty() {
        return None;
    }
    match serde_json::from_slice(payload) {
        Ok(value) => Some(value),
        Err(error) => {
            ank_bus::warn_limited!(
                "undecodable retained payload",
                topic = %ank_bus::excerpt(topic),
                error = %ank_bus::excerpt(&error),
                "undecodable retained payload: ignored"
            );
            None
        }
    }
}

fn set<T: PartialEq>(slot: &mut Option<T>, value: Option<T>) -> bool {
    let changed = *slot != value;
    *slot = value;
    changed
}

fn put<K: Ord, V: PartialEq + Clone>(map: &mut BTreeMap<K, V>, key: K, value: Option<V>) -> bool {
    match value {
        Some(value) => map
            .insert(key, value.clone())
            .is_none_or(|old| old != value),
        None => map.remove(&key).is_some(),
    }
}
