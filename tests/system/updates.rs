//! Updating a running workload: a new runtimeConfig means a new instance and a new container;
//! new tags alone keep the very same container (issue 7; docs/agent.md "Reconcile" rule 3).
//! The states a watcher sees on the way are Ankaios' (issue 16, §4.1 and §3.1).

use std::time::Duration;

use ank_system_tests::cluster::Cluster;
use ank_system_tests::on_both_brokers;
use ank_testkit::blocking::wait_until;
use anyhow::{ensure, Result};

fn service(tags: &str, message: &str) -> String {
    format!(
        r#"
apiVersion: v1
workloads:
  svc:
    runtime: podman
    agent: $A
    tags: {{{tags}}}
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "echo {message}; trap 'exit 0' TERM; sleep 3600 & wait"]
"#
    )
}

on_both_brokers!(
    /// Tags only: same instance, same container id and pid. runtimeConfig: a new instance id, a
    /// new container, and the old one removed.
    fn updates_recreate_only_when_the_runtime_config_changes(c) {
        c.apply(&service("version: one", "first"), &[])?.expect_ok()?;
        let a = c.a().to_owned();
        let before = c.wait_state("svc", "Running(Ok)")?;
        let container = c.container(&a, "svc")?;

        c.apply(&service("version: two", "first"), &[])?.expect_ok()?;
        let tags = c.ank(&["get", "state", "-o", "json", "desiredState.workloads.svc.tags"])?;
        tags.expect_ok()?;
        ensure!(tags.stdout.contains("\"two\""), "the new tag is stored: {tags}");
        let after_tags = c.wait_state("svc", "Running(Ok)")?;
        ensure!(after_tags.hash == before.hash, "tags keep the instance id");
        let same = c.container(&a, "svc")?;
        ensure!(
            same.id == container.id && same.pid == container.pid,
            "tags keep the container: {container:?} → {same:?}"
        );

        c.apply(&service("version: two", "second"), &[])?.expect_ok()?;
        let after_config = c.wait_state("svc", "Running(Ok)")?;
        ensure!(after_config.hash != before.hash, "a new runtimeConfig is a new instance");
        let new = c.container(&a, "svc")?; // exactly one: the old one is gone
        ensure!(new.id != container.id, "a new runtimeConfig is a new container");
        ensure!(new.instance().contains(&after_config.hash), "{new:?} runs {after_config:?}");
        Ok(())
    }
);

/// Every state the third-party reader saw on `workload`'s topic of agent A, in order, as
/// `(instance id, State(SubState), additionalInfo)`; cleared topics are left out.
fn states_on_bus(c: &Cluster, workload: &str) -> Vec<(String, String, String)> {
    let topic = c.topics().workload_state(c.a(), workload);
    c.bus_messages()
        .into_iter()
        .filter(|m| m.topic == topic && !m.retained)
        .map(|m| m.json())
        .filter(|v| !v.is_null())
        .map(|v| {
            let text = |key: &str| v[key].as_str().unwrap_or("").to_owned();
            let state = format!("{}({})", text("state"), text("subState"));
            (text("instanceId"), state, text("additionalInfo"))
        })
        .collect()
}

/// Whether `wanted` occurs in `seen` in this order (other states may come between); an
/// instance is wanted by its hash.
fn in_order(seen: &[(String, String, String)], wanted: &[(&str, &str, Option<&str>)]) -> bool {
    let mut wanted = wanted.iter().peekable();
    for (instance, state, info) in seen {
        if let Some((want_instance, want_state, want_info)) = wanted.peek() {
            if instance.contains(&format!(".{want_instance}."))
                && state == want_state
                && want_info.is_none_or(|i| i == info)
            {
                wanted.next();
            }
        }
    }
    wanted.peek().is_none()
}

/// Waits until the reader saw `wanted` in order on `workload`'s topic.
fn wait_sequence(c: &Cluster, workload: &str, wanted: &[(&str, &str, Option<&str>)]) -> Result<()> {
    wait_until(
        "the Ankaios sequence on the workload's state topic",
        Duration::from_secs(60),
        || Ok(states_on_bus(c, workload)),
        |seen| in_order(seen, wanted),
    )?;
    Ok(())
}

on_both_brokers!(
    /// Ankaios 1.0.1, a changed runtimeConfig: the old instance `Stopping(RequestedAtRuntime)`,
    /// then the new one `Pending(Starting)` "Triggered at runtime.", then `Running(Ok)`. ankmq
    /// went from the old one's Stopping straight to the new one's Running.
    fn issue_16_an_update_says_stopping_then_starting_then_running(c) {
        c.apply(&service("version: one", "first"), &[])?.expect_ok()?;
        let old = c.wait_state("svc", "Running(Ok)")?.hash;
        c.apply(&service("version: one", "second"), &[])?.expect_ok()?;
        let new = c.wait_state("svc", "Running(Ok)")?.hash;
        ensure!(new != old, "a new instance: {old} → {new}");
        wait_sequence(
            c,
            "svc",
            &[
                (&old, "Stopping(RequestedAtRuntime)", None),
                (&new, "Pending(Starting)", Some("Triggered at runtime.")),
                (&new, "Running(Ok)", None),
            ],
        )
    }
);

on_both_brokers!(
    /// Ankaios 1.0.1, `ON_FAILURE` after exit 3: `Failed(ExecFailed)`,
    /// `Stopping(RequestedAtRuntime)`, `Pending(Starting)` "Triggered at runtime.", `Running(Ok)`
    /// of the new container. ankmq went from Failed straight to Running.
    fn issue_16_a_restart_after_a_failure_says_stopping_then_starting(c) {
        let manifest = r#"
apiVersion: v1
workloads:
  crash:
    runtime: podman
    agent: $A
    restartPolicy: ON_FAILURE
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "sleep 1; exit 3"]
"#;
        c.apply(manifest, &["--no-wait"])?.expect_ok()?;
        wait_until(
            "the first instance on the bus",
            Duration::from_secs(60),
            || Ok(states_on_bus(c, "crash")),
            |seen| !seen.is_empty(),
        )?;
        let id = states_on_bus(c, "crash")
            .first()
            .and_then(|(instance, _, _)| instance.split('.').nth(1).map(str::to_owned))
            .unwrap_or_default();
        wait_sequence(
            c,
            "crash",
            &[
                (&id, "Failed(ExecFailed)", Some("Exit code: '3'")),
                (&id, "Stopping(RequestedAtRuntime)", None),
                (&id, "Pending(Starting)", Some("Triggered at runtime.")),
                (&id, "Running(Ok)", None),
            ],
        )?;
        c.ank(&["delete", "workload", "crash"])?.expect_ok()?;
        Ok(())
    }
);
