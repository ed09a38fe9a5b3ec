//! MQTT topic filter matching (MQTT 3.1.1 §4.7), for routing messages that arrive on one
//! connection to the subscription that asked for them.

/// Whether `topic` (a concrete topic name) matches `filter` (which may hold `+` and `#`).
///
/// Rules: `+` matches exactly one level (possibly empty), `#` matches the parent level and any
/// number of levels below and must be last; a wildcard in the first level does not match topics
/// starting with `$` (broker-internal topics). A malformed filter matches nothing.
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut filter_levels = filter.split('/').peekable();
    let mut topic_levels = topic.split('/');
    while let Some(f) = filter_levels.next() {
        match f {
            "#" => return filter_levels.peek().is_none(),
            "+" => {
                if topic_levels.next().is_none() {
                    return false;
                }
            }
            _ if f.contains(['+', '#']) => return false,
            _ => {
                if topic_levels.next() != Some(f) {
                    return false;
                }
            }
        }
    }
    topic_levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_matches_follows_the_mqtt_wildcard_rules() {
        // (filter, topic, matches)
        let cases = [
            ("a/b", "a/b", true),
            ("a/b", "a/c", false),
            ("a/b", "a/b/c", false),
            ("a/b/c", "a/b", false),
            ("a/+", "a/b", true),
            ("a/+", "a/", true),
            ("a/+", "a", false),
            ("a/+", "a/b/c", false),
            ("a/+/c", "a/b/c", true),
            ("a/+/c", "a/b/d", false),
            ("+/+", "a/b", true),
            ("+", "a", true),
            ("+", "", true),
            ("a/#", "a", true),
            ("a/#", "a/b", true),
            ("a/#", "a/b/c/d", true),
            ("a/#", "b/a", false),
            ("#", "a/b/c", true),
            ("#", "/", true),
            (
                "ank/v1/agents/+/workloads/+/state",
                "ank/v1/agents/x/workloads/y/state",
                true,
            ),
            (
                "ank/v1/agents/+/workloads/+/state",
                "ank/v1/agents/x/status",
                false,
            ),
            ("ank/v1/agents/+/status", "ank/v1/agents/x/status", true),
            // `$` topics are not matched by a leading wildcard, only by their own name.
            ("#", "$SYS/broker/uptime", false),
            ("+/broker/uptime", "$SYS/broker/uptime", false),
            ("$SYS/#", "$SYS/broker/uptime", true),
            // Malformed filters match nothing.
            ("a/#/b", "a/x/b", false),
            ("a/b#", "a/b#", false),
            ("a/b+", "a/b+", false),
        ];
        for (filter, topic, expected) in cases {
            assert_eq!(
                topic_matches(filter, topic),
                expected,
                "{filter} vs {topic}"
            );
        }
    }
}
