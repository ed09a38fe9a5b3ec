//! The retained birth and will of a client, and the epoch that ties them together.
//!
//! A client announces itself with a retained "online" message on its status topic and registers a
//! retained will on the same topic, so that readers see "offline"/"lost" when it dies. Both carry
//! the same epoch, so a reader can tell a stale will of an earlier run from the current one. The
//! payloads are the caller's business (serialized by `ank-schemas` types); the bus only publishes.

use std::time::{SystemTime, UNIX_EPOCH};

/// The retained birth and will of one session. Both are published retained with QoS 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Birth {
    /// The status topic, e.g. `Topics::agent_status(name)`.
    pub topic: String,
    /// Published (retained) after every CONNACK, and again by [`crate::Session::set_birth`].
    pub online: Vec<u8>,
    /// Registered as the retained last will: the broker publishes it when the client is lost.
    pub will: Vec<u8>,
}

/// A fresh epoch for a birth/will pair: the current Unix time in milliseconds.
///
/// Milliseconds keep it readable in `mosquitto_sub` output and increasing across restarts of one
/// process (two runs within the same millisecond are not a real case for a daemon).
pub fn new_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_unix_milliseconds_and_do_not_go_back() {
        let first = new_epoch();
        let second = new_epoch();
        // 2020-01-01 in ms: anything older means seconds or a broken clock.
        assert!(first > 1_577_836_800_000, "{first}");
        assert!(second >= first);
    }
}
