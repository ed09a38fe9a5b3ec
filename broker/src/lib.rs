//! `ank-broker`: the embedded MQTT broker (issue #3).
//!
//! Not built yet.
