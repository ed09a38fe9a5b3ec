//! Every MQTT topic of ankmq, built from the configurable prefix, and parsed back.
//!
//! This is the one place that spells a topic; publishers, subscribers, the broker's ACLs and the
//! docs all go through it. No I/O: publishing lives in `ank-bus` and the binaries' `publish.rs`.
//!
//! The tree (docs/topics.md has the writers, retain flags and payloads):
//!
//! ```text
//! {p}/controller/status
//! {p}/state/desired
//! {p}/agents/{agent}/desired
//! {p}/agents/{agent}/status
//! {p}/agents/{agent}/workloads/{workload}/state
//! {p}/agents/{agent}/logs/requests
//! {p}/agents/{agent}/logs/{clientId}
//! {p}/agents/{agent}/requests
//! {p}/agents/{agent}/tags
//! {p}/agents/{agent}/events
//! {p}/requests
//! {p}/responses/{clientId}
//! {p}/events
//! {p}/sync/{clientId}
//! ```
//!
//! Agent, workload and client names are restricted to `[A-Za-z0-9_-]`, so a name can never
//! smuggle a `/`, a NUL or a wildcard into a topic. A client id is the one level that arrives in
//! payloads from anyone on the bus (a request's `replyTo`, a log request's `clientId`), so those
//! builders take a [`ClientId`], which only its validating constructor makes (issue 14). Agent and
//! workload names reach the builders from validated manifests, the agent's checked configuration
//! or [`Topics::parse`], which enforces the rule on the way back in, because topics arriving from
//! the bus are untrusted. Filters and ACL patterns with `+` or `%c` in a client level have their
//! own builders, so no caller needs to spell a wildcard as a client id.

use std::fmt;

use crate::names::ClientId;

/// The default topic prefix, versioned so that a future incompatible tree can live beside it.
pub const DEFAULT_PREFIX: &str = "ank/v1";

/// Why a topic prefix was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// The prefix is empty.
    #[error("the topic prefix is empty")]
    Empty,
    /// The prefix starts or ends with `/`, or has an empty level (`a//b`).
    #[error("the topic prefix `{0}` has an empty level (a leading, trailing or doubled `/`)")]
    EmptyLevel(String),
    /// The prefix contains an MQTT wildcard, a NUL or starts with `$` (reserved for brokers).
    #[error("the topic prefix `{0}` contains `+`, `#`, NUL or starts with `$`")]
    Reserved(String),
}

/// Builds and parses the topics under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

/// A topic of the tree, parsed back into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// `{p}/controller/status`
    ControllerStatus,
    /// `{p}/state/desired`
    DesiredState,
    /// `{p}/agents/{agent}/desired`
    AgentDesired {
        /// The agent the snapshot is for.
        agent: String,
    },
    /// `{p}/agents/{agent}/status`
    AgentStatus {
        /// The agent whose status this is.
        agent: String,
    },
    /// `{p}/agents/{agent}/workloads/{workload}/state`
    WorkloadState {
        /// The agent running the workload.
        agent: String,
        /// The workload's name.
        workload: String,
    },
    /// `{p}/agents/{agent}/logs/requests`
    LogRequests {
        /// The agent asked for logs.
        agent: String,
    },
    /// `{p}/agents/{agent}/logs/{clientId}`
    LogStream {
        /// The agent streaming the logs.
        agent: String,
        /// The client that asked for them.
        client_id: ClientId,
    },
    /// `{p}/agents/{agent}/requests`: control-interface requests only that agent may write.
    AgentRequests {
        /// The agent asking on behalf of one of its workloads.
        agent: String,
    },
    /// `{p}/agents/{agent}/tags`: the tags the controller asks a running agent to carry.
    AgentTags {
        /// The agent the tags are for.
        agent: String,
    },
    /// `{p}/agents/{agent}/events`: the controller's pushed events for the agent's
    /// control-interface subscriptions.
    AgentEvents {
        /// The agent holding the subscriptions.
        agent: String,
    },
    /// `{p}/requests`
    Requests,
    /// `{p}/responses/{clientId}`
    Responses {
        /// The client the responses are for.
        client_id: ClientId,
    },
    /// `{p}/events`
    Events,
    /// `{p}/sync/{clientId}`
    Sync {
        /// The client that writes (and alone reads) this topic.
        client_id: ClientId,
    },
}

impl Topics {
    /// Topics under `prefix`, e.g. `ank/v1` or `vehicles/VIN123/ank/v1`.
    pub fn new(prefix: &str) -> Result<Self, PrefixError> {
        if prefix.is_empty() {
            return Err(PrefixError::Empty);
        }
        if prefix.split('/').any(str::is_empty) {
            return Err(PrefixError::EmptyLevel(prefix.to_owned()));
        }
        if prefix.contains(['+', '#', '\0']) || prefix.starts_with('$') {
            return Err(PrefixError::Reserved(prefix.to_owned()));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    /// The prefix these topics live under.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{p}/controller/status`: the controller's retained birth and will.
    pub fn controller_status(&self) -> String {
        format!("{}/controller/status", self.prefix)
    }

    /// `{p}/state/desired`: the whole desired state in manifest form.
    pub fn desired_state(&self) -> String {
        format!("{}/state/desired", self.prefix)
    }

    /// `{p}/agents/{agent}/desired`: the complete workload set of one agent.
    pub fn agent_desired(&self, agent: &str) -> String {
        format!("{}/agents/{agent}/desired", self.prefix)
    }

    /// `{p}/agents/{agent}/status`: the agent's retained birth and will.
    pub fn agent_status(&self, agent: &str) -> String {
        format!("{}/agents/{agent}/status", self.prefix)
    }

    /// `{p}/agents/{agent}/workloads/{workload}/state`: one workload's execution state.
    pub fn workload_state(&self, agent: &str, workload: &str) -> String {
        format!("{}/agents/{agent}/workloads/{workload}/state", self.prefix)
    }

    /// `{p}/agents/{agent}/logs/requests`: log requests sent to one agent.
    pub fn log_requests(&self, agent: &str) -> String {
        format!("{}/agents/{agent}/logs/requests", self.prefix)
    }

    /// `{p}/agents/{agent}/logs/{clientId}`: log lines streamed by one agent to one client.
    pub fn log_stream(&self, agent: &str, client_id: &ClientId) -> String {
        format!("{}/agents/{agent}/logs/{client_id}", self.prefix)
    }

    /// Filter `{p}/agents/{agent}/logs/+`: every log stream of one agent (also its requests
    /// topic, which the filter matches too). For ACLs.
    pub fn agent_log_streams(&self, agent: &str) -> String {
        format!("{}/agents/{agent}/logs/+", self.prefix)
    }

    /// Filter `{p}/agents/+/logs/{clientId}`: the log streams of every agent to one client (an
    /// agent reading logs for its workloads' control interface).
    pub fn log_streams_to(&self, client_id: &ClientId) -> String {
        self.log_stream("+", client_id)
    }

    /// Filter `{p}/agents/+/logs/+`: every log stream of every agent. For ACLs.
    pub fn all_log_streams(&self) -> String {
        format!("{}/agents/+/logs/+", self.prefix)
    }

    /// `{p}/agents/{agent}/tags`: the tags the controller asks agent `agent` to carry for one
    /// epoch (an `agents.<a>.tags` update, Ankaios §9). Only the controller writes it; the agent
    /// takes them into its own status, so `agents/{agent}/status` keeps its one writer.
    pub fn agent_tags(&self, agent: &str) -> String {
        format!("{}/agents/{agent}/tags", self.prefix)
    }

    /// Filter `{p}/agents/+/tags`: every agent's tag topic. For ACLs.
    pub fn all_agent_tags(&self) -> String {
        self.agent_tags("+")
    }

    /// `{p}/agents/{agent}/events`: the changes the controller pushes for the event
    /// subscriptions agent `agent` holds for its workloads (control interface, issue 15). Only
    /// the controller writes it, only that agent reads it.
    pub fn agent_events(&self, agent: &str) -> String {
        format!("{}/agents/{agent}/events", self.prefix)
    }

    /// Filter `{p}/agents/+/events`: every agent's event topic. For ACLs.
    pub fn all_agent_events(&self) -> String {
        self.agent_events("+")
    }

    /// `{p}/requests`: writes from `ank` and tools to the controller.
    pub fn requests(&self) -> String {
        format!("{}/requests", self.prefix)
    }

    /// `{p}/agents/{agent}/requests`: the requests agent `agent` makes on behalf of its
    /// workloads (control interface). Only that agent may write it, so the controller knows
    /// who asks without trusting the payload.
    pub fn agent_requests(&self, agent: &str) -> String {
        format!("{}/agents/{agent}/requests", self.prefix)
    }

    /// Filter `{p}/agents/+/requests`: every agent's control-interface requests (controller).
    pub fn all_agent_requests(&self) -> String {
        self.agent_requests("+")
    }

    /// `{p}/responses/{clientId}`: the controller's answers to one client.
    pub fn responses(&self, client_id: &ClientId) -> String {
        format!("{}/responses/{client_id}", self.prefix)
    }

    /// Filter `{p}/responses/+`: the responses to every client. For ACLs.
    pub fn all_responses(&self) -> String {
        format!("{}/responses/+", self.prefix)
    }

    /// ACL pattern `{p}/responses/%c`: the responses of the connecting client (`%c` is the client
    /// id in Mosquitto's and the embedded broker's ACL patterns).
    pub fn own_responses_pattern(&self) -> String {
        format!("{}/responses/%c", self.prefix)
    }

    /// `{p}/events`: the controller's stream of state changes.
    pub fn events(&self) -> String {
        format!("{}/events", self.prefix)
    }

    /// `{p}/sync/{clientId}`: a client's private marker topic. A reader publishes a marker here
    /// after subscribing to a wildcard; when the marker comes back, every retained message of the
    /// earlier subscription has been delivered (MQTT has no end-of-retained signal).
    pub fn sync(&self, client_id: &ClientId) -> String {
        format!("{}/sync/{client_id}", self.prefix)
    }

    /// ACL pattern `{p}/sync/%c`: the sync topic of the connecting client (see
    /// [`Topics::own_responses_pattern`]).
    pub fn own_sync_pattern(&self) -> String {
        format!("{}/sync/%c", self.prefix)
    }

    /// Filter `{p}/agents/+/status`: every agent's status.
    pub fn all_agent_statuses(&self) -> String {
        format!("{}/agents/+/status", self.prefix)
    }

    /// Filter `{p}/agents/+/desired`: every agent's snapshot.
    pub fn all_agent_desired(&self) -> String {
        format!("{}/agents/+/desired", self.prefix)
    }

    /// Filter `{p}/agents/+/workloads/+/state`: every workload state of every agent.
    pub fn all_workload_states(&self) -> String {
        format!("{}/agents/+/workloads/+/state", self.prefix)
    }

    /// Filter `{p}/agents/{agent}/workloads/+/state`: every workload state of one agent.
    pub fn agent_workload_states(&self, agent: &str) -> String {
        format!("{}/agents/{agent}/workloads/+/state", self.prefix)
    }

    /// Filter `{p}/agents/+/workloads/{workload}/state`: one workload name on every agent, which is
    /// how dependencies are resolved across agents.
    pub fn workload_state_on_any_agent(&self, workload: &str) -> String {
        format!("{}/agents/+/workloads/{workload}/state", self.prefix)
    }

    /// Filter `{p}/#`: the whole tree.
    pub fn everything(&self) -> String {
        format!("{}/#", self.prefix)
    }

    /// Parses a topic of this tree back into its parts; `None` for anything else, including
    /// topics whose name levels break the name rules.
    pub fn parse(&self, topic: &str) -> Option<Topic> {
        let rest = topic.strip_prefix(&self.prefix)?.strip_prefix('/')?;
        let levels: Vec<&str> = rest.split('/').collect();
        let topic = match levels.as_slice() {
            ["controller", "status"] => Topic::ControllerStatus,
            ["state", "desired"] => Topic::DesiredState,
            ["requests"] => Topic::Requests,
            ["events"] => Topic::Events,
            ["responses", client] => Topic::Responses {
                client_id: ClientId::new(client).ok()?,
            },
            ["sync", client] => Topic::Sync {
                client_id: ClientId::new(client).ok()?,
            },
            ["agents", agent, "desired"] if is_name(agent) => Topic::AgentDesired {
                agent: (*agent).to_owned(),
            },
            ["agents", agent, "status"] if is_name(agent) => Topic::AgentStatus {
                agent: (*agent).to_owned(),
            },
            ["agents", agent, "requests"] if is_name(agent) => Topic::AgentRequests {
                agent: (*agent).to_owned(),
            },
            ["agents", agent, "tags"] if is_name(agent) => Topic::AgentTags {
                agent: (*agent).to_owned(),
            },
            ["agents", agent, "events"] if is_name(agent) => Topic::AgentEvents {
                agent: (*agent).to_owned(),
            },
            ["agents", agent, "logs", "requests"] if is_name(agent) => Topic::LogRequests {
                agent: (*agent).to_owned(),
            },
            ["agents", agent, "logs", client] if is_name(agent) => Topic::LogStream {
                agent: (*agent).to_owned(),
                client_id: ClientId::new(client).ok()?,
            },
            ["agents", agent, "workloads", workload, "state"]
                if is_name(agent) && is_name(workload) =>
            {
                Topic::WorkloadState {
                    agent: (*agent).to_owned(),
                    workload: (*workload).to_owned(),
                }
            }
            _ => return None,
        };
        Some(topic)
    }
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }
}

impl fmt::Display for Topics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefix)
    }
}

/// A topic level that is a valid name: 1..=63 characters of `[A-Za-z0-9_-]`.
fn is_name(level: &str) -> bool {
    crate::names::is_valid_name(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> Topics {
        Topics::new("vehicles/VIN1/ank/v1").unwrap()
    }

    fn cli() -> ClientId {
        ClientId::new("cli-1").unwrap()
    }

    #[test]
    fn every_built_topic_parses_back_to_its_parts() {
        let t = topics();
        let cases = [
            (t.controller_status(), Topic::ControllerStatus),
            (t.desired_state(), Topic::DesiredState),
            (t.requests(), Topic::Requests),
            (
                t.agent_requests("a"),
                Topic::AgentRequests { agent: "a".into() },
            ),
            (t.agent_tags("a"), Topic::AgentTags { agent: "a".into() }),
            (
                t.agent_events("a"),
                Topic::AgentEvents { agent: "a".into() },
            ),
            (t.events(), Topic::Events),
            (t.sync(&cli()), Topic::Sync { client_id: cli() }),
            (t.responses(&cli()), Topic::Responses { client_id: cli() }),
            (
                t.agent_desired("agent_A"),
                Topic::AgentDesired {
                    agent: "agent_A".into(),
                },
            ),
            (
                t.agent_status("agent_A"),
                Topic::AgentStatus {
                    agent: "agent_A".into(),
                },
            ),
            (
                t.workload_state("agent_A", "nginx"),
                Topic::WorkloadState {
                    agent: "agent_A".into(),
                    workload: "nginx".into(),
                },
            ),
            (
                t.log_requests("agent_A"),
                Topic::LogRequests {
                    agent: "agent_A".into(),
                },
            ),
            (
                t.log_stream("agent_A", &cli()),
                Topic::LogStream {
                    agent: "agent_A".into(),
                    client_id: cli(),
                },
            ),
        ];
        for (topic, parsed) in cases {
            assert!(topic.starts_with("vehicles/VIN1/ank/v1/"), "{topic}");
            assert_eq!(t.parse(&topic), Some(parsed), "{topic}");
        }
    }

    #[test]
    fn parse_refuses_foreign_and_malformed_topics() {
        let t = topics();
        for topic in [
            "ank/v1/requests",
            "vehicles/VIN1/ank/v1",
            "vehicles/VIN1/ank/v1/",
            "vehicles/VIN1/ank/v1/agents/a.b/status",
            "vehicles/VIN1/ank/v1/agents//status",
            "vehicles/VIN1/ank/v1/agents/a/workloads/w/state/extra",
            "vehicles/VIN1/ank/v1/agents/°C/status",
            "vehicles/VIN1/ank/v1/agents/+/status",
            "vehicles/VIN1/ank/v1x/requests",
            "vehicles/VIN1/ank/v1/responses/a\0b",
            "vehicles/VIN1/ank/v1/sync/+",
            "vehicles/VIN1/ank/v1/agents/a/logs/°C",
        ] {
            assert_eq!(t.parse(topic), None, "{topic}");
        }
    }

    #[test]
    fn prefix_rules() {
        assert!(Topics::new("ank/v1").is_ok());
        assert!(Topics::new("a").is_ok());
        assert_eq!(Topics::new(""), Err(PrefixError::Empty));
        for bad in ["/ank", "ank/", "a//b"] {
            assert!(
                matches!(Topics::new(bad), Err(PrefixError::EmptyLevel(_))),
                "{bad}"
            );
        }
        for bad in ["a/+/b", "a/#", "$SYS/x", "a\0b"] {
            assert!(
                matches!(Topics::new(bad), Err(PrefixError::Reserved(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn filters_cover_the_topics_they_name() {
        let t = Topics::default();
        assert_eq!(t.all_workload_states(), "ank/v1/agents/+/workloads/+/state");
        assert_eq!(
            t.workload_state_on_any_agent("db"),
            "ank/v1/agents/+/workloads/db/state"
        );
        assert_eq!(t.everything(), "ank/v1/#");
        assert_eq!(t.all_responses(), "ank/v1/responses/+");
        assert_eq!(t.own_responses_pattern(), "ank/v1/responses/%c");
        assert_eq!(t.own_sync_pattern(), "ank/v1/sync/%c");
        assert_eq!(t.agent_log_streams("a"), "ank/v1/agents/a/logs/+");
        assert_eq!(t.all_log_streams(), "ank/v1/agents/+/logs/+");
    }
}
