//! The Ankaios control interface with the real, unchanged SDKs inside real podman workloads
//! (issue 15): the PyPI `ankaios-sdk` 1.0.1 runs in the test image with the host's Python
//! mounted read-only (reference/control-interface.md §4 (b)), talks to its agent over the FIFOs,
//! and through it to the controller on the agent's own request topic.

use std::path::PathBuf;
use std::time::Duration;

use ank_system_tests::{on_both_brokers, Cluster};
use ank_testkit::blocking::wait_for;
use anyhow::{bail, Context, Result};

/// The probe app, written into the cluster's folder and mounted into the workload.
const PYTHON_PROBE: &str = include_str!("python_probe.py");
/// The agent-tags app: sets its agent's tags, is refused another agent's.
const TAGS_PROBE: &str = include_str!("tags_probe.py");
/// The podman-kube app: connects and reads state from inside a pod.
const KUBE_PROBE: &str = include_str!("kube_probe.py");
/// The events app: two subscriptions, one cancelled before the second change.
const EVENTS_PROBE: &str = include_str!("events_probe.py");
/// Plays an agent identity under the generated ACL (host side, paho-mqtt).
const ACL_PROBE: &str = include_str!("acl_probe.py");
/// A client that speaks the wire format by hand, badly on purpose.
const RAW_CLIENT: &str = include_str!("raw_client.py");

/// Where scripts/test-env.sh installed the SDK (`pip install --target`).
fn python_sdk() -> Result<PathBuf> {
    let dir = std::env::var_os("ANK_TEST_ANKAIOS_SDK")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            ank_system_tests::podman::workspace_root().join(".test-env/ankaios-sdk")
        });
    if !dir.join("ankaios_sdk").is_dir() {
        bail!(
            "the Ankaios Python SDK is missing at {} (ANK_TEST_ANKAIOS_SDK): run scripts/test-env.sh",
            dir.display()
        );
    }
    Ok(dir)
}

/// The `commandOptions` that run the host's Python in the busybox test image, with the SDK.
fn python_options(
    sdk: &std::path::Path,
    probe_dir: &std::path::Path,
    env: &[(&str, &str)],
) -> Vec<String> {
    let mut options: Vec<String> = [
        "-v",
        "/usr:/usr:ro",
        "-v",
        "/usr/lib:/lib:ro",
        "-v",
        "/usr/lib64:/lib64:ro",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    options.push("-v".into());
    options.push(format!("{}:/opt/sdk:ro", sdk.display()));
    options.push("-v".into());
    options.push(format!("{}:/opt/probe:ro", probe_dir.display()));
    options.push("-e".into());
    options.push("PYTHONPATH=/opt/sdk".into());
    for (key, value) in env {
        options.push("-e".into());
        options.push(format!("{key}={value}"));
    }
    options
}

/// Applies an SDK app: podman workload `name` on agent A in the test image, with `allow_rules`
/// (a YAML flow list of Ankaios access rules), the extra `commandOptions` and `command_args`.
/// Every SDK app of these tests is set up through here.
fn apply_sdk_app(
    c: &mut Cluster,
    name: &str,
    allow_rules: &str,
    options: &[String],
    command_args: &[&str],
) -> Result<()> {
    let manifest = format!(
        r#"
apiVersion: v1
workloads:
  {name}:
    runtime: podman
    agent: $A
    controlInterfaceAccess:
      allowRules: {allow_rules}
    runtimeConfig: |
      image: $IMAGE
      commandOptions: {}
      commandArgs: {}
"#,
        serde_json::to_string(options)?,
        serde_json::to_string(command_args)?,
    );
    c.apply(&manifest, &[])?.expect_ok()?;
    Ok(())
}

/// Applies a Python SDK app: `script` (this folder's file `file`) run by the host's Python with
/// the unchanged SDK, with `env`; see [`apply_sdk_app`].
fn apply_python_app(
    c: &mut Cluster,
    name: &str,
    (file, script): (&str, &str),
    allow_rules: &str,
    env: &[(&str, &str)],
) -> Result<()> {
    let sdk = python_sdk()?;
    let probe_dir = c.dir().join("probe");
    std::fs::create_dir_all(&probe_dir)?;
    std::fs::write(probe_dir.join(file), script)?;
    let options = python_options(&sdk, &probe_dir, env);
    let path = format!("/opt/probe/{file}");
    apply_sdk_app(
        c,
        name,
        allow_rules,
        &options,
        &["/usr/bin/python3", "-u", &path],
    )
}

/// Applies the Python probe as workload `sdkapp` on agent A, allowed to manage `helper` and to
/// read workload states.
fn start_python_probe(c: &mut Cluster) -> Result<()> {
    // The hostile client of the bad-Hello scenario runs from the same folder.
    let probe_dir = c.dir().join("probe");
    std::fs::create_dir_all(&probe_dir)?;
    std::fs::write(probe_dir.join("raw_client.py"), RAW_CLIENT)?;
    let image = ank_system_tests::podman::test_image();
    let b = c.b().to_owned();
    apply_python_app(
        c,
        "sdkapp",
        ("probe.py", PYTHON_PROBE),
        r#"[{type: StateRule, operation: ReadWrite, filterMasks: ["desiredState.workloads.helper"]},
                   {type: StateRule, operation: Read, filterMasks: ["workloadStates"]},
                   {type: LogRule, workloadNames: ["help*"]}]"#,
        &[("HELPER_AGENT", &b), ("HELPER_IMAGE", &image)],
    )
}

/// The Rust SDK probe (`tests/examples/rust_sdk_probe.rs`), which `cargo test` builds beside
/// the test executable.
fn rust_probe() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the test executable")?;
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("the test executable is not in target/<profile>/deps")?;
    let probe = profile.join("examples").join("rust_sdk_probe");
    if !probe.is_file() {
        bail!(
            "{} is missing: build it with `cargo build -p ank-system-tests --examples`",
            probe.display()
        );
    }
    Ok(probe)
}

/// The container log of `workload` on `agent`.
fn log_of(c: &Cluster, agent: &str, workload: &str) -> Result<String> {
    let container = c.container(agent, workload)?;
    let out = ank_system_tests::podman::run(&["logs", &container.id])?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Waits until the probe printed `line_prefix`, failing at once on a `FAIL` step.
fn wait_probe_line(c: &Cluster, prefix: &str, within: Duration) -> Result<String> {
    wait_line_of(c, "sdkapp", prefix, within)
}

/// Waits until workload `workload` on agent A printed `line_prefix`, failing at once on a `FAIL`
/// step.
fn wait_line_of(c: &Cluster, workload: &str, prefix: &str, within: Duration) -> Result<String> {
    let a = c.a().to_owned();
    wait_for(&format!("{workload} to print `{prefix}`"), within, || {
        let log = log_of(c, &a, workload)?;
        if let Some(fail) = log
            .lines()
            .find(|l| l.starts_with("STEP") && l.contains(" FAIL "))
        {
            bail!("the SDK app failed a step: {fail}\n--- its log ---\n{log}");
        }
        Ok(log
            .lines()
            .find(|l| l.starts_with(prefix))
            .map(str::to_owned))
    })
    .map_err(|e| {
        let log = log_of(c, &a, workload).unwrap_or_default();
        e.context(format!("--- the SDK app's log ---\n{log}"))
    })
}

on_both_brokers! {
    /// Connect, get state, apply a workload that then runs in podman (on the other agent), see its
    /// state, read its logs, be refused logs, a write and a read outside the rules, get an
    /// event, delete the workload.
    fn issue_15_the_python_sdk_manages_a_helper_workload_within_its_rules(c) {
        start_python_probe(c)?;
        let long = Duration::from_secs(90);
        wait_probe_line(c, "STEP connect ok", long)?;
        wait_probe_line(c, "STEP get_state ok", long)?;
        let apply = wait_probe_line(c, "STEP apply ok", long)?;
        let b = c.b().to_owned();
        if !apply.contains("helper.") || !apply.contains(&b) {
            bail!("apply did not name the new instance `helper.<id>.{b}`: {apply}");
        }
        wait_probe_line(c, "STEP running ok", long)?;
        // It really runs in podman, on agent B.
        let helper = c.container(&b, "helper")?;
        anyhow::ensure!(helper.state == "running", "helper is {}", helper.state);
        std::fs::write(c.dir().join("probe/continue"), b"")?;
        wait_probe_line(c, "STEP see_state ok", long)?;
        wait_probe_line(c, "STEP logs ok", long)?;
        wait_probe_line(c, "STEP refused_logs ok", long)?;
        wait_probe_line(c, "STEP refused_write ok", long)?;
        wait_probe_line(c, "STEP refused_read ok", long)?;
        anyhow::ensure!(
            c.containers(&b, "forbidden")?.is_empty(),
            "the refused workload was started"
        );
        wait_probe_line(c, "STEP first_event ok", long)?;
        wait_probe_line(c, "STEP delete ok", long)?;
        wait_probe_line(c, "STEP delete_event ok", long)?;
        wait_probe_line(c, "STEPS done", long)?;
        c.wait_gone("helper")?;
        Ok(())
    }
}

on_both_brokers! {
    /// Agent kill -9 and restart: the SDK app, adopted with its container, keeps working
    /// without being restarted.
    fn issue_15_the_python_sdk_keeps_working_after_its_agent_is_killed_and_restarted(c) {
        start_python_probe(c)?;
        // This scenario does not look at the helper: the probe need not wait for it.
        std::fs::write(c.dir().join("probe/continue"), b"")?;
        wait_probe_line(c, "STEPS done", Duration::from_secs(120))?;
        let a = c.a().to_owned();
        let container = c.container(&a, "sdkapp")?;
        c.kill_agent(&a)?;
        c.start_agent(&a)?;
        let seen = log_of(c, &a, "sdkapp")?;
        let before = seen.lines().filter(|l| l.starts_with("ALIVE")).count();
        wait_for("the SDK app to be served again after the restart", Duration::from_secs(60), || {
            let log = log_of(c, &a, "sdkapp")?;
            let ok_after = log
                .lines()
                .filter(|l| l.starts_with("ALIVE"))
                .skip(before)
                .filter(|l| l.ends_with(" ok"))
                .count();
            Ok((ok_after >= 3).then_some(()))
        })?;
        let again = c.container(&a, "sdkapp")?;
        anyhow::ensure!(again.id == container.id, "the SDK app's container was recreated");
        Ok(())
    }
}

on_both_brokers! {
    /// Only workloads with allow rules get the FIFO folder; deny rules alone give nothing.
    fn issue_15_a_workload_without_allow_rules_has_no_control_interface(c) {
        c.apply(
            r#"
apiVersion: v1
workloads:
  plain:
    runtime: podman
    agent: $A
    controlInterfaceAccess:
      denyRules:
        - type: StateRule
          operation: Read
          filterMasks: ["desiredState"]
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "if [ -e /run/ankaios/control_interface ]; then echo ci-present; else echo ci-absent; fi; trap 'exit 0' TERM; sleep 3600 & wait"]
  allowed:
    runtime: podman
    agent: $A
    controlInterfaceAccess:
      allowRules:
        - type: StateRule
          operation: Read
          filterMasks: ["workloadStates"]
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "if [ -p /run/ankaios/control_interface/input ] && [ -p /run/ankaios/control_interface/output ]; then echo ci-present; else echo ci-absent; fi; trap 'exit 0' TERM; sleep 3600 & wait"]
"#,
            &[],
        )?
        .expect_ok()?;
        let a = c.a().to_owned();
        for (workload, expected) in [("plain", "ci-absent"), ("allowed", "ci-present")] {
            wait_for(&format!("{workload} to say {expected}"), Duration::from_secs(60), || {
                let log = log_of(c, &a, workload)?;
                if log.contains("ci-present") || log.contains("ci-absent") {
                    if !log.contains(expected) {
                        bail!("{workload} printed {log:?}, expected {expected}");
                    }
                    return Ok(Some(()));
                }
                Ok(None)
            })
            .context(workload.to_owned())?;
        }
        Ok(())
    }
}

on_both_brokers! {
    /// The unchanged crate `ankaios_sdk` 1.1.x, built into a small program that runs inside a
    /// workload: connect (Hello "1.1.0"), apply a workload, get state, be refused a read.
    fn issue_15_the_rust_sdk_connects_applies_and_reads_state(c) {
        let probe = rust_probe()?;
        let image = ank_system_tests::podman::test_image();
        let mut options: Vec<String> = ["-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro"]
            .iter()
            .chain(&["-v", "/usr/lib64:/lib64:ro"])
            .map(|s| (*s).to_owned())
            .collect();
        options.push("-v".into());
        options.push(format!("{}:/opt/probe/rust_sdk_probe:ro", probe.display()));
        for (key, value) in [("HELPER_AGENT", c.b()), ("HELPER_IMAGE", image.as_str())] {
            options.push("-e".into());
            options.push(format!("{key}={value}"));
        }
        apply_sdk_app(
            c,
            "rustapp",
            r#"[{type: StateRule, operation: ReadWrite,
                    filterMasks: ["desiredState.workloads.rhelper", "workloadStates"]}]"#,
            &options,
            &["/opt/probe/rust_sdk_probe"],
        )?;
        let long = Duration::from_secs(90);
        wait_line_of(c, "rustapp", "STEP connect ok", long)?;
        let b = c.b().to_owned();
        let apply = wait_line_of(c, "rustapp", "STEP apply ok", long)?;
        anyhow::ensure!(apply.contains("rhelper.") && apply.contains(&b), "{apply}");
        wait_line_of(c, "rustapp", "STEP get_state ok", long)?;
        wait_line_of(c, "rustapp", "STEP refused_read ok", long)?;
        wait_line_of(c, "rustapp", "STEPS done", long)?;
        c.wait_state("rhelper", "Running(Ok)")?;
        anyhow::ensure!(!c.containers(&b, "rhelper")?.is_empty(), "rhelper does not run on {b}");
        Ok(())
    }
}

on_both_brokers! {
    /// A Hello of another major and a garbage one are closed with the reason, a valid one is
    /// accepted; 1 MiB of random bytes then neither stops the agent nor the SDK app beside it,
    /// and the hostile client's next Hello is accepted again.
    fn issue_15_bad_hellos_are_closed_with_a_reason_and_random_bytes_stop_nothing(c) {
        start_python_probe(c)?;
        std::fs::write(c.dir().join("probe/continue"), b"")?;
        wait_probe_line(c, "STEPS done", Duration::from_secs(120))?;
        apply_python_app(
            c,
            "raw",
            ("raw_client.py", RAW_CLIENT),
            r#"[{type: StateRule, operation: Read, filterMasks: ["workloadStates"]}]"#,
            &[],
        )?;
        let long = Duration::from_secs(90);
        let a = c.a().to_owned();
        let closed = wait_line_of(c, "raw", "accepted", long)
            .and_then(|_| log_of(c, &a, "raw"))?;
        for version in ["0.7.0", "garbage"] {
            let reason = format!(
                "closed: Unsupported protocol version '{version}'. Currently supported '1'"
            );
            anyhow::ensure!(closed.contains(&reason), "no `{reason}` in:\n{closed}");
        }
        wait_line_of(c, "raw", "garbage-sent", long)?;
        let before = log_of(c, &a, "sdkapp")?
            .lines()
            .filter(|l| l.starts_with("ALIVE"))
            .count();
        wait_line_of(c, "raw", "reaccepted", long)?;
        // The SDK app beside it is still served, and the agent still runs workloads.
        wait_for("the SDK app to be served after the garbage", long, || {
            let log = log_of(c, &a, "sdkapp")?;
            let ok = log
                .lines()
                .filter(|l| l.starts_with("ALIVE"))
                .skip(before)
                .filter(|l| l.ends_with(" ok"))
                .count();
            Ok((ok >= 3).then_some(()))
        })?;
        c.apply(&ank_system_tests::manifests::long_running("after"), &[])?
            .expect_ok()?;
        Ok(())
    }
}

on_both_brokers! {
    /// `set_agent_tags` (mask `agents.<a>.tags`) within the rules: the controller asks the
    /// agent, the agent carries the tags in its status, and `ank get state agents` shows them;
    /// the tags of an agent outside the rules are refused and stay as they were.
    fn issue_15_the_python_sdk_sets_agent_tags_within_its_rules(c) {
        let (a, b) = (c.a().to_owned(), c.b().to_owned());
        apply_python_app(
            c,
            "tagger",
            ("tags_probe.py", TAGS_PROBE),
            &format!(r#"[{{type: StateRule, operation: ReadWrite, filterMasks: ["agents.{b}"]}}]"#),
            &[("TAG_AGENT", &b), ("OTHER_AGENT", &a)],
        )?;
        let long = Duration::from_secs(90);
        wait_line_of(c, "tagger", "STEP set_tags ok", long)?;
        wait_line_of(c, "tagger", "STEP read_tags ok", long)?;
        wait_line_of(c, "tagger", "STEP refused_tags ok", long)?;
        // What every reader of the bus sees: the agent's own status carries the tags.
        wait_for("ank get state to show agent B's new tags", long, || {
            let out = c.ank(&["get", "state", "-o", "json", &format!("agents.{b}.tags")])?;
            let state: serde_json::Value = match serde_json::from_str(&out.stdout) {
                Ok(state) => state,
                Err(_) => return Ok(None),
            };
            let tags = &state["agents"][&b]["tags"];
            Ok((tags["owner"] == "fleet" && tags["slot"] == "2").then_some(()))
        })?;
        let out = c.ank(&["get", "state", "-o", "json", &format!("agents.{a}.tags")])?;
        anyhow::ensure!(
            !out.stdout.contains("mallory"),
            "agent A got the refused tags: {}",
            out.stdout
        );
        Ok(())
    }
}

on_both_brokers! {
    /// podman-kube: the FIFOs are mounted into the container `controlInterfaceTarget` names
    /// (`<pod>/<container>`), where the unchanged SDK connects and reads state; the other
    /// container of the pod gets nothing; a target that names no container of the manifest is
    /// `Pending(StartingFailed)` with a reason naming it.
    fn issue_15_the_python_sdk_works_inside_a_kube_pod_named_by_the_control_interface_target(c) {
        let sdk = python_sdk()?;
        let probe_dir = c.dir().join("probe");
        std::fs::create_dir_all(&probe_dir)?;
        std::fs::write(probe_dir.join("kube_probe.py"), KUBE_PROBE)?;
        let host = |name: &str, path: &str| {
            format!("{{name: {name}, hostPath: {{path: {path}, type: Directory}}}}")
        };
        let volumes = [
            host("usr", "/usr"),
            host("lib", "/usr/lib"),
            host("lib64", "/usr/lib64"),
            host("sdk", &sdk.display().to_string()),
            host("probe", &probe_dir.display().to_string()),
        ]
        .join(", ");
        let mounts = "[{name: usr, mountPath: /usr, readOnly: true}, \
            {name: lib, mountPath: /lib, readOnly: true}, \
            {name: lib64, mountPath: /lib64, readOnly: true}, \
            {name: sdk, mountPath: /opt/sdk, readOnly: true}, \
            {name: probe, mountPath: /opt/probe, readOnly: true}]";
        let rules = r#"
    controlInterfaceAccess:
      allowRules:
        - type: StateRule
          operation: Read
          filterMasks: ["workloadStates"]"#;
        let pod = |workload: &str, target: &str| {
            format!(
                r#"
  {workload}:
    runtime: podman-kube
    agent: $A{rules}
    runtimeConfig: |
      controlInterfaceTarget: {target}
      manifest: |
        apiVersion: v1
        kind: Pod
        metadata:
          name: {workload}-$KID
        spec:
          restartPolicy: Never
          containers:
            - name: app
              image: $IMAGE
              imagePullPolicy: Never
              command: ["/usr/bin/python3", "-u", "/opt/probe/kube_probe.py"]
              env: [{{name: PYTHONPATH, value: /opt/sdk}}]
              volumeMounts: {mounts}
            - name: side
              image: $IMAGE
              imagePullPolicy: Never
              command: ["sh", "-c", "if [ -e /run/ankaios/control_interface ]; then echo side-ci-present; else echo side-ci-absent; fi; trap 'exit 0' TERM; sleep 3600 & wait"]
          volumes: [{volumes}]
"#
            )
        };
        let manifest = format!(
            "apiVersion: v1\nworkloads:{}{}",
            pod("kubeapp", "kubeapp-$KID/app"),
            pod("kubemiss", "kubemiss-$KID/nothing"),
        );
        // Exit 3: applied, and a workload (kubemiss) failed.
        c.apply(&manifest, &[])?.expect_code(3)?;
        let long = Duration::from_secs(90);
        let row = c.wait_state_within("kubemiss", "Pending(StartingFailed)", long)?;
        anyhow::ensure!(
            row.info.contains("no container named 'nothing'"),
            "the reason does not name the missing container: {}",
            row.info
        );
        wait_for("the SDK app in the pod to read state", long, || {
            let out = c.ank(&["logs", "kubeapp"])?;
            if let Some(fail) = out.stdout.lines().find(|l| l.contains("STEP") && l.contains(" FAIL ")) {
                bail!("the SDK app failed a step: {fail}\n{}", out.stdout);
            }
            let done = out.stdout.contains("STEP get_state ok") && out.stdout.contains("STEPS done");
            let side = out.stdout.contains("side-ci-");
            if done && side {
                anyhow::ensure!(
                    out.stdout.contains("side-ci-absent"),
                    "the other container got the control interface: {}",
                    out.stdout
                );
                return Ok(Some(()));
            }
            Ok(None)
        })?;
        Ok(())
    }
}

on_both_brokers! {
    /// Events are pushed by the controller as the state changes (no polling): an apply gives
    /// the subscriber an event adding exactly the subscribed workload, with that path in
    /// `addedFields`; after its cancel, the subscription gets nothing more (the bus shows no
    /// event for it), while a second subscription gets the removal of the delete.
    fn issue_15_events_are_pushed_per_change_with_altered_fields_and_stop_at_cancel(c) {
        let image = ank_system_tests::podman::test_image();
        let b = c.b().to_owned();
        apply_python_app(
            c,
            "evapp",
            ("events_probe.py", EVENTS_PROBE),
            r#"[{type: StateRule, operation: ReadWrite,
                    filterMasks: ["desiredState.workloads.evhelper"]}]"#,
            &[("HELPER_AGENT", &b), ("HELPER_IMAGE", &image)],
        )?;
        let long = Duration::from_secs(90);
        let added = wait_line_of(c, "evapp", "STEP added_event ok", long)?;
        anyhow::ensure!(
            added.ends_with("['desiredState.workloads.evhelper']"),
            "the event does not add exactly the subscribed workload: {added}"
        );
        let removed = wait_line_of(c, "evapp", "STEP removed_event ok", long)?;
        anyhow::ensure!(
            removed.ends_with("['desiredState.workloads.evhelper']"),
            "the event does not remove exactly the subscribed workload: {removed}"
        );
        wait_line_of(c, "evapp", "STEPS done", long)?;

        // On the bus: the pushed events of the agent, per subscription, in order.
        let topic = format!("{}/agents/{}/events", c.prefix(), c.a());
        let events: Vec<serde_json::Value> = c
            .bus_messages()
            .into_iter()
            .filter(|m| m.topic == topic)
            .map(|m| m.json())
            .collect();
        let subscriptions: Vec<&str> = events
            .iter()
            .filter_map(|e| e["subscription"].as_str())
            .collect();
        let Some(first) = subscriptions.first().copied() else {
            bail!("no event was pushed on {topic}");
        };
        let of_first: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e["subscription"] == first)
            .collect();
        anyhow::ensure!(
            of_first.len() == 1 && of_first[0]["addedFields"][0] == "desiredState.workloads.evhelper",
            "the cancelled subscription got more than its one event: {of_first:?}"
        );
        anyhow::ensure!(
            events.iter().any(|e| e["subscription"] != first
                && e["removedFields"][0] == "desiredState.workloads.evhelper"),
            "the second subscription's removal is not on the bus: {events:?}"
        );
        Ok(())
    }
}

/// Under a password file and the generated ACL, an agent cannot write another agent's request
/// topic: a setState that the controller would carry out for the other agent (its workload's
/// rules allow it) is dropped by the broker when agent A's identity publishes it, and carried
/// out when the other agent's own identity does.
mod issue_15_an_agent_cannot_write_another_agents_request_topic_under_the_acl {
    use super::*;
    use ank_system_tests::secured::{self, Secured};
    use ank_system_tests::BrokerKind;

    #[test]
    fn embedded() {
        secured::run(BrokerKind::Embedded, "issue_15_acl_e", scenario);
    }

    #[test]
    fn mosquitto() {
        secured::run(BrokerKind::Mosquitto, "issue_15_acl_m", scenario);
    }

    /// Runs the probe as `agent` with `request` on `topic`; returns what the controller
    /// answered that client.
    fn probe(s: &Secured, agent: &str, topic: &str, request: &serde_json::Value) -> Result<String> {
        let script = s.dir().join("acl_probe.py");
        std::fs::write(&script, ACL_PROBE)?;
        let pythonpath = std::env::var("ANK_TEST_PYTHONPATH").unwrap_or_else(|_| {
            ank_system_tests::podman::workspace_root()
                .join(".test-env/python")
                .display()
                .to_string()
        });
        let out = std::process::Command::new("python3")
            .env("PYTHONPATH", pythonpath)
            .arg(&script)
            .arg(s.port().to_string())
            .arg(s.prefix())
            .arg(agent)
            .arg(format!("agent-{agent}-pw"))
            .arg(topic)
            .arg(request.to_string())
            .output()
            .context("python3 with paho-mqtt (scripts/test-env.sh)")?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() || !stdout.contains("BARRIER answered") {
            bail!(
                "the ACL probe as agent {agent} failed: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(stdout)
    }

    fn scenario(s: &mut Secured) -> Result<()> {
        let peer = s.peer_agent();
        // A workload of the peer agent (which runs nothing) whose rules allow writing `evil`.
        let applied = s.apply(&format!(
            r#"
apiVersion: v1
workloads:
  peerapp:
    runtime: podman
    agent: {peer}
    controlInterfaceAccess:
      allowRules:
        - type: StateRule
          operation: ReadWrite
          filterMasks: ["desiredState.workloads.evil"]
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
"#
        ));
        match applied {
            // Exit 3: applied; the peer's workload has no agent to run it.
            Err(e) if !format!("{e:#}").contains("exit status: 3") => return Err(e),
            _ => {}
        }
        let topic = format!("{}/agents/{peer}/requests", s.prefix());
        let request = |reply_to: &str| {
            serde_json::json!({
                "id": "forged",
                "replyTo": reply_to,
                "onBehalfOf": "peerapp",
                "op": "setState",
                "masks": ["desiredState.workloads.evil"],
                "state": {"desiredState": {"workloads": {"evil": {
                    "agent": "", "runtime": "podman", "runtimeConfig": "image: evil"}}}},
            })
        };
        let evil = |s: &Secured| -> Result<bool> {
            let out = s.ank(&["get", "state", "-o", "json", "desiredState.workloads"])?;
            let state: serde_json::Value = serde_json::from_str(&out)?;
            Ok(state["desiredState"]["workloads"].get("evil").is_some())
        };
        // Agent A writes the peer's topic: the broker drops it, the controller never sees it.
        let own = s.agent().to_owned();
        let answers = probe(s, &own, &topic, &request(&format!("agent-{peer}.probe")))?;
        anyhow::ensure!(
            !answers.contains("\"forged\""),
            "the forged request was answered: {answers}"
        );
        anyhow::ensure!(
            !evil(s)?,
            "agent {own} wrote agent {peer}'s request topic: {}\n{answers}",
            s.ank(&["get", "state", "-o", "json", "desiredState.workloads"])?
        );
        // The peer's own identity: the same request is carried out.
        let answers = probe(s, &peer, &topic, &request(&format!("agent-{peer}.probe")))?;
        anyhow::ensure!(
            answers.contains("\"forged\"") && answers.contains("\"ok\""),
            "the peer's own request was not carried out: {answers}"
        );
        anyhow::ensure!(evil(s)?, "the peer's own request did not add evil");
        Ok(())
    }
}
