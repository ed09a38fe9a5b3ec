//! The payload of `{p}/agents/{agent}/tags`: the tags the controller asks a running agent to
//! carry, after an `agents.<a>.tags` update (Ankaios §9: `ank set state`, or a control-interface
//! write). The agent owns its status topic and takes the tags into it; the controller owns what
//! is desired. The tags hold for one run of the agent (its `epoch`): as in Ankaios they are not
//! persisted, and a restarted agent starts again from its configured tags.
//!
//! Ankaios does not validate agent tags; here they become part of a retained status, so their
//! number and size are bounded (`validate_agent_tags`). No I/O.

use std::collections::BTreeMap;

#[cfg(feature = "json-schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// At most this many tags per agent.
pub const MAX_AGENT_TAGS: usize = 64;

/// At most this many bytes per tag key and per tag value.
pub const MAX_AGENT_TAG_LEN: usize = 256;

/// The tags an agent is asked to carry while its status has `epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AgentTags {
    /// The epoch of the agent's status the tags were set for; an agent with another epoch (a
    /// restart) ignores them.
    pub epoch: u64,
    /// The complete set of tags, replacing the agent's current ones.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Why a set of agent tags was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentTagsError {
    /// Too many tags.
    #[error("{count} tags, the maximum is {MAX_AGENT_TAGS}")]
    TooMany {
        /// How many there were.
        count: usize,
    },
    /// A key or a value is too long.
    #[error(
        "the tag `{key}` has a key or value of {len} bytes, the maximum is {MAX_AGENT_TAG_LEN}"
    )]
    TooLong {
        /// The key (cut to 40 characters).
        key: String,
        /// The longer of key and value, in bytes.
        len: usize,
    },
    /// An empty key.
    #[error("a tag has an empty key")]
    EmptyKey,
}

/// Checks the bounds of a tag set that will become part of an agent's retained status.
pub fn validate_agent_tags(tags: &BTreeMap<String, String>) -> Result<(), AgentTagsError> {
    if tags.len() > MAX_AGENT_TAGS {
        return Err(AgentTagsError::TooMany { count: tags.len() });
    }
    for (key, value) in tags {
        if key.is_empty() {
            return Err(AgentTagsError::EmptyKey);
        }
        let len = key.len().max(value.len());
        if len > MAX_AGENT_TAG_LEN {
            return Err(AgentTagsError::TooLong {
                key: key.chars().take(40).collect(),
                len,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(n: usize, key_len: usize, value_len: usize) -> BTreeMap<String, String> {
        (0..n)
            .map(|i| {
                let key = format!("{i:0>width$}", width = key_len.max(1));
                (key[..key_len.max(1)].to_owned(), "v".repeat(value_len))
            })
            .collect()
    }

    #[test]
    fn agent_tags_are_bounded_in_number_and_length() {
        let cases = [
            ("none", tags(0, 1, 0), true),
            ("at the count", tags(MAX_AGENT_TAGS, 2, 1), true),
            ("one more", tags(MAX_AGENT_TAGS + 1, 2, 1), false),
            ("key at the length", tags(1, MAX_AGENT_TAG_LEN, 1), true),
            ("key one longer", tags(1, MAX_AGENT_TAG_LEN + 1, 1), false),
            ("value at the length", tags(1, 1, MAX_AGENT_TAG_LEN), true),
            ("value one longer", tags(1, 1, MAX_AGENT_TAG_LEN + 1), false),
            (
                "empty key",
                BTreeMap::from([(String::new(), "v".to_owned())]),
                false,
            ),
        ];
        for (case, tags, ok) in cases {
            assert_eq!(validate_agent_tags(&tags).is_ok(), ok, "{case}");
        }
    }
}
