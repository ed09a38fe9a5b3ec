//! The harness shared by ankmq's system tests: real podman, real brokers, real binaries.
//!
//! Every helper here fails loudly and names what is missing; a system test is never skipped.
//! The environment comes from `scripts/test-env.sh`, which writes `.test-env/` at the workspace
//! root; [`podman`] finds it even when the tests run without `source .test-env/env`.
//!
//! Layout:
//! - [`cluster`]: a whole cluster per test (broker, controller, two agents, a third-party
//!   reader, the CLI) with a drop guard that removes everything; see docs/testing.md.
//! - [`browser`]: headless chromium for the dashboard's tests (issue 18).
//! - [`binaries`]: finds (and builds once) `ank-controller`, `ank-agent` and `ank`.
//! - [`daemon`]: a background process with its log in a file, signalled and killed by pid.
//! - [`containers`]: podman's own view of an agent's containers, and their cleanup.
//! - [`states`]: workload states parsed from the CLI's JSON and table output.
//! - [`bus_log`]: the `mosquitto_sub` recording of everything under the cluster's prefix.
//! - [`manifests`]: manifests many scenarios share.
//! - [`secured`]: a cluster under passwords and the generated ACL (the `viewer` role).
//! - [`tmpfs`]: a small tmpfs and a filler, for the full-disk tests.
//! - [`certs`]: a throwaway CA and the certificates TLS tests need (openssl CLI).
//! - [`mosquitto`], [`podman`]: a private Mosquitto, and podman configured for the machine.
//!
//! Waiting is `ank_testkit::blocking` (polling a condition against a deadline), shared with
//! every test crate.
#![warn(missing_docs)]

pub mod binaries;
pub mod browser;
pub mod bus_log;
pub mod certs;
pub mod cluster;
pub mod containers;
pub mod daemon;
pub mod manifests;
/// A private Mosquitto per test, on a free loopback port, killed on drop.
pub mod mosquitto;
pub mod podman;
pub mod secured;
pub mod states;
pub mod tmpfs;

pub use cluster::{AnkOutput, BrokerKind, Cluster, STATE_TIMEOUT};

/// Defines a scenario once and runs it on both brokers: `on_both_brokers!(fn name(c) { … })`
/// becomes a module `name` with the tests `name::embedded` and `name::mosquitto`, each starting
/// its own [`Cluster`] and passing it as `c: &mut Cluster`. The body returns
/// `anyhow::Result<()>`; an error or a panic prints the cluster's logs and fails the test.
#[macro_export]
macro_rules! on_both_brokers {
    ($(#[$meta:meta])* fn $name:ident($cluster:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn scenario($cluster: &mut $crate::Cluster) -> ::anyhow::Result<()> $body

            #[test]
            fn embedded() {
                $crate::cluster::run_scenario(
                    $crate::BrokerKind::Embedded,
                    stringify!($name),
                    scenario,
                );
            }

            #[test]
            fn mosquitto() {
                $crate::cluster::run_scenario(
                    $crate::BrokerKind::Mosquitto,
                    stringify!($name),
                    scenario,
                );
            }
        }
    };
}

/// Sends `signal` (e.g. `libc::SIGSTOP`) to `pid`, a process the tests started and still own.
pub fn signal(pid: u32, signal: i32) -> anyhow::Result<()> {
    use anyhow::Context;
    let sig = rustix::process::Signal::from_named_raw(signal)
        .with_context(|| format!("{signal} is not a signal"))?;
    let target = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .with_context(|| format!("{pid} is not a pid"))?;
    rustix::process::kill_process(target, sig).with_context(|| format!("kill({pid}, {signal})"))
}
