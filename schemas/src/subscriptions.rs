//! Which topic filters each component subscribes to, as part of the contract.
//!
//! Every message on these filters is outside input for its subscriber, so this list is what the
//! system tests fuzz (tests/system/hostile_payloads.rs): the controller, the agent and the CLI
//! subscribe through these functions, so a new subscription cannot be added without the fuzz
//! test hitting it. Per-session topics named after a random client id (`sync/…`, `responses/…`,
//! and the `agents/{agent}/logs/{clientId}` stream of `ank logs`) are not listed: a client cannot
//! guess them, and the ACLs keep them private. No I/O.

use crate::topics::Topics;

impl Topics {
    /// What the controller subscribes to for its whole life: requests, and every agent's status
    /// and workload states (for `ank get state`).
    pub fn controller_subscriptions(&self) -> Vec<String> {
        vec![
            self.requests(),
            self.all_agent_requests(),
            self.all_agent_statuses(),
            self.all_workload_states(),
        ]
    }

    /// What agent `agent` subscribes to on its main session from the start: its own snapshot,
    /// its own workloads' states, its log requests, the tags the controller sets for it and the events it pushes for its
    /// workloads' subscriptions. At run time it adds the exact
    /// [`Topics::workload_state`] of each instance a condition in its snapshot names
    /// (`expectedInstances`), and only those: no other agent's state is ever heard (issue 13).
    pub fn agent_subscriptions(&self, agent: &str) -> Vec<String> {
        vec![
            self.agent_desired(agent),
            self.agent_workload_states(agent),
            self.log_requests(agent),
            self.agent_tags(agent),
            self.agent_events(agent),
        ]
    }

    /// What every agent watches on a connection of its own: the other agents' statuses.
    pub fn agent_watches(&self) -> Vec<String> {
        vec![self.all_agent_statuses()]
    }

    /// What `ank get … --watch` and every retained read of the whole state subscribe to.
    pub fn cli_watch_subscriptions(&self) -> Vec<String> {
        vec![
            self.controller_status(),
            self.desired_state(),
            self.all_agent_statuses(),
            self.all_agent_desired(),
            self.all_workload_states(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use crate::topics::Topic;
    use crate::Topics;

    #[test]
    fn every_subscription_is_a_filter_of_this_tree() {
        let t = Topics::default();
        let all = [
            t.controller_subscriptions(),
            t.agent_subscriptions("a"),
            t.agent_watches(),
            t.cli_watch_subscriptions(),
        ]
        .concat();
        for filter in all {
            // With the wildcards filled in by a valid name, each filter is a topic of the tree.
            let topic = filter.replace('+', "x");
            assert!(t.parse(&topic).is_some(), "{filter}");
            assert!(
                !matches!(t.parse(&topic), Some(Topic::Sync { .. })),
                "{filter}"
            );
        }
    }
}
