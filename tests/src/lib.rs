//! The harness shared by ankmq's system tests: real podman, real brokers, real binaries.
//!
//! Every helper here fails loudly and names what is missing; a system test is never skipped.
//! The environment comes from `scripts/test-env.sh`, which writes `.test-env/` at the workspace
//! root; [`podman`] finds it even when the tests run without `source .test-env/env`.
#![warn(missing_docs)]

/// A private Mosquitto per test, on a free loopback port, killed on drop.
pub mod mosquitto;
pub mod podman;
