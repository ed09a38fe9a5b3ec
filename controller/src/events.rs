//! Event subscriptions of control-interface workloads (Ankaios' `subscribeForEvents`, §8.4),
//! pushed as the state changes instead of being polled (issue 15).
//!
//! An agent subscribes on behalf of one of its workloads with `subscribeEvents` on its own
//! request topic (re-checked by `agent_requests.rs` like a read). The controller keeps, per
//! subscription, the masked state it last sent; after every change it sees (an accepted write, a
//! tag update, an agent status, a workload state) the server hands the new complete state to
//! [`Subscriptions::on_change`], which returns the events to publish on
//! `{p}/agents/<agent>/events`: the altered fields and the changed parts (the same diff as
//! `ank get events`, `ank_schemas::state_diff`).
//!
//! Every change is re-authorized: a subscription whose workload left its agent, whose rules no
//! longer allow its masks, or whose agent is not online (or restarted: another epoch) is ended
//! with an `ended` message. Bounded: at most [`MAX_AGENT_SUBSCRIPTIONS`] per agent, ids as long
//! as request ids. Pure: no clock, no I/O.

use std::collections::BTreeMap;

use ank_schemas::control_interface::{authorize, Operation};
use ank_schemas::state_diff::event_for_masks;
use ank_schemas::{
    select, AgentEvent, AgentEventBody, AgentSnapshot, AgentStatus, FieldMask, Liveness,
    MAX_AGENT_SUBSCRIPTIONS, MAX_REQUEST_ID_LEN,
};
use serde_json::Value;

use crate::apply::Refusal;

/// One subscription.
#[derive(Debug, Clone, PartialEq)]
struct Subscription {
    workload: String,
    masks: Vec<String>,
    parsed: Vec<FieldMask>,
    /// The agent's status epoch when it subscribed: a restarted agent has lost it.
    epoch: u64,
    /// The masked state last sent.
    last: Value,
}

/// Every agent's subscriptions: agent → subscription id → subscription.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Subscriptions {
    by_agent: BTreeMap<String, BTreeMap<String, Subscription>>,
}

impl Subscriptions {
    /// Whether there is nothing to compute events for.
    pub fn is_empty(&self) -> bool {
        self.by_agent.is_empty()
    }

    /// Starts subscription `id` of `agent` for `workload` (already authorized) and returns the
    /// first masked state of `whole`, the current complete state. An existing `id` is replaced.
    pub fn subscribe(
        &mut self,
        agent: &str,
        workload: &str,
        id: &str,
        masks: &[String],
        epoch: u64,
        whole: &Value,
    ) -> Result<Value, Refusal> {
        if id.is_empty() || id.len() > MAX_REQUEST_ID_LEN {
            return Err(Refusal::message(format!(
                "a subscription id must have 1 to {MAX_REQUEST_ID_LEN} bytes"
            )));
        }
        let parsed = Refusal::masks(masks, FieldMask::read)?;
        let subs = self.by_agent.entry(agent.to_owned()).or_default();
        if !subs.contains_key(id) && subs.len() >= MAX_AGENT_SUBSCRIPTIONS {
            return Err(Refusal::message(format!(
                "agent {agent} has {MAX_AGENT_SUBSCRIPTIONS} event subscriptions, the most there \
                 can be; cancel one first"
            )));
        }
        let first = select(whole, &parsed);
        subs.insert(
            id.to_owned(),
            Subscription {
                workload: workload.to_owned(),
                masks: masks.to_vec(),
                parsed,
                epoch,
                last: first.clone(),
            },
        );
        Ok(first)
    }

    /// Ends subscription `id` of `agent`; unknown ids are fine (a cancel is always accepted).
    pub fn cancel(&mut self, agent: &str, id: &str) {
        if let Some(subs) = self.by_agent.get_mut(agent) {
            subs.remove(id);
            if subs.is_empty() {
                self.by_agent.remove(agent);
            }
        }
    }

    /// The events after a change: for each subscription whose part of `whole` changed, an
    /// event; for each that may no longer exist, an `ended`. Returns (agent, event) in order.
    pub fn on_change(
        &mut self,
        whole: &Value,
        snapshots: &BTreeMap<String, AgentSnapshot>,
        agents: &BTreeMap<String, AgentStatus>,
    ) -> Vec<(String, AgentEvent)> {
        let mut out = Vec::new();
        for (agent, subs) in &mut self.by_agent {
            let status = agents.get(agent);
            subs.retain(|id, sub| {
                let ended = |reason: String| {
                    (
                        agent.clone(),
                        AgentEvent {
                            subscription: id.clone(),
                            body: AgentEventBody::Ended { reason },
                        },
                    )
                };
                match status {
                    Some(s) if s.state == Liveness::Online && s.epoch == sub.epoch => {}
                    // Not heard yet (the controller reconnected and is reading the statuses
                    // again): keep it, without events until the agent is known.
                    None => return true,
                    Some(_) => {
                        // Nobody is there to read it; say it anyway for an agent that comes
                        // back with the same epoch after a reconnect.
                        out.push(ended(format!("agent {agent} is not connected")));
                        return false;
                    }
                }
                let rules = snapshots
                    .get(agent)
                    .and_then(|s| s.workloads.get(&sub.workload))
                    .map(|w| &w.control_interface_access);
                let Some(rules) = rules else {
                    out.push(ended(format!(
                        "workload {} is no longer on agent {agent}",
                        sub.workload
                    )));
                    return false;
                };
                if let Err(denied) = authorize(rules, Operation::Read(&sub.masks)) {
                    out.push(ended(format!("{denied}: {}", denied.detail())));
                    return false;
                }
                let now = select(whole, &sub.parsed);
                if let Some(change) = event_for_masks(&sub.last, &now, &sub.parsed, String::new()) {
                    out.push((
                        agent.clone(),
                        AgentEvent {
                            subscription: id.clone(),
                            body: AgentEventBody::Event {
                                added_fields: change.added_fields,
                                updated_fields: change.updated_fields,
                                removed_fields: change.removed_fields,
                                complete_state: change.complete_state,
                            },
                        },
                    ));
                    sub.last = now;
                }
                true
            });
        }
        self.by_agent.retain(|_, subs| !subs.is_empty());
        out
    }
}

/// When to compute events: after every message while the controller keeps up, as Ankaios does,
/// but at most once per [`EventPacing::MAX_DEFERRED`] messages while more are already waiting.
/// Computing them costs the whole complete state (its JSON, every subscription's masked part), so
/// one per message in a storm of workload states (a rollout of 10,000) would make the controller
/// quadratic in the fleet size and let a subscriber with a wide mask wedge it. When it falls
/// behind, the changes of the messages in between reach a subscriber as one event.
#[derive(Debug, Default)]
pub struct EventPacing {
    deferred: usize,
}

impl EventPacing {
    /// The most messages whose events wait for a later one.
    pub const MAX_DEFERRED: usize = 256;

    /// After a message was taken: whether to compute events now. `more_waiting` says whether
    /// further messages are already queued.
    pub fn after_message(&mut self, more_waiting: bool) -> bool {
        if more_waiting && self.deferred < Self::MAX_DEFERRED {
            self.deferred += 1;
            return false;
        }
        self.deferred = 0;
        true
    }

    /// Whether events were deferred and are still owed (then they are computed now): after an
    /// event that is not a message, so that no change waits for the next message.
    pub fn owed(&mut self) -> bool {
        std::mem::take(&mut self.deferred) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ank_schemas::{
        AccessRule, ControlInterfaceAccess, DesiredWorkload, InstanceId, ReadWriteEnum, StateRule,
    };
    use serde_json::json;

    fn snapshots(filter: &str) -> BTreeMap<String, AgentSnapshot> {
        let id = InstanceId::compute("app", "agent_A", "podman", "image: x", &[]);
        let mut workload: DesiredWorkload = serde_json::from_value(json!({
            "instanceId": id.to_string(), "runtime": "podman", "runtimeConfig": "image: x",
        }))
        .unwrap();
        workload.control_interface_access = ControlInterfaceAccess {
            allow_rules: vec![AccessRule::StateRule(StateRule {
                operation: ReadWriteEnum::Read,
                filter_masks: vec![filter.into()],
            })],
            deny_rules: vec![],
        };
        let mut snapshot: AgentSnapshot =
            serde_json::from_value(json!({"generation": 1, "workloads": {}})).unwrap();
        snapshot.workloads.insert("app".into(), workload);
        BTreeMap::from([("agent_A".to_owned(), snapshot)])
    }

    fn agents(epoch: u64, state: Liveness) -> BTreeMap<String, AgentStatus> {
        let status = serde_json::from_value(json!({"state": state, "epoch": epoch})).unwrap();
        BTreeMap::from([("agent_A".to_owned(), status)])
    }

    fn state(helper: Option<&str>) -> Value {
        let mut workloads = serde_json::Map::new();
        if let Some(image) = helper {
            workloads.insert(
                "helper".into(),
                json!({"agent": "agent_B", "runtimeConfig": image}),
            );
        }
        workloads.insert("other".into(), json!({"agent": "agent_B"}));
        json!({"desiredState": {"workloads": workloads}, "workloadStates": {}})
    }

    fn subscribed() -> Subscriptions {
        let mut subs = Subscriptions::default();
        let first = subs
            .subscribe(
                "agent_A",
                "app",
                "s1",
                &["desiredState.workloads.helper".into()],
                7,
                &state(None),
            )
            .unwrap();
        assert_eq!(first, json!({}), "nothing there yet");
        subs
    }

    fn fields(e: &AgentEvent) -> (Vec<String>, Vec<String>, Vec<String>) {
        match &e.body {
            AgentEventBody::Event {
                added_fields,
                updated_fields,
                removed_fields,
                ..
            } => (
                added_fields.clone(),
                updated_fields.clone(),
                removed_fields.clone(),
            ),
            AgentEventBody::Ended { reason } => panic!("ended: {reason}"),
        }
    }

    #[test]
    fn issue_17_events_follow_every_message_unless_more_are_waiting_and_then_every_257th() {
        let mut pacing = EventPacing::default();
        assert!(pacing.after_message(false), "keeping up: every message");
        assert!(pacing.after_message(false));
        let mut computed = 0;
        for _ in 0..1_000 {
            if pacing.after_message(true) {
                computed += 1;
            }
        }
        assert_eq!(computed, 1_000 / (EventPacing::MAX_DEFERRED + 1));
        assert!(
            pacing.after_message(false),
            "the queue drained: computed at once"
        );
        assert!(!pacing.owed(), "nothing owed after computing");
        assert!(!pacing.after_message(true));
        assert!(pacing.owed(), "a deferred message is owed");
        assert!(!pacing.owed(), "once");
    }

    #[test]
    fn issue_15_a_change_in_the_masks_is_pushed_with_its_altered_fields_and_others_are_not() {
        let mut subs = subscribed();
        let (snap, online) = (snapshots("desiredState"), agents(7, Liveness::Online));
        let path = "desiredState.workloads.helper".to_owned();

        let added = subs.on_change(&state(Some("a")), &snap, &online);
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].0, "agent_A");
        assert_eq!(added[0].1.subscription, "s1");
        assert_eq!(fields(&added[0].1), (vec![path.clone()], vec![], vec![]));

        // The same state again, or a change outside the masks: nothing.
        assert!(subs.on_change(&state(Some("a")), &snap, &online).is_empty());
        let mut elsewhere = state(Some("a"));
        elsewhere["desiredState"]["workloads"]["other"]["agent"] = json!("agent_C");
        assert!(subs.on_change(&elsewhere, &snap, &online).is_empty());

        let updated = subs.on_change(&state(Some("b")), &snap, &online);
        assert_eq!(
            fields(&updated[0].1),
            (vec![], vec![format!("{path}.runtimeConfig")], vec![])
        );
        let removed = subs.on_change(&state(None), &snap, &online);
        assert_eq!(fields(&removed[0].1), (vec![], vec![], vec![path]));
    }

    #[test]
    fn issue_15_nothing_is_pushed_after_a_cancel() {
        let mut subs = subscribed();
        subs.cancel("agent_A", "s1");
        subs.cancel("agent_A", "unknown");
        assert!(subs.is_empty());
        let events = subs.on_change(
            &state(Some("a")),
            &snapshots("desiredState"),
            &agents(7, Liveness::Online),
        );
        assert!(events.is_empty());
    }

    #[test]
    fn issue_15_a_subscription_ends_when_it_may_no_longer_exist() {
        let cases = [
            (
                "rules no longer allow it",
                snapshots("workloadStates"),
                agents(7, Liveness::Online),
            ),
            (
                "workload gone",
                BTreeMap::new(),
                agents(7, Liveness::Online),
            ),
            (
                "agent lost",
                snapshots("desiredState"),
                agents(7, Liveness::Lost),
            ),
            (
                "agent restarted",
                snapshots("desiredState"),
                agents(8, Liveness::Online),
            ),
        ];
        for (case, snap, status) in cases {
            let mut subs = subscribed();
            let events = subs.on_change(&state(Some("a")), &snap, &status);
            assert!(
                matches!(
                    events.as_slice(),
                    [(
                        _,
                        AgentEvent {
                            body: AgentEventBody::Ended { .. },
                            ..
                        }
                    )]
                ),
                "{case}: {events:?}"
            );
            assert!(subs.is_empty(), "{case}");
        }
    }

    #[test]
    fn a_subscription_of_an_agent_not_heard_yet_is_kept_without_events() {
        let mut subs = subscribed();
        let events = subs.on_change(
            &state(Some("a")),
            &snapshots("desiredState"),
            &BTreeMap::new(),
        );
        assert!(events.is_empty());
        assert!(!subs.is_empty());
    }

    #[test]
    fn issue_15_subscriptions_are_bounded_per_agent() {
        let mut subs = Subscriptions::default();
        for i in 0..MAX_AGENT_SUBSCRIPTIONS {
            subs.subscribe("agent_A", "app", &format!("s{i}"), &[], 1, &json!({}))
                .unwrap();
        }
        let refused = subs.subscribe("agent_A", "app", "one-more", &[], 1, &json!({}));
        assert!(refused.unwrap_err().message.contains("cancel one first"));
        // Another agent has its own budget; re-subscribing an id replaces it.
        assert!(subs
            .subscribe("agent_B", "app", "s0", &[], 1, &json!({}))
            .is_ok());
        assert!(subs
            .subscribe("agent_A", "app", "s0", &[], 1, &json!({}))
            .is_ok());
        let long = "x".repeat(MAX_REQUEST_ID_LEN + 1);
        assert!(subs
            .subscribe("agent_B", "app", &long, &[], 1, &json!({}))
            .is_err());
        let bad_mask = subs.subscribe("agent_B", "app", "m", &["a..b".into()], 1, &json!({}));
        assert!(bad_mask.is_err());
    }
}
