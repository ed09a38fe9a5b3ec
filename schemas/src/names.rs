//! The naming rules for workloads, agents and config keys.
//!
//! Names end up in MQTT topics, container names and file paths, so they are restricted to
//! `[A-Za-z0-9_-]` (as Ankaios requires): a name can never smuggle a `/`, a `.` or an MQTT wildcard
//! into a topic or an instance id. This module only answers "is this a valid name"; building the
//! error for a caller is `validation.rs`'s job.

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
        name.chars()
            .find(|c| !is_name_char(*c))
            .map(|bad| format!("contains '{bad}', only {NAME_CHARSET} is allowed"))
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
}
