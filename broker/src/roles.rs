//! The least-privilege ACL of ankmq, generated from roles.
//!
//! Identities map to roles by username (docs/broker.md): `controller` is the controller,
//! `agent-<name>` is the agent `<name>`, `viewer` and `viewer-<anything>` are read-only viewers
//! (dashboards, issue 18), any other username is a CLI user. This file turns a
//! list of usernames into an [`AclRules`] with every topic built by [`Topics`]; the same rules
//! are printed for Mosquitto (`ank-broker acl`) and loaded by the embedded broker, so both
//! protect the tree identically. No I/O.

use crate::acl_rules::{Access, AclRules, Scope};
use ank_schemas::Topics;

/// The username of the controller.
pub const CONTROLLER_USER: &str = "controller";

/// Agents authenticate as `agent-<agent name>`.
pub const AGENT_USER_PREFIX: &str = "agent-";

/// The username of a read-only viewer (a dashboard); `viewer-<suffix>` is one too, so that
/// several viewers can have their own passwords.
pub const VIEWER_USER: &str = "viewer";

/// What an identity may do on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The single writer of desired state.
    Controller,
    /// The node agent with this name.
    Agent(String),
    /// A person or tool using `ank`.
    CliUser,
    /// Reads the retained state topics and nothing else; writes nothing (issue 18).
    Viewer,
}

impl Role {
    /// The role of a username, by the naming convention above. `None` for a username that can
    /// never be given rules: empty, containing whitespace, `+`, `#` or `/`, or `agent-` with an
    /// agent name outside `[A-Za-z0-9_-]`.
    pub fn of_username(username: &str) -> Option<Self> {
        if username.is_empty()
            || username.contains(['+', '#', '/'])
            || username.chars().any(char::is_whitespace)
        {
            return None;
        }
        if username == CONTROLLER_USER {
            return Some(Self::Controller);
        }
        if let Some(agent) = username.strip_prefix(AGENT_USER_PREFIX) {
            return is_name(agent).then(|| Self::Agent(agent.to_owned()));
        }
        if username == VIEWER_USER || username.starts_with("viewer-") {
            return Some(Self::Viewer);
        }
        Some(Self::CliUser)
    }
}

/// The username an agent authenticates with.
pub fn agent_username(agent: &str) -> String {
    format!("{AGENT_USER_PREFIX}{agent}")
}

/// Why a username could not be given a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("username `{0}` cannot be given a role: use `controller`, `agent-<name>` with a name of [A-Za-z0-9_-], or a plain user name without spaces, `+`, `#` or `/`")]
pub struct RoleError(pub String);

/// The ACL for these usernames under `topics`' prefix. Usernames are deduplicated; the order of
/// the output follows the input.
pub fn acl_for_users<'a>(
    topics: &Topics,
    usernames: impl IntoIterator<Item = &'a str>,
) -> Result<AclRules, RoleError> {
    let mut acl = AclRules::new();
    // Every identity owns its private sync marker. Mosquitto applies `pattern` lines to every
    // client; the CLI's `responses/%c` therefore also lets an agent read responses addressed to
    // its own client id, which only the controller writes, and only in answer to that client.
    acl.push(Scope::Pattern, Access::ReadWrite, topics.own_sync_pattern());
    acl.push(Scope::Pattern, Access::Read, topics.own_responses_pattern());

    let mut seen: Vec<&str> = Vec::new();
    for username in usernames {
        if seen.contains(&username) {
            continue;
        }
        seen.push(username);
        let role = Role::of_username(username).ok_or_else(|| RoleError(username.to_owned()))?;
        let user = || Scope::User(username.to_owned());
        for (access, topic) in grants(topics, &role) {
            acl.push(user(), access, topic);
        }
    }
    Ok(acl)
}

/// What one role may do, beyond the patterns every identity has.
fn grants(t: &Topics, role: &Role) -> Vec<(Access, String)> {
    use Access::{Read, ReadWrite, Write};
    match role {
        Role::Controller => vec![
            // Its own birth/will and outputs; read back to resume after a restart.
            (ReadWrite, t.controller_status()),
            (ReadWrite, t.desired_state()),
            (ReadWrite, t.all_agent_desired()),
            // Agent tag updates (issue 15): the tags it asks each agent to carry.
            (ReadWrite, t.all_agent_tags()),
            // Control-interface events (issue 15), pushed to the agent holding the subscription.
            (Write, t.all_agent_events()),
            (Write, t.all_responses()),
            (Write, t.events()),
            (Read, t.requests()),
            (Read, t.all_agent_requests()),
            (Read, t.all_agent_statuses()),
            (Read, t.all_workload_states()),
        ],
        Role::Agent(name) => vec![
            (ReadWrite, t.agent_status(name)),
            (Write, t.agent_workload_states(name)),
            (Read, t.agent_desired(name)),
            (Read, t.agent_tags(name)),
            (Read, t.agent_events(name)),
            // Dependencies may name workloads on other agents, and a workload of an agent that
            // is not online counts as AgentDisconnected, so agents read every workload state
            // and every agent status (never another agent's desired).
            (Read, t.all_workload_states()),
            (Read, t.all_agent_statuses()),
            (Read, t.log_requests(name)),
            (Write, t.agent_log_streams(name)),
            // Control interface (issue 15): only this agent writes its request topic, so the
            // controller knows which agent asks on behalf of which of its workloads.
            (Write, t.agent_requests(name)),
            // Logs for its workloads' control interface: it asks any agent, as `ank logs` does,
            // and reads only the streams addressed to its own client id.
            (Write, t.log_requests("+")),
        ]
        .into_iter()
        // The agent's main client id is its username, valid because the name is.
        .chain(
            ank_schemas::ClientId::new(&agent_username(name))
                .ok()
                .map(|own| (Read, t.log_streams_to(&own))),
        )
        .collect(),
        Role::CliUser => vec![
            (Write, t.requests()),
            (Write, t.log_requests("+")),
            (Read, t.controller_status()),
            (Read, t.desired_state()),
            (Read, t.all_agent_desired()),
            (Read, t.all_agent_statuses()),
            (Read, t.all_workload_states()),
            (Read, t.all_log_streams()),
            (Read, t.requests()),
            (Read, t.events()),
        ],
        // What `ank get` reads: the five retained topics. Not the requests (other users'
        // payloads), responses, log streams or events, and no write at all, so a leaked viewer
        // password can change nothing and ask for nothing (docs/security.md).
        Role::Viewer => vec![
            (Read, t.controller_status()),
            (Read, t.desired_state()),
            (Read, t.all_agent_desired()),
            (Read, t.all_agent_statuses()),
            (Read, t.all_workload_states()),
        ],
    }
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client id for the rows below (test data, always valid).
    fn cid(text: &str) -> ank_schemas::ClientId {
        ank_schemas::ClientId::new(text).expect("a valid client id")
    }

    #[test]
    fn usernames_map_to_roles_by_convention() {
        let cases = [
            ("controller", Some(Role::Controller)),
            ("agent-node_1", Some(Role::Agent("node_1".into()))),
            ("alice", Some(Role::CliUser)),
            ("viewer", Some(Role::Viewer)),
            ("viewer-lab", Some(Role::Viewer)),
            ("viewers", Some(Role::CliUser)),
            ("agent-", None),
            ("agent-a.b", None),
            ("a/b", None),
            ("a b", None),
            ("", None),
            ("#", None),
        ];
        for (name, role) in cases {
            assert_eq!(Role::of_username(name), role, "{name}");
        }
    }

    /// One row per claim of issue 3: (user, client id, publish?, topic, allowed).
    #[test]
    fn generated_acl_is_least_privilege() {
        let t = Topics::default();
        let acl =
            acl_for_users(&t, ["controller", "agent-a", "agent-b", "alice", "viewer"]).unwrap();
        let rows: &[(&str, &str, bool, String, bool)] = &[
            // agent a: writes only its own status, workload states and log streams
            ("agent-a", "a", true, t.agent_status("a"), true),
            ("agent-a", "a", true, t.workload_state("a", "w"), true),
            ("agent-a", "a", true, t.log_stream("a", &cid("cli-1")), true),
            ("agent-a", "a", true, t.agent_status("b"), false),
            ("agent-a", "a", true, t.workload_state("b", "w"), false),
            ("agent-a", "a", true, t.agent_desired("a"), false),
            ("agent-a", "a", true, t.agent_desired("b"), false),
            ("agent-a", "a", true, t.controller_status(), false),
            ("agent-a", "a", true, t.requests(), false),
            ("agent-a", "a", true, t.agent_requests("a"), true),
            ("agent-a", "a", true, t.agent_requests("b"), false),
            ("agent-a", "a", false, t.agent_requests("a"), false),
            ("agent-a", "a", true, t.log_requests("b"), true),
            (
                "agent-a",
                "a",
                false,
                t.log_stream("b", &cid("agent-a")),
                true,
            ),
            (
                "agent-a",
                "a",
                false,
                t.log_stream("b", &cid("cli-1")),
                false,
            ),
            ("agent-a", "a", true, t.responses(&cid("a")), false),
            ("agent-a", "a", true, t.sync(&cid("a")), true),
            ("agent-a", "a", true, t.sync(&cid("b")), false),
            // agent a reads its desired, all states, its log requests, never b's desired
            ("agent-a", "a", false, t.agent_desired("a"), true),
            ("agent-a", "a", false, t.agent_desired("b"), false),
            ("agent-a", "a", false, t.all_agent_desired(), false),
            // issue 15: the controller alone sets an agent's tags; the agent reads only its own
            ("agent-a", "a", false, t.agent_tags("a"), true),
            ("agent-a", "a", false, t.agent_tags("b"), false),
            ("agent-a", "a", true, t.agent_tags("a"), false),
            ("controller", "ctl", true, t.agent_tags("a"), true),
            ("alice", "cli-1", true, t.agent_tags("a"), false),
            ("viewer", "viewer.d1", true, t.agent_tags("a"), false),
            // issue 15: events for agent a's subscriptions come from the controller, to a only
            ("agent-a", "a", false, t.agent_events("a"), true),
            ("agent-a", "a", false, t.agent_events("b"), false),
            ("agent-a", "a", true, t.agent_events("a"), false),
            ("controller", "ctl", true, t.agent_events("a"), true),
            ("alice", "cli-1", true, t.agent_events("a"), false),
            ("alice", "cli-1", false, t.agent_events("a"), false),
            ("agent-a", "a", false, t.all_workload_states(), true),
            (
                "agent-a",
                "a",
                false,
                t.workload_state_on_any_agent("db"),
                true,
            ),
            ("agent-a", "a", false, t.log_requests("a"), true),
            ("agent-a", "a", false, t.log_requests("b"), false),
            ("agent-a", "a", false, t.everything(), false),
            ("agent-a", "a", false, t.sync(&cid("a")), true),
            // the controller alone writes desired topics and its status
            ("controller", "ctl", true, t.agent_desired("a"), true),
            ("controller", "ctl", true, t.desired_state(), true),
            ("controller", "ctl", true, t.controller_status(), true),
            ("controller", "ctl", true, t.responses(&cid("cli-1")), true),
            ("controller", "ctl", true, t.agent_status("a"), false),
            ("controller", "ctl", false, t.requests(), true),
            ("controller", "ctl", false, t.all_agent_requests(), true),
            ("alice", "cli-1", true, t.agent_requests("a"), false),
            ("alice", "cli-1", true, t.agent_desired("a"), false),
            ("alice", "cli-1", true, t.controller_status(), false),
            // a CLI user writes requests, reads state and only its own responses
            ("alice", "cli-1", true, t.requests(), true),
            ("alice", "cli-1", true, t.log_requests("a"), true),
            ("alice", "cli-1", false, t.responses(&cid("cli-1")), true),
            ("alice", "cli-1", false, t.responses(&cid("cli-2")), false),
            ("alice", "cli-1", false, t.all_responses(), false),
            ("alice", "cli-1", false, t.all_workload_states(), true),
            ("alice", "cli-1", false, t.all_agent_desired(), true),
            ("alice", "cli-1", false, t.sync(&cid("cli-2")), false),
            // issue 18: a viewer reads the retained state topics, writes nothing
            ("viewer", "viewer.d1", false, t.controller_status(), true),
            ("viewer", "viewer.d1", false, t.desired_state(), true),
            ("viewer", "viewer.d1", false, t.all_agent_desired(), true),
            ("viewer", "viewer.d1", false, t.all_agent_statuses(), true),
            ("viewer", "viewer.d1", false, t.all_workload_states(), true),
            ("viewer", "viewer.d1", false, t.requests(), false),
            ("viewer", "viewer.d1", false, t.all_log_streams(), false),
            (
                "viewer",
                "viewer.d1",
                false,
                t.log_stream("a", &cid("viewer.d1")),
                false,
            ),
            (
                "viewer",
                "viewer.d1",
                false,
                t.responses(&cid("cli-1")),
                false,
            ),
            ("viewer", "viewer.d1", false, t.everything(), false),
            ("viewer", "viewer.d1", true, t.requests(), false),
            ("viewer", "viewer.d1", true, t.log_requests("a"), false),
            ("viewer", "viewer.d1", true, t.controller_status(), false),
            ("viewer", "viewer.d1", true, t.agent_status("a"), false),
            (
                "viewer",
                "viewer.d1",
                true,
                t.workload_state("a", "w"),
                false,
            ),
            ("viewer", "viewer.d1", true, t.desired_state(), false),
            // unknown and anonymous identities get only their sync marker
            ("mallory", "m", false, t.all_workload_states(), false),
            ("mallory", "m", true, t.sync(&cid("m")), true),
        ];
        for (user, client, publish, topic, allowed) in rows {
            let got = if *publish {
                acl.allows_publish(Some(user), client, topic)
            } else {
                acl.allows_subscribe(Some(user), client, topic)
            };
            let verb = if *publish { "publish" } else { "subscribe" };
            assert_eq!(got, *allowed, "{user} ({client}) {verb} {topic}");
        }
    }

    #[test]
    fn generated_acl_round_trips_through_the_mosquitto_format() {
        let t = Topics::new("vehicles/VIN1/ank/v1").unwrap();
        let acl = acl_for_users(&t, ["controller", "agent-a", "alice", "agent-a"]).unwrap();
        let text = acl.to_mosquitto();
        assert!(
            text.contains("pattern read vehicles/VIN1/ank/v1/responses/%c\n"),
            "{text}"
        );
        assert!(text.contains("\nuser agent-a\n"), "{text}");
        assert_eq!(text.matches("user agent-a").count(), 1, "{text}");
        assert_eq!(AclRules::parse(&text).unwrap(), acl);
    }

    #[test]
    fn a_username_without_a_role_is_an_error() {
        let err = acl_for_users(&Topics::default(), ["agent-x.y"]).unwrap_err();
        assert_eq!(err, RoleError("agent-x.y".into()));
    }
}
