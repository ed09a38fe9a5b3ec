//! The observed state: what agents report on the bus (their status and their workloads' states),
//! kept to answer `getState`. The controller never decides anything from it.
//!
//! Everything here arrives from the bus and is untrusted: a payload that does not decode, or a
//! workload state whose instance id names another workload or agent than its topic, is refused
//! with an [`ObservedError`] and changes nothing. An empty payload is a cleared retained topic:
//! the agent or workload is gone.

use std::collections::BTreeMap;

use ank_schemas::{AgentStatus, WorkloadStatePayload};

/// Why a report from the bus was ignored.
#[derive(Debug, thiserror::Error)]
pub enum ObservedError {
    /// The payload is not the expected JSON.
    #[error("malformed payload: {0}")]
    Malformed(#[from] serde_json::Error),
    /// The state's instance id does not belong to the topic's agent and workload.
    #[error("instance '{instance}' does not belong to workload '{workload}' of agent '{agent}'")]
    Mismatch {
        /// The instance id in the payload.
        instance: String,
        /// The topic's agent.
        agent: String,
        /// The topic's workload.
        workload: String,
    },
}

/// Agent statuses and workload states as last reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    agents: BTreeMap<String, AgentStatus>,
    workloads: BTreeMap<String, BTreeMap<String, WorkloadStatePayload>>,
}

impl Observed {
    /// Records `{p}/agents/{agent}/status`; an empty payload forgets the agent.
    pub fn agent_status(&mut self, agent: &str, payload: &[u8]) -> Result<(), ObservedError> {
        if payload.is_empty() {
            self.agents.remove(agent);
            return Ok(());
        }
        let status: AgentStatus = serde_json::from_slice(payload)?;
        self.agents.insert(agent.to_owned(), status);
        Ok(())
    }

    /// Records `{p}/agents/{agent}/workloads/{workload}/state`; an empty payload means removed.
    pub fn workload_state(
        &mut self,
        agent: &str,
        workload: &str,
        payload: &[u8],
    ) -> Result<(), ObservedError> {
        if payload.is_empty() {
            if let Some(states) = self.workloads.get_mut(agent) {
                states.remove(workload);
            }
            self.workloads.retain(|_, states| !states.is_empty());
            return Ok(());
        }
        let state: WorkloadStatePayload = serde_json::from_slice(payload)?;
        if state.instance_id.agent != agent || state.instance_id.workload != workload {
            return Err(ObservedError::Mismatch {
                instance: state.instance_id.to_string(),
                agent: agent.to_owned(),
                workload: workload.to_owned(),
            });
        }
        self.workloads
            .entry(agent.to_owned())
            .or_default()
            .insert(workload.to_owned(), state);
        Ok(())
    }

    /// Takes tags the controller just asked `agent` to carry (`{p}/agents/<a>/tags`) as if the
    /// agent had already reported them, so a read right after the write sees them; the agent's
    /// next status confirms them (or, from another epoch, replaces them).
    pub fn expect_tags(&mut self, agent: &str, tags: &ank_schemas::AgentTags) {
        if let Some(status) = self.agents.get_mut(agent).filter(|s| s.epoch == tags.epoch) {
            status.tags = tags.tags.clone();
        }
    }

    /// Every agent that published a status, by name.
    pub fn agents(&self) -> &BTreeMap<String, AgentStatus> {
        &self.agents
    }

    /// Agent → workload name → last reported state.
    pub fn workloads(&self) -> &BTreeMap<String, BTreeMap<String, WorkloadStatePayload>> {
        &self.workloads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ank_schemas::InstanceId;

    fn state_json(workload: &str, agent: &str) -> Vec<u8> {
        let id = InstanceId::compute(workload, agent, "podman", "image: x", &[]);
        serde_json::to_vec(&serde_json::json!({
            "instanceId": id.to_string(), "state": "Running", "subState": "Ok"}))
        .unwrap()
    }

    #[test]
    fn reports_are_recorded_and_cleared_by_an_empty_payload() {
        let mut o = Observed::default();
        o.agent_status("agent_A", br#"{"state":"online","epoch":1}"#)
            .unwrap();
        o.workload_state("agent_A", "w", &state_json("w", "agent_A"))
            .unwrap();
        assert!(o.agents().contains_key("agent_A"));
        assert!(o.workloads()["agent_A"].contains_key("w"));
        o.workload_state("agent_A", "w", b"").unwrap();
        assert!(o.workloads().is_empty());
        o.agent_status("agent_A", b"").unwrap();
        assert!(o.agents().is_empty());
    }

    /// (case, agent status payload, workload state payload): each must be refused.
    #[test]
    fn untrusted_payloads_are_refused_and_change_nothing() {
        let cases: [(&str, &[u8], Vec<u8>); 4] = [
            ("garbage", b"\xff\x00garbage", b"\xff\x00".to_vec()),
            (
                "wrong json",
                br#"{"state":"dancing"}"#,
                br#"[1,2,3]"#.to_vec(),
            ),
            ("json null", b"null", b"null".to_vec()),
            (
                "another workload's state",
                br#"{"epoch":1}"#,
                state_json("other", "agent_A"),
            ),
        ];
        for (case, status, state) in cases {
            let mut o = Observed::default();
            assert!(o.agent_status("agent_A", status).is_err(), "{case}");
            assert!(o.workload_state("agent_A", "w", &state).is_err(), "{case}");
            assert_eq!(o, Observed::default(), "{case}");
        }
    }
}
