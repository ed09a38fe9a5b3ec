//! Issue 14: what outside input puts into topics, and retained messages the broker cannot take.
//!
//! A log request's `clientId` becomes a topic level of the agent's publishes: a NUL, 70,000
//! characters or `/ + #` there must be refused when the request is decoded, without the agent
//! losing its session. And a request whose desired state would be larger than the broker
//! accepts must be refused before it is saved, while a state that is already too big on disk
//! still lets the controller start and be repaired.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ank_system_tests::manifests::long_running;
use ank_system_tests::{on_both_brokers, Cluster};
use ank_testkit::blocking::wait_until;
use anyhow::{ensure, Context};
use serde_json::{json, Value};

/// A long-running workload that prints a line first, so its logs have something to show.
const TALKER: &str = r#"
apiVersion: v1
workloads:
  talker:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "echo talker-says-hello; trap 'exit 0' TERM; while true; do sleep 1; done"]
"#;

/// 400 KiB: two of these fit in a 1 MiB desired state, three do not.
const BIG: usize = 400 * 1024;

/// Publishes `payload` to `topic` with `mosquitto_pub`, as any client on the bus can.
fn publish_raw(c: &Cluster, topic: &str, payload: &[u8]) -> anyhow::Result<()> {
    let file = tempfile::NamedTempFile::new_in(c.dir()).context("creating a payload file")?;
    std::fs::write(file.path(), payload).context("writing the payload file")?;
    let status = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &c.port().to_string(),
            "-q",
            "1",
            "-t",
            topic,
        ])
        .arg("-f")
        .arg(file.path())
        .status()
        .context("running mosquitto_pub")?;
    ensure!(
        status.success(),
        "mosquitto_pub to {topic} failed: {status}"
    );
    Ok(())
}

/// Every status payload the reader saw for `agent`, as JSON, in order.
fn statuses(c: &Cluster, agent: &str) -> Vec<Value> {
    let topic = c.topics().agent_status(agent);
    c.bus_messages()
        .into_iter()
        .filter(|m| m.topic == topic)
        .map(|m| m.json())
        .collect()
}

/// A manifest with only configs, each `size` bytes of one letter.
fn configs_manifest(names: &[&str], size: usize) -> String {
    let mut text = String::from("apiVersion: v1\nconfigs:\n");
    for name in names {
        text.push_str(&format!("  {name}: \"{}\"\n", "x".repeat(size)));
    }
    text
}

fn state_file(c: &Cluster) -> PathBuf {
    c.dir().join("controller").join("state.json")
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Every message the reader saw on the controller's retained desired topics.
fn desired_messages(c: &Cluster) -> Vec<(String, String)> {
    let state = c.topics().desired_state();
    c.bus_messages()
        .into_iter()
        .filter(|m| m.topic == state || m.topic.ends_with("/desired"))
        .map(|m| (m.topic, m.payload))
        .collect()
}

on_both_brokers! {
    /// Log requests whose `clientId` cannot name a topic are dropped: the agent stays online
    /// with the same epoch, never reconnects, still streams logs and still runs new workloads.
    fn issue_14_log_requests_with_unusable_client_ids_keep_the_agent_online(c) {
        c.apply(TALKER, &[])?.expect_ok()?;
        c.wait_state("talker", "Running(Ok)")?;
        let agent = c.a().to_owned();
        let instance = c.last_workload_state(&agent, "talker")["instanceId"]
            .as_str()
            .context("talker has an instance id")?
            .to_owned();
        let before = statuses(c, &agent);
        let epoch = before.last().context("agent A has a status")?["epoch"].clone();
        let container = c.container(&agent, "talker")?;

        let huge = "a".repeat(70_000);
        for client_id in ["a\u{0}b", huge.as_str(), "a/b", "+", "#"] {
            let request = json!({
                "id": "hostile",
                "clientId": client_id,
                "instanceIds": [instance],
                "follow": false,
            });
            publish_raw(c, &c.topics().log_requests(&agent), request.to_string().as_bytes())?;
        }

        // A normal log request is still answered, and a new workload still starts.
        let logs = c.ank(&["logs", "talker"])?;
        logs.expect_ok()?;
        ensure!(logs.stdout.contains("talker-says-hello"), "no log line: {logs}");
        c.apply(&long_running("after"), &[])?.expect_ok()?;
        c.wait_state("after", "Running(Ok)")?;
        c.wait_state("talker", "Running(Ok)")?;
        ensure!(
            c.container(&agent, "talker")?.id == container.id,
            "talker's container was replaced"
        );

        let after = statuses(c, &agent);
        for status in &after[before.len()..] {
            ensure!(
                status["state"] == "online" && status["epoch"] == epoch,
                "agent A left the bus (status {status}); every status since the requests: {:?}",
                &after[before.len()..]
            );
        }
        let log = std::fs::read_to_string(c.dir().join("logs").join(format!("agent-{agent}.log")))?;
        let refusals = log
            .lines()
            .filter(|l| l.contains("unreadable log request ignored") && l.contains("invalid client id"))
            .count();
        ensure!(refusals == 5, "the agent logged {refusals} of the 5 refusals");
        ensure!(log.len() < 100_000, "the agent's log repeats the 70,000 characters");
        Ok(())
    }
}

on_both_brokers! {
    /// An apply that would push the desired state past the broker's 1 MiB is refused with a
    /// message naming the message, its size and the limit; state.json and every retained topic
    /// stay as they were, and the controller keeps serving.
    fn issue_14_an_apply_whose_desired_state_would_not_fit_is_refused(c) {
        c.apply(&configs_manifest(&["big1", "big2"], BIG), &[])?.expect_ok()?;
        let saved = read(&state_file(c))?;
        let published = desired_messages(c);
        ensure!(
            published.iter().any(|(_, p)| p.contains("big2")),
            "the 800 KiB desired state was not published"
        );

        let refused = c.apply(&configs_manifest(&["big3"], BIG), &[])?;
        refused.expect_code(1)?;
        for part in [
            "the desired state",
            "would be 1.2 MiB",
            "over the 1 MiB",
            "(--max-message-size)",
        ] {
            ensure!(refused.stderr.contains(part), "`{part}` missing: {refused}");
        }
        ensure!(read(&state_file(c))? == saved, "state.json changed");

        // The controller still serves: a normal apply runs, and only then do the desired
        // topics change (so the refusal published nothing).
        let messages_before_apply = desired_messages(c);
        ensure!(messages_before_apply == published, "the refused apply published something");
        c.apply(TALKER, &[])?.expect_ok()?;
        c.wait_state("talker", "Running(Ok)")?;
        ensure!(
            c.controller_status().is_some_and(|s| s.json()["state"] == "online"),
            "the controller is not online"
        );
        Ok(())
    }
}

on_both_brokers! {
    /// A state.json too big to publish (an older version wrote it) does not stop the
    /// controller: it starts, says loudly what it cannot publish, refuses what keeps it too
    /// big, and accepts the delete that repairs it; then everything works again.
    fn issue_14_a_persisted_state_too_big_to_publish_is_repaired_by_a_delete(c) {
        c.apply(&configs_manifest(&["big1", "big2"], BIG), &[])?.expect_ok()?;
        c.stop_controller()?;
        let path = state_file(c);
        let mut state: Value = serde_json::from_slice(&read(&path)?)?;
        state["desiredState"]["configs"]["big3"] = json!("x".repeat(BIG));
        std::fs::write(&path, serde_json::to_vec(&state)?)?;
        let generation = state["generation"].as_u64().context("a generation")?;

        c.start_controller()?;

        // Still too big after this apply: refused, nothing changes.
        c.apply(TALKER, &[])?.expect_code(1)?;
        // The delete makes it fit: accepted and published.
        c.apply(&configs_manifest(&["big2", "big3"], 1), &["-d"])?.expect_ok()?;
        let desired = c
            .last_message(&c.topics().desired_state())
            .context("a desired state on the bus")?
            .json();
        ensure!(
            desired["generation"].as_u64() > Some(generation)
                && desired["desiredState"]["configs"].get("big3").is_none(),
            "the repaired desired state was not published: generation {}",
            desired["generation"]
        );
        c.apply(TALKER, &[])?.expect_ok()?;
        c.wait_state("talker", "Running(Ok)")?;
        // The start said which message it could not publish.
        let log_path = c.dir().join("logs").join("controller.log");
        wait_until(
            "the controller to say what it cannot publish",
            Duration::from_secs(10),
            || Ok(std::fs::read_to_string(&log_path)?),
            |log| log.contains("cannot publish the persisted state: the desired state"),
        )?;
        Ok(())
    }
}
