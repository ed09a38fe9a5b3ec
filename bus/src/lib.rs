//! `ank-bus`: MQTT session plumbing shared by every client (issue #4).
//!
//! Not built yet.
