//! A workload's life on real podman: the execution states it reaches, the restart policies, and
//! its removal by `ank delete` and `ank apply -d` (issue 7; Ankaios §2, §3).

use std::time::Duration;

use ank_system_tests::on_both_brokers;
use ank_testkit::blocking::wait_until;
use anyhow::{ensure, Context};

on_both_brokers!(
    /// Long-running → Running(Ok), one-shot → Succeeded(Ok), failing → Failed(ExecFailed) with its
    /// exit code on the bus, in podman and in ADDITIONAL INFO; `ank apply` then exits 3.
    fn each_kind_of_workload_reaches_its_state(c) {
        let out = c.apply(
            r#"
apiVersion: v1
workloads:
  long:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
  oneshot:
    runtime: podman
    agent: $B
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["true"]
  failing:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "exit 7"]
"#,
            &[],
        )?;
        out.expect_code(3)?;
        ensure!(out.stderr.contains("failing"), "exit 3 names the failed workload: {out}");

        let long = c.wait_state("long", "Running(Ok)")?;
        ensure!(long.agent == c.a(), "long runs on agent A: {long:?}");
        let oneshot = c.wait_state("oneshot", "Succeeded(Ok)")?;
        ensure!(oneshot.agent == c.b(), "oneshot runs on agent B: {oneshot:?}");
        let failing = c.wait_state("failing", "Failed(ExecFailed)")?;
        ensure!(failing.info == "Exit code: '7'", "exit code in the info: {failing:?}");

        let a = c.a().to_owned();
        let container = c.exited_container(&a, "failing")?;
        ensure!(container.exit_code == 7, "{container:?}");
        let on_bus = wait_until(
            "the failing workload's exitCode on the bus",
            Duration::from_secs(5),
            || Ok(c.last_workload_state(&a, "failing")),
            |v| v["exitCode"] == 7,
        )?;
        ensure!(on_bus["subState"] == "ExecFailed", "{on_bus}");
        ensure!(c.container(&a, "long")?.state == "running");

        // Applying what already runs changes nothing and succeeds at once.
        let again = c.apply(
            r#"
apiVersion: v1
workloads:
  long:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
"#,
            &[],
        )?;
        again.expect_ok()?;
        Ok(())
    }
);

on_both_brokers!(
    /// NEVER leaves a failure alone; ON_FAILURE replaces a failed container (new id) but not a
    /// succeeded one; ALWAYS starts the same container again after success.
    fn each_restart_policy_restarts_what_it_should(c) {
        c.apply(
            r#"
apiVersion: v1
workloads:
  never:
    runtime: podman
    agent: $A
    restartPolicy: NEVER
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "exit 3"]
  onfail:
    runtime: podman
    agent: $A
    restartPolicy: ON_FAILURE
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "sleep 0.3; exit 3"]
  onfailok:
    runtime: podman
    agent: $B
    restartPolicy: ON_FAILURE
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["true"]
  always:
    runtime: podman
    agent: $B
    restartPolicy: ALWAYS
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "sleep 0.3"]
"#,
            &["--no-wait"],
        )?
        .expect_ok()?;
        let (a, b) = (c.a().to_owned(), c.b().to_owned());

        // The backoff is immediate, then 1 s, 2 s…: two restarts land within a few seconds.
        let restarts = |c: &ank_system_tests::Cluster, agent: &str, wl: &str| {
            c.last_workload_state(agent, wl)["restartCount"]
                .as_u64()
                .unwrap_or(0)
        };
        let mut onfail_ids = std::collections::BTreeSet::new();
        wait_until(
            "ON_FAILURE to restart a failing workload twice",
            Duration::from_secs(20),
            || {
                if let Ok(found) = c.containers(&a, "onfail") {
                    onfail_ids.extend(found.into_iter().map(|k| k.id));
                }
                Ok(restarts(c, &a, "onfail"))
            },
            |n| *n >= 2,
        )?;
        ensure!(
            onfail_ids.len() >= 2,
            "ON_FAILURE replaces the failed container by a new one: {onfail_ids:?}"
        );

        let always_id = c.container(&b, "always")?.id;
        wait_until(
            "ALWAYS to restart a succeeded workload twice",
            Duration::from_secs(20),
            || Ok(restarts(c, &b, "always")),
            |n| *n >= 2,
        )?;
        let always = c.container(&b, "always")?;
        ensure!(
            always.id == always_id,
            "ALWAYS after success starts the same container: {always_id} became {}",
            always.id
        );

        // The ones that must not restart: checked after the others restarted twice.
        let never = c.wait_state("never", "Failed(ExecFailed)")?;
        ensure!(never.info == "Exit code: '3'", "{never:?}");
        ensure!(restarts(c, &a, "never") == 0, "NEVER does not restart");
        ensure!(c.containers(&a, "never")?.len() == 1);
        c.wait_state("onfailok", "Succeeded(Ok)")?;
        ensure!(restarts(c, &b, "onfailok") == 0, "ON_FAILURE leaves success alone");
        c.exited_container(&b, "onfailok")?;
        Ok(())
    }
);

on_both_brokers!(
    /// `ank delete workload` and `ank apply -d` remove workloads, their containers and their
    /// state topics, and leave the others running.
    fn delete_and_apply_d_remove_workloads(c) {
        let manifest = r#"
apiVersion: v1
workloads:
  keep:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
  gone1:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
  gone2:
    runtime: podman
    agent: $B
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
"#;
        c.apply(manifest, &[])?.expect_ok()?;
        let (a, b) = (c.a().to_owned(), c.b().to_owned());
        let keep = c.container(&a, "keep")?;

        let out = c.ank(&["delete", "workload", "gone1"])?;
        out.expect_ok()?;
        ensure!(c.rows()?.iter().all(|r| r.name != "gone1"), "gone1 left the state");
        ensure!(c.containers(&a, "gone1")?.is_empty(), "gone1's container is removed");
        let cleared = wait_until(
            "gone1's state topic to be cleared",
            Duration::from_secs(5),
            || Ok(c.last_workload_state(&a, "gone1")),
            |v| v.is_null(),
        );
        cleared.context("an empty retained publish clears the topic")?;

        // `apply -d` with only gone2 in the file.
        let only_gone2 = r#"
apiVersion: v1
workloads:
  gone2:
    runtime: podman
    agent: $B
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
"#;
        c.apply(only_gone2, &["-d"])?.expect_ok()?;
        ensure!(c.rows()?.iter().all(|r| r.name != "gone2"), "gone2 left the state");
        ensure!(c.containers(&b, "gone2")?.is_empty(), "gone2's container is removed");

        // Deleting what does not exist succeeds and changes nothing.
        c.ank(&["delete", "workload", "never_existed"])?.expect_ok()?;
        let keep_now = c.container(&a, "keep")?;
        ensure!(keep_now == keep, "keep was not touched: {keep:?} → {keep_now:?}");
        c.wait_state("keep", "Running(Ok)")?;
        Ok(())
    }
);
