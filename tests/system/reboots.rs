//! Device restarts: after a (simulated) reboot the agent runs its services again, in dependency
//! order, as Ankaios does; an agent-only restart (kill -9 of `ank-agent`) right after still
//! touches nothing and re-runs no finished one-shot (issue 16 point 1). A reboot is simulated
//! as a shutdown does it (everything stopped, `podman stop` of the containers), once with the
//! same boot id (what an independent tester does: the agent's record of the ends it reported
//! tells it apart) and once with a new boot id through the agent's hidden `--boot-id-file`.

use std::path::Path;
use std::time::Duration;

use ank_system_tests::{on_both_brokers, podman, Cluster};
use ank_testkit::blocking::wait_until;
use anyhow::{ensure, Context};

const SERVICES: &str = r#"
apiVersion: v1
workloads:
  db:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
  web:
    runtime: podman
    agent: $A
    dependencies:
      db: ADD_COND_RUNNING
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
  job:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["true"]
"#;

fn settled(c: &mut Cluster) -> anyhow::Result<()> {
    c.wait_state("db", "Running(Ok)")?;
    c.wait_state("web", "Running(Ok)")?;
    c.wait_state("job", "Succeeded(Ok)")?;
    Ok(())
}

/// Waits until agent `name` recorded `boot_id` in its folder: it has settled after its start.
fn recorded(c: &Cluster, name: &str, boot_id: &str) -> anyhow::Result<()> {
    let record = c
        .dir()
        .join("run")
        .join(format!("{name}_io"))
        .join("boot_id");
    wait_until(
        "the agent to record its boot",
        Duration::from_secs(20),
        || Ok(std::fs::read_to_string(&record).unwrap_or_default()),
        |text| text == boot_id,
    )?;
    Ok(())
}

fn write_boot_id(path: &Path, id: &str) -> anyhow::Result<()> {
    std::fs::write(path, format!("{id}\n")).context("writing the simulated boot id")
}

on_both_brokers!(
    /// Services run again after a reboot (db before web), the finished job runs once more as
    /// after any boot; a kill -9 of the agent afterwards touches no container.
    fn issue_16_services_run_again_after_a_reboot_but_not_after_an_agent_restart(c) {
        let a = c.a().to_owned();
        let boot_file = c.dir().join("boot_id");
        let boot = |n: u8| format!("00000000-0000-4000-8000-0000000000{n:02}");
        write_boot_id(&boot_file, &boot(1))?;
        let boot_arg = boot_file.to_string_lossy().into_owned();
        c.kill_agent(&a)?;
        c.start_agent_with(&a, &["--boot-id-file", &boot_arg])?;
        c.apply(SERVICES, &[])?.expect_ok()?;
        settled(c)?;
        recorded(c, &a, &boot(1))?;
        let before = c.all_containers()?;

        // Shutdown as a device does it: everything stops, podman stops the containers.
        c.kill_controller()?;
        c.kill_agent(&a)?;
        for container in before.values().filter(|k| k.labels.get("ankmq.agent") == Some(&a)) {
            podman::run(&["stop", "-t", "10", &container.id])?;
        }
        write_boot_id(&boot_file, &boot(2))?;
        c.start_controller()?;
        c.start_agent_with(&a, &["--boot-id-file", &boot_arg])?;

        let db = wait_until(
            "db to run in a fresh container",
            Duration::from_secs(30),
            || c.container(&a, "db"),
            |k| k.state == "running" && !before.contains_key(&format!("{}#{}", k.instance(), k.id)),
        )?;
        settled(c)?;
        let web = c.container(&a, "web")?;
        ensure!(web.state == "running", "web runs again: {web:?}");
        ensure!(web.started_at >= db.started_at, "web started after db: {db:?} {web:?}");
        recorded(c, &a, &boot(2))?;

        // An agent-only restart in the same boot touches nothing and re-runs no job.
        let settled_containers = c.all_containers()?;
        c.kill_agent(&a)?;
        c.start_agent_with(&a, &["--boot-id-file", &boot_arg])?;
        settled(c)?;
        recorded(c, &a, &boot(2))?;
        let after = c.all_containers()?;
        ensure!(
            settled_containers == after,
            "no container was touched:\n{settled_containers:#?}\n→\n{after:#?}"
        );
        let job = c.last_workload_state(&a, "job");
        ensure!(job["restartCount"] == 0, "the finished job did not run again: {job}");
        Ok(())
    }
);

/// Waits until agent `name` recorded the end of `workload`'s container: it settled after its
/// start and keeps what it reported (`reported_ends` in its folder).
fn end_recorded(c: &Cluster, name: &str, workload: &str) -> anyhow::Result<()> {
    let record = c
        .dir()
        .join("run")
        .join(format!("{name}_io"))
        .join("reported_ends");
    let id = c.container(name, workload)?.id;
    wait_until(
        "the agent to record the reported end",
        Duration::from_secs(20),
        || Ok(std::fs::read_to_string(&record).unwrap_or_default()),
        |text| text.lines().any(|line| line == id),
    )?;
    Ok(())
}

on_both_brokers!(
    /// The issue's simulation exactly: controller and agent stopped, `podman stop` of the
    /// containers (the services exit 0), everything started again with the same boot id. The
    /// services run again, db before web; the job whose end the agent had reported is adopted,
    /// not re-run. A kill -9 of the agent afterwards touches no container.
    fn issue_16_services_run_again_after_podman_stop_without_a_new_boot_id(c) {
        let a = c.a().to_owned();
        c.apply(SERVICES, &[])?.expect_ok()?;
        settled(c)?;
        end_recorded(c, &a, "job")?;
        let before = c.all_containers()?;
        let job_before = c.container(&a, "job")?;

        c.kill_controller()?;
        c.kill_agent(&a)?;
        for container in before.values().filter(|k| k.labels.get("ankmq.agent") == Some(&a)) {
            if container.state == "running" {
                podman::run(&["stop", "-t", "10", &container.id])?;
            }
        }
        for service in ["db", "web"] {
            let stopped = c.container(&a, service)?;
            ensure!(stopped.state == "exited", "{service} was stopped: {stopped:?}");
        }
        c.start_controller()?;
        c.start_agent(&a)?;

        let db = wait_until(
            "db to run in a fresh container",
            Duration::from_secs(30),
            || c.container(&a, "db"),
            |k| k.state == "running" && !before.contains_key(&format!("{}#{}", k.instance(), k.id)),
        )?;
        settled(c)?;
        let web = c.container(&a, "web")?;
        ensure!(web.state == "running", "web runs again: {web:?}");
        ensure!(
            !before.contains_key(&format!("{}#{}", web.instance(), web.id)),
            "web runs in a fresh container: {web:?}"
        );
        ensure!(web.started_at >= db.started_at, "web started after db: {db:?} {web:?}");
        let job = c.container(&a, "job")?;
        ensure!(job == job_before, "the reported job was adopted, not re-run: {job_before:?} → {job:?}");

        // An agent-only restart touches nothing and re-runs no job.
        end_recorded(c, &a, "job")?;
        let settled_containers = c.all_containers()?;
        c.kill_agent(&a)?;
        c.start_agent(&a)?;
        settled(c)?;
        end_recorded(c, &a, "job")?;
        let after = c.all_containers()?;
        ensure!(
            settled_containers == after,
            "no container was touched:\n{settled_containers:#?}\n→\n{after:#?}"
        );
        let job = c.last_workload_state(&a, "job");
        ensure!(job["restartCount"] == 0, "the finished job did not run again: {job}");
        Ok(())
    }
);
