//! The bounds of JSON payloads (every MQTT payload, the controller's state file).
//!
//! Decoding checks the size before serde_json sees a byte, so that a payload's size, not the
//! memory of its parsed tree, is what a sender controls. serde_json itself refuses nesting
//! deeper than [`MAX_DEPTH`] (its fixed recursion limit; the workspace does not enable its
//! `unbounded_depth` feature). Manifests inside requests are bounded again by `yaml.rs` when they
//! are parsed. No I/O: the bus hands the bytes in.

use serde::de::DeserializeOwned;

/// The largest MQTT payload ankmq decodes, in bytes: the same 16 MiB as the bus client's default
/// packet limit (`ank_bus::ConnectOptions::max_packet_size`; rumqttc refuses larger incoming
/// packets), and the bound [`decode`] checks. The embedded broker's own default is smaller
/// (1 MiB, `docs/broker.md`).
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

/// The deepest nesting serde_json accepts: its recursion limit (128) refuses the 128th level.
pub const MAX_DEPTH: usize = 127;

/// Why a JSON payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Longer than the limit; not parsed.
    #[error(
        "the payload is {size} bytes, more than the {limit} allowed (limit MAX_PAYLOAD_BYTES)"
    )]
    TooLarge {
        /// The payload's length.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not JSON of the expected shape, or nested deeper than [`MAX_DEPTH`].
    #[error("not valid JSON: {0}")]
    Invalid(#[source] serde_json::Error),
}

/// Decodes a payload of at most [`MAX_PAYLOAD_BYTES`].
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, JsonError> {
    decode_within(payload, MAX_PAYLOAD_BYTES)
}

/// Decodes a payload of at most `max_bytes`.
pub fn decode_within<T: DeserializeOwned>(
    payload: &[u8],
    max_bytes: usize,
) -> Result<T, JsonError> {
    if payload.len() > max_bytes {
        return Err(JsonError::TooLarge {
            size: payload.len(),
            limit: max_bytes,
        });
    }
    serde_json::from_slice(payload).map_err(JsonError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn nested(depth: usize) -> Vec<u8> {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
    }

    #[test]
    fn payloads_are_bounded_in_size_and_depth() {
        let cases: &[(&str, Vec<u8>, usize, Option<&str>)] = &[
            ("at the size limit", b"[1, 2]".to_vec(), 6, None),
            (
                "one byte past the size limit",
                b"[1, 22]".to_vec(),
                6,
                Some("7 bytes, more than the 6"),
            ),
            (
                "at the depth limit",
                nested(MAX_DEPTH),
                MAX_PAYLOAD_BYTES,
                None,
            ),
            (
                "one level past the depth limit",
                nested(MAX_DEPTH + 1),
                MAX_PAYLOAD_BYTES,
                Some("recursion limit exceeded"),
            ),
        ];
        for (name, payload, limit, refusal) in cases {
            let result = decode_within::<Value>(payload, *limit);
            match (refusal, result) {
                (None, Ok(_)) => {}
                (Some(expected), Err(e)) => {
                    assert!(e.to_string().contains(expected), "{name}: {e}")
                }
                (expected, result) => panic!("{name}: expected {expected:?}, got {result:?}"),
            }
        }
    }
}
