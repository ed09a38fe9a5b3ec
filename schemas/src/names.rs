//! The naming rules for workloads, agents, config keys and client ids.
//!
//! Names end up in MQTT topics, container names and file paths, so they are restricted to
//! `[A-Za-z0-9_-]` (as Ankaios requires): a name can never smuggle a `/`, a `.`, a NUL or an MQTT
//! wildcard into a topic or an instance id. This module answers "is this a valid name" and owns
//! [`ClientId`], the validated name of an MQTT client that becomes a topic level
//! (`{p}/responses/{clientId}`, `{p}/agents/{a}/logs/{clientId}`, `{p}/sync/{clientId}`); building
//! manifest errors for a caller is `validation.rs`'s job.

#[cfg(feature = "json-schema")]
use std::borrow::Cow;
use std::fmt;

#[cfg(feature = "json-schema")]
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// The longest workload name, agent name, config key or config alias.
pub const MAX_NAME_LEN: usize = 63;

/// The allowed characters, spelled for error messages.
pub const NAME_CHARSET: &str = "[A-Za-z0-9_-]";

/// Whether `c` may appear in a name.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Whether `name` is a valid workload name, config key or config alias: 1..=63 characters of
/// `[A-Za-z0-9_-]`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.chars().all(is_name_char)
}

/// Whether `agent` is a valid agent field of a workload: empty (the workload is not scheduled) or
/// a valid name.
///
/// Ankaios checks no length for agents; we do, because the agent name is a topic level and
/// `topics.rs` refuses levels longer than 63 characters.
pub fn is_valid_agent(agent: &str) -> bool {
    agent.is_empty() || is_valid_name(agent)
}

/// Why `name` is not a valid name, or `None` when it is. Used to build error messages.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("is empty".to_owned())
    } else if name.len() > MAX_NAME_LEN {
        Some(format!(
            "is {} characters long, the maximum is {MAX_NAME_LEN}",
            name.len()
        ))
    } else {
        name.chars().find(|c| !is_name_char(*c)).map(|bad| {
            format!(
                "contains '{}', only {NAME_CHARSET} is allowed",
                bad.escape_debug()
            )
        })
    }
}

/// How many characters of a refused name an error repeats: enough to recognise it, never the
/// 70,000 characters a hostile client sent (issue 14).
const SHOWN_CHARS: usize = 40;

/// Why a text is not a valid name, naming what it was meant to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{shown}`: it {problem}")]
pub struct InvalidName {
    /// What the name is, e.g. "client id".
    pub what: &'static str,
    /// The start of the refused text, escaped (a NUL shows as `\0`), at most 40 characters.
    pub shown: String,
    /// What is wrong, e.g. "contains '/', only [A-Za-z0-9_-] is allowed".
    pub problem: String,
}

impl InvalidName {
    pub(crate) fn with_problem(what: &'static str, text: &str, problem: String) -> Self {
        let mut shown: String = text
            .chars()
            .take(SHOWN_CHARS)
            .flat_map(char::escape_debug)
            .collect();
        if text.chars().nth(SHOWN_CHARS).is_some() {
            shown.push('…');
        }
        Self {
            what,
            shown,
            problem,
        }
    }
}

/// The longest client id: an identity (`agent-` and a 63-character name) and a suffix.
pub const MAX_CLIENT_ID_LEN: usize = 127;

/// The client id of an MQTT client of the tree: `<identity>` or `<identity>.<suffix>`, each part
/// of `[A-Za-z0-9_-]`, at most 127 characters, checked when built, so it is always safe as a
/// topic level. Outside input (a request's `replyTo`, a log request's `clientId`) becomes one
/// when the payload is decoded: a bad one fails the decode.
///
/// The identity is the login that owns the connection (`controller`, `agent-<name>`, a CLI
/// user); the suffix tells a process's connections apart. Names cannot contain `.`, so the
/// identity of a client id is never ambiguous, and a broker can refuse a client id whose identity
/// is not the login's: nobody takes over another's session (issue 13).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

/// Why `text` is not a client id, or `None` when it is one.
fn client_id_problem(text: &str) -> Option<String> {
    if text.len() > MAX_CLIENT_ID_LEN {
        return Some(format!(
            "is {} characters long, the maximum is {MAX_CLIENT_ID_LEN}",
            text.len()
        ));
    }
    let (identity, suffix) = match text.split_once('.') {
        Some((identity, suffix)) => (identity, Some(suffix)),
        None => (text, None),
    };
    let part_problem = |part: &str, what: &str| {
        if part.is_empty() {
            Some(format!("has an empty {what}"))
        } else {
            part.chars().find(|c| !is_name_char(*c)).map(|bad| {
                format!(
                    "contains '{}' in its {what}, only {NAME_CHARSET} and one '.' are allowed",
                    bad.escape_debug()
                )
            })
        }
    };
    part_problem(identity, "identity").or_else(|| suffix.and_then(|s| part_problem(s, "suffix")))
}

impl ClientId {
    /// Validates `text` as a client id.
    pub fn new(text: &str) -> Result<Self, InvalidName> {
        match client_id_problem(text) {
            None => Ok(Self(text.to_owned())),
            Some(problem) => Err(InvalidName::with_problem("client id", text, problem)),
        }
    }

    /// The client id `<identity>.<suffix>`: another connection of the same identity.
    pub fn with_suffix(identity: &str, suffix: &str) -> Result<Self, InvalidName> {
        Self::new(&format!("{identity}.{suffix}"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The identity that owns it: the part before the `.`.
    pub fn identity(&self) -> &str {
        self.0
            .split_once('.')
            .map_or(&self.0, |(identity, _)| identity)
    }
}

/// Whether the MQTT client id `client_id` may be used by the login `identity`: its identity part
/// (before the `.`) is exactly that login. The broker applies it to every authenticated
/// connection, so no login can take over the session of another (issue 13).
pub fn client_id_belongs_to(client_id: &str, identity: &str) -> bool {
    ClientId::new(client_id).is_ok_and(|id| id.identity() == identity)
}

impl TryFrom<String> for ClientId {
    type Error = InvalidName;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match client_id_problem(&text) {
            None => Ok(Self(text)),
            Some(problem) => Err(InvalidName::with_problem("client id", &text, problem)),
        }
    }
}

impl From<ClientId> for String {
    fn from(id: ClientId) -> Self {
        id.0
    }
}

impl std::str::FromStr for ClientId {
    type Err = InvalidName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(text)
    }
}

impl AsRef<str> for ClientId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for ClientId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ClientId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(feature = "json-schema")]
impl JsonSchema for ClientId {
    fn schema_name() -> Cow<'static, str> {
        "ClientId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An MQTT client id that names a topic level: `<identity>` or `<identity>.<suffix>`, each of [A-Za-z0-9_-], at most 127 characters.",
            "pattern": "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)?$",
            "maxLength": 127
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_charset_and_length_rules() {
        let long = "a".repeat(63);
        let too_long = "a".repeat(64);
        let cases: &[(&str, bool)] = &[
            ("nginx", true),
            ("a", true),
            ("db_init-2", true),
            (&long, true),
            ("", false),
            (&too_long, false),
            ("a.b", false),
            ("a/b", false),
            ("a b", false),
            ("+", false),
            ("#", false),
            ("größe", false),
        ];
        for (name, valid) in cases {
            assert_eq!(is_valid_name(name), *valid, "{name:?}");
            assert_eq!(name_problem(name).is_none(), *valid, "{name:?}");
        }
    }

    #[test]
    fn an_agent_may_be_empty_but_otherwise_follows_the_name_rules() {
        assert!(is_valid_agent(""));
        assert!(is_valid_agent("agent_A"));
        assert!(!is_valid_agent("agent.A"));
        assert!(!is_valid_agent(&"a".repeat(64)));
    }

    /// (case, text, accepted): one row per rule, including what issue 14 sent.
    #[test]
    fn client_ids_follow_the_name_rules_when_built_and_decoded() {
        let long = "a".repeat(127);
        let too_long = "a".repeat(128);
        let huge = "a".repeat(70_000);
        let cases: &[(&str, &str, bool)] = &[
            ("plain", "cli-1", true),
            ("longest", &long, true),
            ("one too long", &too_long, false),
            ("identity and suffix", "agent-agent_A.r1234abcd", true),
            ("two dots", "a.b.c", false),
            ("empty suffix", "a.", false),
            ("empty identity", ".a", false),
            ("empty", "", false),
            ("NUL", "cli\0x", false),
            ("70,000 characters", &huge, false),
            ("slash", "a/b", false),
            ("plus", "+", false),
            ("hash", "#", false),
            ("dollar", "$SYS", false),
            ("non-ASCII", "größe", false),
        ];
        for (case, text, accepted) in cases {
            assert_eq!(ClientId::new(text).is_ok(), *accepted, "{case}");
            let json = serde_json::to_string(text).unwrap();
            let decoded = serde_json::from_str::<ClientId>(&json);
            assert_eq!(decoded.is_ok(), *accepted, "{case}");
            if let Ok(id) = decoded {
                assert_eq!(serde_json::to_string(&id).unwrap(), json, "{case}");
            }
        }
    }

    #[test]
    fn issue_13_the_identity_of_a_client_id_is_the_part_before_the_dot() {
        let id = ClientId::new("agent-agent_A.r00c0ffee").unwrap();
        assert_eq!(id.identity(), "agent-agent_A");
        assert_eq!(
            ClientId::new("controller").unwrap().identity(),
            "controller"
        );
        let watch = ClientId::with_suffix("alice", "r1").unwrap();
        assert_eq!((watch.as_str(), watch.identity()), ("alice.r1", "alice"));
    }

    /// (client id, login, may use it)
    #[test]
    fn issue_13_a_login_may_use_only_client_ids_of_its_own_identity() {
        let cases = [
            ("controller", "controller", true),
            ("controller.r1a2b3c4d", "controller", true),
            ("agent-agent_A", "agent-agent_A", true),
            ("agent-agent_A.r00000001", "agent-agent_A", true),
            ("alice.1234abcd", "alice", true),
            ("controller", "alice", false),
            ("agent-agent_A", "agent-agent_B", false),
            ("agent-agent_A.x", "agent", false),
            ("agent-agent_Ax", "agent-agent_A", false),
            ("alice", "alic", false),
            ("alice/x", "alice", false),
            ("", "", false),
        ];
        for (client_id, login, allowed) in cases {
            assert_eq!(
                client_id_belongs_to(client_id, login),
                allowed,
                "{client_id} by {login}"
            );
        }
    }

    #[test]
    fn a_refused_client_id_is_shown_short_and_escaped() {
        let err = ClientId::new(&format!("a\0{}", "b".repeat(70_000))).unwrap_err();
        let text = err.to_string();
        assert!(text.len() < 200, "{text}");
        assert!(text.contains("a\\0bb"), "{text}");
        assert!(text.contains("70002 characters long"), "{text}");
        let err = ClientId::new("x\0").unwrap_err().to_string();
        assert!(err.contains("contains '\\0'"), "{err}");
    }
}
