//! Updating a running workload: a new runtimeConfig means a new instance and a new container;
//! new tags alone keep the very same container (issue 7; docs/agent.md "Reconcile" rule 3).

use ank_system_tests::on_both_brokers;
use anyhow::ensure;

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
