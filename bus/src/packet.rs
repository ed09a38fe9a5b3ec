//! What the broker would refuse, decided before anything is sent.
//!
//! A broker answers a PUBLISH it cannot accept (a topic with a NUL or a wildcard, a topic longer
//! than MQTT's 65,535-byte length field, a packet over its size limit) by closing the connection.
//! The session then reconnects and re-sends what was pending, including that publish, and loses
//! the connection again, for ever (issue 14). So [`check_publish`] refuses such a publish here,
//! with an error naming the topic, and nothing about it reaches the wire. No I/O.

use crate::error::BusError;

/// The longest topic MQTT can encode (a two-byte length prefix).
pub const MAX_TOPIC_BYTES: usize = 65_535;

/// How many characters of a refused topic an error repeats: a hostile topic can be 70,000 long.
const SHOWN_CHARS: usize = 120;

/// The size of an MQTT 3.1.1 PUBLISH packet at QoS 1 with a topic of `topic_bytes` and a payload
/// of `payload_bytes`: fixed header (1 byte + 1..=4 bytes remaining length), topic length and
/// topic, packet id, payload. This is what a broker compares with its maximum packet size.
pub fn publish_packet_size(topic_bytes: usize, payload_bytes: usize) -> usize {
    let remaining = 2 + topic_bytes + 2 + payload_bytes;
    let length_bytes = match remaining {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    };
    1 + length_bytes + remaining
}

/// A topic or filter for messages: escaped and cut to [`SHOWN_CHARS`].
pub(crate) fn shown(topic: &str) -> String {
    let mut text: String = topic
        .chars()
        .take(SHOWN_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if topic.chars().nth(SHOWN_CHARS).is_some() {
        text.push_str(&format!("… ({} bytes)", topic.len()));
    }
    text
}

/// Whether a topic can be published to: not empty, no wildcard, no NUL, short enough to encode.
pub(crate) fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= MAX_TOPIC_BYTES && !topic.contains(['+', '#', '\0'])
}

/// Refuses a publish that the broker would answer by closing the connection.
pub(crate) fn check_publish(
    topic: &str,
    payload_bytes: usize,
    limit: usize,
) -> Result<(), BusError> {
    if !valid_topic(topic) {
        return Err(BusError::InvalidTopic(shown(topic)));
    }
    let size = publish_packet_size(topic.len(), payload_bytes);
    if size > limit {
        return Err(BusError::TooLarge {
            topic: shown(topic),
            size,
            limit,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_sizes_count_every_header_byte() {
        // (topic, payload, size): one row per length of the remaining-length field.
        let cases = [
            (1, 0, 7),
            (1, 122, 129),
            (1, 123, 131),
            (10, 16_000, 16_017),
        ];
        for (topic, payload, size) in cases {
            assert_eq!(
                publish_packet_size(topic, payload),
                size,
                "{topic} {payload}"
            );
        }
        assert_eq!(
            publish_packet_size(14, 1 << 20),
            1 + 3 + 2 + 14 + 2 + (1 << 20)
        );
    }

    /// (case, topic, payload bytes, accepted) against a 1,000-byte limit.
    #[test]
    fn publishes_the_broker_would_refuse_are_refused_here() {
        let long = "a".repeat(MAX_TOPIC_BYTES + 1);
        let cases: [(&str, &str, usize, bool); 8] = [
            ("plain", "p/a", 10, true),
            ("exactly the limit", "p/a", 990, true),
            ("one byte over", "p/a", 991, false),
            ("empty topic", "", 1, false),
            ("NUL", "p/a\0b", 1, false),
            ("plus", "p/+", 1, false),
            ("hash", "p/#", 1, false),
            ("longer than MQTT encodes", &long, 1, false),
        ];
        for (case, topic, payload, accepted) in cases {
            assert_eq!(
                check_publish(topic, payload, 1_000).is_ok(),
                accepted,
                "{case}"
            );
        }
    }

    #[test]
    fn a_refused_topic_is_shown_short_and_escaped() {
        let topic = format!("p/logs/\0{}", "x".repeat(70_000));
        let err = check_publish(&topic, 1, 1 << 20).unwrap_err().to_string();
        assert!(err.len() < 300, "{err}");
        assert!(err.contains("p/logs/\\0xx"), "{err}");
    }
}
