//! The labels ankmq puts on every container (and, through the manifest, on every kube pod) so a
//! restarted agent finds what it started. Podman stores labels with the container, so they
//! survive an agent restart, a podman restart and a reboot, as long as the container exists.
//!
//! Namespaced with `ankmq.` so they never clash with a user's labels. Unlike Ankaios' `name` and
//! `agent` labels (ankaios-behaviour.md §4.2) these cannot be mistaken for someone else's.

use ank_schemas::RuntimeKind;

/// The full instance id (`<workload>.<hash>.<agent>`) the container belongs to.
pub const INSTANCE: &str = "ankmq.instance";

/// The agent that owns the container. `ps` and `events` filter on it.
pub const AGENT: &str = "ankmq.agent";

/// The workload's podman `generalOptions` as a JSON array of strings, present when non-empty,
/// so that stopping or removing a container found after an agent restart uses the same options
/// as the `run` that created it.
pub const GENERAL_OPTIONS: &str = "ankmq.general-options";

/// `label=<key>=<value>`, the form of podman's `--filter` and `--label` arguments.
pub fn filter(key: &str, value: &str) -> String {
    format!("label={key}={value}")
}

/// The runtime that created the container (`podman` or `podman-kube`), so each connector lists
/// only its own instances although both filter on the same agent label.
pub const RUNTIME: &str = "ankmq.runtime";

/// Every `ankmq.*` label of one container, in the order they are passed to podman.
pub fn ownership(
    instance: &str,
    agent: &str,
    runtime: &RuntimeKind,
    general_options: &[String],
) -> Vec<(&'static str, String)> {
    let mut labels = vec![
        (INSTANCE, instance.to_owned()),
        (AGENT, agent.to_owned()),
        (RUNTIME, runtime.to_string()),
    ];
    if !general_options.is_empty() {
        // A Vec<String> always serialises; the fallback only keeps this free of unwrap().
        let json = serde_json::to_string(general_options).unwrap_or_else(|_| "[]".into());
        labels.push((GENERAL_OPTIONS, json));
    }
    labels
}
