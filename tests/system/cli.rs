//! The `ank` CLI end to end against a real controller, agents and podman (issue 6): waiting and
//! exit codes, set state and get state with masks, watch, logs -f, and what reads and writes do
//! while the controller is down.

use std::time::Duration;

use ank_system_tests::{on_both_brokers, BrokerKind};
use ank_testkit::blocking::wait_until;
use anyhow::{ensure, Context};

on_both_brokers!(
    /// `ank apply` waits until the workload runs and exits 0; `set state` adds and removes by
    /// mask; `get state` narrows by masks with wildcards, as YAML and JSON.
    fn apply_set_state_and_get_state_with_masks(c) {
        let out = c.apply(
            r#"
apiVersion: v1
workloads:
  web:
    runtime: podman
    agent: $A
    tags: {team: ui}
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
"#,
            &[],
        )?;
        out.expect_ok()?;
        ensure!(out.stderr.contains("Running(Ok)"), "the wait shows the final state: {out}");
        // It returned because web runs, not after some sleep: the state already says so.
        let rows = c.rows()?;
        ensure!(rows.iter().any(|r| r.name == "web" && r.state == "Running(Ok)"), "{rows:?}");

        // set state: a mask whose path is in the file adds it…
        let file = c.write_manifest(
            r#"
desiredState:
  apiVersion: v1
  workloads:
    api:
      runtime: podman
      agent: $B
      runtimeConfig: |
        image: $IMAGE
        commandArgs: $LONG
"#,
        )?;
        let file = file.to_string_lossy().into_owned();
        c.ank(&["set", "state", "desiredState.workloads.api", &file])?.expect_ok()?;
        c.wait_state("api", "Running(Ok)")?;

        // get state: masks with wildcards select exactly those fields (JSON).
        let agents = c.ank(&["get", "state", "-o", "json", "desiredState.workloads.*.agent"])?;
        agents.expect_ok()?;
        let json: serde_json::Value = serde_json::from_str(&agents.stdout).context("JSON")?;
        let workloads = &json["desiredState"]["workloads"];
        ensure!(workloads["web"] == serde_json::json!({"agent": c.a()}), "{json}");
        ensure!(workloads["api"] == serde_json::json!({"agent": c.b()}), "{json}");
        ensure!(json["desiredState"]["apiVersion"] == "v1", "apiVersion comes with: {json}");
        ensure!(json.get("workloadStates").is_none(), "only the masked part: {json}");

        let states = c.ank(&["get", "state", "-o", "json", "workloadStates.*.web"])?;
        let json: serde_json::Value = serde_json::from_str(&states.stdout).context("JSON")?;
        let per_agent = json["workloadStates"].as_object().context("workloadStates")?;
        ensure!(per_agent.len() == 1 && per_agent.contains_key(c.a()), "{json}");
        ensure!(states.stdout.contains("\"Running\""), "{states}");

        // YAML (the default) can be fed back into `set state`.
        let yaml = c.ank(&["get", "state", "desiredState.workloads.web.tags"])?;
        yaml.expect_ok()?;
        ensure!(yaml.stdout.contains("team: ui"), "{yaml}");

        // set state: a mask whose path is not in the file removes it.
        let empty = c.write_manifest("desiredState:\n  apiVersion: v1\n")?;
        let empty = empty.to_string_lossy().into_owned();
        c.ank(&["set", "state", "desiredState.workloads.api", &empty])?.expect_ok()?;
        c.wait_gone("api")?;
        c.wait_state("web", "Running(Ok)")?;
        Ok(())
    }
);

on_both_brokers!(
    /// `get workloads --watch` prints a new table when a state changes; `logs -f` prints a line
    /// the container writes after it started following.
    fn watch_sees_changes_and_logs_follow_new_lines(c) {
        c.apply(
            r#"
apiVersion: v1
workloads:
  talker:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "echo first-line; trap 'exit 0' TERM; while true; do if [ -f /tmp/say ]; then cat /tmp/say; rm /tmp/say; fi; sleep 0.2; done"]
"#,
            &[],
        )?
        .expect_ok()?;

        let watch = c.ank_background(&["get", "workloads", "--watch"])?;
        let watch_log = watch.log_path().to_path_buf();
        let read_watch = || std::fs::read_to_string(&watch_log).unwrap_or_default();
        wait_until("the watch to show talker running", Duration::from_secs(10), || Ok(read_watch()), |t| t.contains("talker") && t.contains("Running(Ok)"))?;
        c.apply(
            r#"
apiVersion: v1
workloads:
  quitter:
    runtime: podman
    agent: $B
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "exit 9"]
"#,
            &[],
        )?
        .expect_code(3)?;
        wait_until("the watch to show quitter failing", Duration::from_secs(10), || Ok(read_watch()), |t| t.contains("quitter") && t.contains("Failed(ExecFailed)") && t.contains("Exit code: '9'"))?;

        let logs = c.ank_background(&["logs", "-f", "talker"])?;
        let logs_path = logs.log_path().to_path_buf();
        let read_logs = || std::fs::read_to_string(&logs_path).unwrap_or_default();
        wait_until("logs -f to print the first line", Duration::from_secs(10), || Ok(read_logs()), |t| t.contains("first-line"))?;
        let a = c.a().to_owned();
        let id = c.container(&a, "talker")?.id;
        ank_system_tests::podman::run(&["exec", &id, "sh", "-c", "echo said-later > /tmp/say"])?;
        wait_until("logs -f to print the line written later", Duration::from_secs(10), || Ok(read_logs()), |t| t.contains("said-later"))?;
        Ok(())
    }
);

on_both_brokers!(
    /// With the controller down, `get workloads` still reads the retained states and a write fails
    /// at once with "controller offline". Embedded, the broker is inside the controller, so both
    /// fail fast with a connection error instead.
    fn reads_work_and_writes_fail_fast_while_the_controller_is_down(c) {
        c.apply(
            r#"
apiVersion: v1
workloads:
  steady:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
"#,
            &[],
        )?
        .expect_ok()?;
        let late = c.write_manifest(
            r#"
apiVersion: v1
workloads:
  late:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["true"]
"#,
        )?;
        let late = late.to_string_lossy().into_owned();

        for how in ["SIGTERM", "SIGKILL"] {
            if how == "SIGTERM" {
                c.stop_controller()?;
            } else {
                c.start_controller()?;
                c.kill_controller()?;
            }
            let read = c.ank(&["get", "workloads"])?;
            // A long response timeout, so that "at once" below cannot be mistaken for it.
            let write = c.ank(&["--response-timeout", "30s", "apply", &late])?;
            match c.kind() {
                BrokerKind::Mosquitto => {
                    read.expect_ok()?;
                    let rows = ank_system_tests::states::parse_workload_table(&read.stdout)?;
                    ensure!(rows.len() == 1 && rows[0].name == "steady" && rows[0].state == "Running(Ok)", "{read}");
                    write.expect_code(1)?;
                    // A clean stop publishes `offline` with its time; after a crash the broker
                    // publishes the will, registered at connect time, which cannot know when.
                    let expected = match how {
                        "SIGTERM" => "error: controller offline since",
                        _ => "error: controller offline (connection lost)",
                    };
                    ensure!(write.stderr.contains(expected), "after {how}: {write}");
                    ensure!(write.elapsed < Duration::from_secs(15), "at once, not after the 30 s response timeout: {write}");
                }
                BrokerKind::Embedded => {
                    for out in [&read, &write] {
                        out.expect_code(1)?;
                        ensure!(out.stderr.contains("unreachable"), "after {how}: {out}");
                        ensure!(out.elapsed < Duration::from_secs(15), "at once, the controller's broker is gone: {out}");
                    }
                }
            }
        }
        c.start_controller()?;
        c.ank(&["apply", &late])?.expect_ok()?;
        c.wait_state("steady", "Running(Ok)")?;
        Ok(())
    }
);

on_both_brokers!(
    /// Issue 14: a wait without `--timeout` says on stderr when it loses the broker (and since
    /// when) and when it is back, instead of waiting silently. The workload waits for a
    /// dependency that never comes, so the wait cannot end by itself.
    fn issue_14_a_wait_says_when_it_loses_the_broker_and_when_it_is_back(c) {
        let manifest = c.write_manifest(
            r#"
apiVersion: v1
workloads:
  patient:
    runtime: podman
    agent: $A
    dependencies:
      never_there: ADD_COND_RUNNING
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["true"]
"#,
        )?;
        let manifest = manifest.to_string_lossy().into_owned();
        let wait = c.ank_background(&["apply", &manifest])?;
        let log = wait.log_path().to_path_buf();
        let read = || std::fs::read_to_string(&log).unwrap_or_default();
        wait_until("the apply to wait", Duration::from_secs(10), || Ok(read()), |t| t.contains("WaitingToStart"))?;
        c.kill_broker()?;
        wait_until("the wait to say it lost the broker", Duration::from_secs(10), || Ok(read()), |t| {
            t.contains("warning: lost the broker at ") && t.contains("reconnecting, still waiting")
        })?;
        c.start_broker()?;
        wait_until("the wait to say it is back", Duration::from_secs(20), || Ok(read()), |t| {
            t.contains("reconnected to the broker (lost since ")
        })?;
        Ok(())
    }
);

/// Issue 14: a controller that dies while a request is in flight (it may have saved it) is
/// reported as such, not as "no response … is ank-controller running with this --topic-prefix?".
/// Mosquitto only: the controller must be frozen while the broker keeps serving, and the embedded
/// broker lives in the controller's process.
#[test]
fn issue_14_a_controller_that_dies_before_answering_is_reported_as_gone_not_as_a_timeout() {
    ank_system_tests::cluster::run_scenario(BrokerKind::Mosquitto, "unanswered", |c| {
        let manifest = c.write_manifest(
            r#"
apiVersion: v1
workloads:
  orphan:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["true"]
"#,
        )?;
        let manifest = manifest.to_string_lossy().into_owned();
        // Frozen, its retained status still says online, so ank sends the request.
        c.signal_controller(libc::SIGSTOP)?;
        let requests = c.topics().requests();
        let ank = c.ank_background(&["--response-timeout", "30s", "apply", &manifest])?;
        let log = ank.log_path().to_path_buf();
        wait_until(
            "the request on the bus",
            Duration::from_secs(10),
            || Ok(c.bus_messages()),
            |m| m.iter().any(|m| m.topic == requests),
        )?;
        c.kill_controller()?;
        wait_until(
            "ank to report the controller gone",
            Duration::from_secs(20),
            || Ok(std::fs::read_to_string(&log).unwrap_or_default()),
            |t| {
                t.contains("error: no answer from the controller: the controller lost its connection to the broker; the change may or may not have been applied")
            },
        )?;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        ensure!(
            !text.contains("--topic-prefix"),
            "no hint about the prefix: {text}"
        );
        Ok(())
    });
}

/// The manifest of issue 14: one 100 KB anchor aliased 8,000 times (124 KB of text that
/// serde_yaml expanded to 800 MB).
fn alias_amplification_manifest() -> String {
    let copies = vec!["*big"; 8_000].join(",");
    format!(
        "apiVersion: v1\nconfigs:\n  big: &big {}\n  copies: [{copies}]\n",
        "x".repeat(100_000)
    )
}

on_both_brokers!(
    /// Issue 14: `ank apply` (with and without `--agent`) and `ank set state` refuse a manifest
    /// whose aliases expand beyond the bound, exit 1 naming the bound, and the controller's
    /// state stays as it was.
    fn issue_14_apply_of_alias_amplification_is_refused_and_the_state_is_unchanged(c) {
        c.apply("apiVersion: v1\nconfigs:\n  keep: x\n", &[])?.expect_ok()?;
        let before = c.ank(&["get", "state", "-o", "json", "desiredState"])?;
        before.expect_ok()?;
        ensure!(before.stdout.contains("\"keep\""), "the seed config is there: {before}");

        let attack = alias_amplification_manifest();
        let expected = "YAML aliases expand beyond 4 MiB (limit MAX_EXPANDED_BYTES)";
        let agent = c.a().to_owned();
        for extra in [vec![], vec!["--agent", agent.as_str()]] {
            let out = c.apply(&attack, &extra)?;
            out.expect_code(1)?;
            ensure!(out.stderr.contains(expected), "names the bound: {out}");
        }
        let state_file = c.write_manifest(&format!("desiredState:\n  {}", attack.replace('\n', "\n  ")))?;
        let state_file = state_file.to_string_lossy().into_owned();
        let out = c.ank(&["set", "state", "desiredState", &state_file])?;
        out.expect_code(1)?;
        ensure!(out.stderr.contains(expected), "set state names the bound: {out}");

        let after = c.ank(&["get", "state", "-o", "json", "desiredState"])?;
        after.expect_ok()?;
        ensure!(after.stdout == before.stdout, "the state is unchanged:\n{before}\n{after}");
        Ok(())
    }
);
