//! Inter-workload dependencies across the two agents: add conditions hold a workload in
//! Pending(WaitingToStart), and a delete waits in Stopping(WaitingToStop) while a dependent runs
//! (issue 7; Ankaios §2.4).

use std::time::Duration;

use ank_system_tests::on_both_brokers;
use ank_testkit::blocking::stays;
use anyhow::ensure;

on_both_brokers!(
    /// Dependents on agent B wait for RUNNING, SUCCEEDED and FAILED conditions of workloads on
    /// agent A, start once those hold; deleting a dependency waits for its running dependent.
    fn dependencies_hold_starts_and_deletes_across_agents(c) {
        c.apply(
            r#"
apiVersion: v1
workloads:
  wants_running:
    runtime: podman
    agent: $B
    dependencies: {db: ADD_COND_RUNNING}
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
  wants_success:
    runtime: podman
    agent: $B
    dependencies: {init: ADD_COND_SUCCEEDED}
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
  wants_failure:
    runtime: podman
    agent: $B
    dependencies: {crash: ADD_COND_FAILED}
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
"#,
            &["--no-wait"],
        )?
        .expect_ok()?;
        let dependents = ["wants_running", "wants_success", "wants_failure"];
        let all_waiting = |rows: &Vec<ank_system_tests::states::WorkloadRow>| {
            dependents.iter().all(|d| {
                rows.iter()
                    .any(|r| &r.name == d && r.state == "Pending(WaitingToStart)")
            })
        };
        c.wait_rows("every dependent to wait", Duration::from_secs(20), all_waiting)?;
        // Nothing starts while the dependencies do not exist.
        stays("the dependents to keep waiting", Duration::from_secs(1), || c.rows(), all_waiting)?;
        let b = c.b().to_owned();
        for d in dependents {
            ensure!(c.containers(&b, d)?.is_empty(), "{d} has no container while waiting");
        }

        let out = c.apply(
            r#"
apiVersion: v1
workloads:
  db:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
  init:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["true"]
  crash:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "exit 1"]
"#,
            &[],
        )?;
        out.expect_code(3)?; // `crash` fails, on purpose
        for d in dependents {
            c.wait_state(d, "Running(Ok)")?;
        }

        // db may go only once wants_running is neither pending nor running.
        c.ank(&["--no-wait", "delete", "workload", "db"])?.expect_ok()?;
        c.wait_state("db", "Stopping(WaitingToStop)")?;
        let a = c.a().to_owned();
        let held = stays(
            "db to wait for its dependent",
            Duration::from_secs(1),
            || c.rows(),
            |rows| rows.iter().any(|r| r.name == "db" && r.state == "Stopping(WaitingToStop)"),
        );
        held?;
        ensure!(c.container(&a, "db")?.state == "running", "db still runs while it waits");

        c.ank(&["delete", "workload", "wants_running"])?.expect_ok()?;
        c.wait_gone("db")?;
        ensure!(c.containers(&a, "db")?.is_empty(), "db's container went after its dependent");
        c.wait_state("wants_success", "Running(Ok)")?;
        Ok(())
    }
);
