//! Requests an agent makes on behalf of one of its workloads (Ankaios' control interface),
//! arriving on `{p}/agents/<agent>/requests`, which only that agent may write (broker ACL).
//!
//! The agent has already checked the workload's access rules; the controller checks them again
//! here with the same pure function (`ank_schemas::control_interface::authorize`), against the
//! rules of the workload as the controller itself rendered it for that agent. So a compromised or
//! confused agent cannot act beyond the rules of a workload it really runs, and no payload can
//! claim another agent's workload. Pure: the loop in `server.rs` calls it before `handle`.

use std::collections::BTreeMap;

use ank_broker::agent_username;
use ank_schemas::control_interface::{authorize, Operation};
use ank_schemas::{AgentSnapshot, Request, RequestOp};

use crate::apply::Refusal;

/// Whether agent `agent` may make `request` on behalf of the workload it names. Only reads, mask
/// updates and event subscriptions (`getState`, `setState`, `subscribeEvents`, `cancelEvents`)
/// exist on the control interface.
pub fn check(
    agent: &str,
    request: &Request,
    snapshots: &BTreeMap<String, AgentSnapshot>,
) -> Result<(), Refusal> {
    // Answers go to the agent's own response topic, never to a client the agent names.
    if request.reply_to.identity() != agent_username(agent) {
        return Err(Refusal::message(format!(
            "a request on agent {agent}'s topic must be answered to that agent, not `{}`",
            request.reply_to
        )));
    }
    let Some(workload) = request.on_behalf_of.as_deref() else {
        return Err(Refusal::message(
            "a request on an agent's topic must name the workload it is made for (onBehalfOf)",
        ));
    };
    let Some(desired) = snapshots.get(agent).and_then(|s| s.workloads.get(workload)) else {
        return Err(Refusal::message(format!(
            "Access denied: workload `{workload}` is not assigned to agent {agent}"
        )));
    };
    let access = &desired.control_interface_access;
    let operation = match &request.op {
        RequestOp::GetState { masks } => Operation::Read(masks),
        RequestOp::SetState { masks, .. } => Operation::Write(masks),
        // Events (issue 15) are reads; a cancel is always allowed, as in Ankaios.
        RequestOp::SubscribeEvents { masks, .. } => Operation::Read(masks),
        RequestOp::CancelEvents { .. } => Operation::Cancel,
        // Which log targets exist: only those the LogRules allow (issue 15).
        RequestOp::LogTargets { instances } => {
            let names: Vec<String> = instances.iter().map(|i| i.workload.clone()).collect();
            return authorize(access, Operation::Logs(&names))
                .map_err(|denied| Refusal::message(format!("{denied}: {}", denied.detail())));
        }
        _ => {
            return Err(Refusal::message(
                "Access denied: only getState, setState and event subscriptions are available \
             through the control interface",
            ))
        }
    };
    authorize(access, operation)
        .map_err(|denied| Refusal::message(format!("{denied}: {}", denied.detail())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ank_schemas::{
        AccessRule, ClientId, ControlInterfaceAccess, DesiredWorkload, InstanceId, ReadWriteEnum,
        StateRule,
    };

    fn snapshots(rules: Vec<AccessRule>) -> BTreeMap<String, AgentSnapshot> {
        let id = InstanceId::compute("app", "agent_A", "podman", "image: x", &[]);
        let mut workload: DesiredWorkload = serde_json::from_value(serde_json::json!({
            "instanceId": id.to_string(),
            "runtime": "podman",
            "runtimeConfig": "image: x",
        }))
        .unwrap();
        workload.control_interface_access = ControlInterfaceAccess {
            allow_rules: rules,
            deny_rules: vec![],
        };
        let snapshot: AgentSnapshot = serde_json::from_value(serde_json::json!({
            "generation": 1, "workloads": {}
        }))
        .unwrap();
        let mut snapshot = snapshot;
        snapshot.workloads.insert("app".into(), workload);
        BTreeMap::from([("agent_A".to_owned(), snapshot)])
    }

    fn request(reply_to: &str, on_behalf_of: Option<&str>, op: RequestOp) -> Request {
        Request {
            id: "1".into(),
            reply_to: ClientId::new(reply_to).unwrap(),
            expires_at_ms: None,
            on_behalf_of: on_behalf_of.map(str::to_owned),
            op,
        }
    }

    fn read(masks: &[&str]) -> RequestOp {
        RequestOp::GetState {
            masks: masks.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    /// (case, agent the topic names, replyTo, onBehalfOf, op, allowed)
    #[test]
    fn issue_15_the_controller_rechecks_the_rules_of_the_workload_on_the_agent_of_the_topic() {
        let rules = vec![AccessRule::StateRule(StateRule {
            operation: ReadWriteEnum::Read,
            filter_masks: vec!["workloadStates".into()],
        })];
        let s = snapshots(rules);
        let write = RequestOp::SetState {
            masks: vec!["desiredState.workloads.x".into()],
            state: serde_json::json!({}),
        };
        let cases = [
            (
                "allowed read",
                "agent_A",
                "agent-agent_A",
                Some("app"),
                read(&["workloadStates"]),
                true,
            ),
            (
                "read outside the rules",
                "agent_A",
                "agent-agent_A",
                Some("app"),
                read(&["desiredState"]),
                false,
            ),
            (
                "write without a write rule",
                "agent_A",
                "agent-agent_A",
                Some("app"),
                write,
                false,
            ),
            (
                "no onBehalfOf",
                "agent_A",
                "agent-agent_A",
                None,
                read(&["workloadStates"]),
                false,
            ),
            (
                "a workload of another agent",
                "agent_B",
                "agent-agent_B",
                Some("app"),
                read(&["workloadStates"]),
                false,
            ),
            (
                "an unknown workload",
                "agent_A",
                "agent-agent_A",
                Some("ghost"),
                read(&["workloadStates"]),
                false,
            ),
            (
                "answers sent elsewhere",
                "agent_A",
                "cli-1",
                Some("app"),
                read(&["workloadStates"]),
                false,
            ),
            (
                "another op",
                "agent_A",
                "agent-agent_A",
                Some("app"),
                RequestOp::DeleteWorkloads { names: vec![] },
                false,
            ),
        ];
        for (case, agent, reply_to, on_behalf_of, op, allowed) in cases {
            let r = request(reply_to, on_behalf_of, op);
            assert_eq!(check(agent, &r, &s).is_ok(), allowed, "{case}");
        }
    }
}
