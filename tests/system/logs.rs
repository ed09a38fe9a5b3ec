//! Log streams end with their requester (issue 14 points 4 and 8): a vanished `ank logs -f`,
//! Ctrl+C, an explicit cancel, the per-agent cap, and errors instead of podman's words as log
//! lines. Each scenario checks that no `podman logs` is left and that the agent keeps serving.

use std::process::Command;
use std::time::Duration;

use ank_schemas::{LogRequest, LOG_LEASE};
use ank_system_tests::manifests::long_running;
use ank_system_tests::{on_both_brokers, Cluster};
use ank_testkit::blocking::{wait_for, wait_until};
use anyhow::{ensure, Context, Result};

/// A workload that prints `first-line`, then whatever is written to /tmp/say.
const TALKER: &str = r#"
apiVersion: v1
workloads:
  talker:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "echo first-line; trap 'exit 0' TERM; while true; do if [ -f /tmp/say ]; then cat /tmp/say; rm /tmp/say; fi; sleep 0.2; done"]
"#;

/// How long past the lease a stream may take to end: the agent's timer, podman's death, and a
/// loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(10);

/// The `podman logs` processes reading `container` (by a prefix of its id), as `pgrep -af`
/// prints them.
fn podman_logs_of(container: &str) -> Result<Vec<String>> {
    let short: String = container.chars().take(12).collect();
    let out = Command::new("pgrep")
        .args(["-af", "podman logs"])
        .output()
        .context("running pgrep")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&short) && !l.contains("pgrep"))
        .map(str::to_owned)
        .collect())
}

fn wait_podman_logs(container: &str, running: bool, within: Duration) -> Result<Vec<String>> {
    let what = if running {
        "a `podman logs` of the talker to run"
    } else {
        "every `podman logs` of the talker to be gone"
    };
    wait_until(
        what,
        within,
        || podman_logs_of(container),
        |p| p.is_empty() != running,
    )
}

/// Publishes `request` on agent `agent`'s request topic with `mosquitto_pub`: a raw client,
/// not ankmq's bus code.
fn raw_publish(c: &Cluster, agent: &str, request: &LogRequest) -> Result<()> {
    let payload = serde_json::to_string(request)?;
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &c.port().to_string(), "-q", "1"])
        .args(["-t", &c.topics().log_requests(agent), "-m", &payload])
        .status()
        .context("running mosquitto_pub")?;
    ensure!(status.success(), "mosquitto_pub failed: {status}");
    Ok(())
}

/// The log events the third-party reader saw on `client`'s stream from `agent`.
fn events_to(c: &Cluster, agent: &str, client: &str) -> Vec<serde_json::Value> {
    let topic = c.topics().log_stream(agent, &cid(client));
    c.bus_messages()
        .into_iter()
        .filter(|m| m.topic == topic)
        .map(|m| m.json())
        .collect()
}

fn stop_reasons(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "stopped")
        .map(|e| e["reason"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Every log client id the reader saw in a request to `agent`.
fn requesters(c: &Cluster, agent: &str) -> Vec<String> {
    let topic = c.topics().log_requests(agent);
    c.bus_messages()
        .into_iter()
        .filter(|m| m.topic == topic)
        .filter_map(|m| m.json()["clientId"].as_str().map(str::to_owned))
        .collect()
}

fn talker_instance(c: &Cluster) -> Result<ank_schemas::InstanceId> {
    let a = c.a().to_owned();
    let state = c.last_workload_state(&a, "talker");
    let id = state["instanceId"]
        .as_str()
        .context("talker has an instance id")?;
    id.parse()
        .map_err(|e| anyhow::anyhow!("instance id {id}: {e:?}"))
}

/// The agent keeps serving: a new workload runs, and a plain `ank logs` still reads the talker.
fn agent_still_serves(c: &mut Cluster) -> Result<()> {
    c.apply(&long_running("after"), &[])?.expect_ok()?;
    c.wait_state("after", "Running(Ok)")?;
    let logs = c.ank(&["logs", "talker"])?;
    logs.expect_ok()?;
    ensure!(logs.stdout.contains("first-line"), "{logs}");
    Ok(())
}

/// Sends `signal` to `pid` (a process the cluster started and still owns).
fn signal(pid: u32, signal: i32) -> Result<()> {
    ank_system_tests::signal(pid, signal)
}

/// Whether `pid` ended (gone, or a zombie its parent has not reaped yet).
fn has_exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

/// Waits until the (re)started agent `agent` has listed podman and reconciled once: its status
/// of this epoch carries `observedGeneration`. Before that it does not know its containers.
fn settled(c: &Cluster, agent: &str) -> Result<()> {
    wait_for(
        "the agent to reconcile once",
        Duration::from_secs(20),
        || {
            let Some(status) = c.agent_status(agent) else {
                return Ok(None);
            };
            Ok(status.json()["observedGeneration"].as_u64().map(|_| ()))
        },
    )
}

/// Starts `ank logs -f talker`, waits for its first line and for its `podman logs`, and
/// returns its pid and its client id.
fn follow_talker(c: &mut Cluster, container: &str) -> Result<(u32, String)> {
    let a = c.a().to_owned();
    let before = requesters(c, &a);
    let logs = c.ank_background(&["logs", "-f", "talker"])?;
    let (pid, path) = (logs.pid(), logs.log_path().to_path_buf());
    wait_until(
        "logs -f to print the first line",
        Duration::from_secs(15),
        || Ok(std::fs::read_to_string(&path).unwrap_or_default()),
        |t| t.contains("first-line"),
    )?;
    wait_podman_logs(container, true, Duration::from_secs(10))?;
    let client = wait_for(
        "the reader to see the log request",
        Duration::from_secs(10),
        || Ok(requesters(c, &a).into_iter().find(|r| !before.contains(r))),
    )?;
    Ok((pid, client))
}

on_both_brokers!(
    /// kill -9 of `ank logs -f`: nobody renews, so within the lease (plus slack) the stream's
    /// `podman logs` is gone and the agent said `stopped` with reason `leaseExpired`. While
    /// `ank` lived, its renewals kept the stream beyond one lease.
    fn issue_14_follow_stream_of_a_killed_requester_ends_with_its_lease(c) {
        c.apply(TALKER, &[])?.expect_ok()?;
        let a = c.a().to_owned();
        let container = c.container(&a, "talker")?.id;
        let (pid, client) = follow_talker(c, &container)?;
        let request_topic = c.topics().log_requests(&a);
        let renewals = |c: &Cluster| {
            c.bus_messages()
                .iter()
                .filter(|m| m.topic == request_topic && m.json()["op"] == "renew" && m.json()["clientId"] == client.as_str())
                .count()
        };
        // More renewals than fit into one lease: the stream outlived its first lease.
        let needed = (LOG_LEASE.as_secs() / ank_schemas::LOG_RENEW_INTERVAL.as_secs() + 1) as usize;
        wait_for("renewals beyond one lease", LOG_LEASE * 2 + SLACK, || Ok((renewals(c) >= needed).then_some(())))?;
        ensure!(!podman_logs_of(&container)?.is_empty(), "renewed, the stream still runs");
        ensure!(stop_reasons(&events_to(c, &a, &client)).is_empty(), "no stop while renewed");

        signal(pid, libc::SIGKILL)?;
        wait_podman_logs(&container, false, LOG_LEASE + SLACK)?;
        wait_until("stopped(leaseExpired)", SLACK, || Ok(stop_reasons(&events_to(c, &a, &client))), |r| r == &["leaseExpired"])?;
        agent_still_serves(c)
    }
);

on_both_brokers!(
    /// Ctrl+C (SIGINT) of `ank logs -f`: it sends a cancel first and exits 0; the agent ends the
    /// stream with reason `cancelled` (not by the lease) and its `podman logs` is gone.
    fn issue_14_ctrl_c_of_logs_follow_cancels_its_stream(c) {
        c.apply(TALKER, &[])?.expect_ok()?;
        let a = c.a().to_owned();
        let container = c.container(&a, "talker")?.id;
        let (pid, client) = follow_talker(c, &container)?;
        signal(pid, libc::SIGINT)?;
        wait_for("ank logs -f to exit", Duration::from_secs(10), || Ok(has_exited(pid).then_some(())))?;
        let request_topic = c.topics().log_requests(&a);
        wait_for("the cancel on the bus", SLACK, || {
            Ok(c.bus_messages().iter().any(|m| m.topic == request_topic && m.json()["op"] == "cancel" && m.json()["clientId"] == client.as_str()).then_some(()))
        })?;
        wait_podman_logs(&container, false, SLACK)?;
        wait_until("stopped(cancelled)", SLACK, || Ok(stop_reasons(&events_to(c, &a, &client))), |r| r == &["cancelled"])?;
        agent_still_serves(c)
    }
);

on_both_brokers!(
    /// A raw MQTT client opens a follow stream and never renews. A cancel naming its request
    /// but sent with another client id changes nothing (a line written afterwards still
    /// arrives); its own cancel ends the stream at once.
    fn issue_14_only_the_requesting_client_can_cancel_its_stream(c) {
        c.apply(TALKER, &[])?.expect_ok()?;
        let a = c.a().to_owned();
        let container = c.container(&a, "talker")?.id;
        let instance = talker_instance(c)?;
        let open = LogRequest { follow: true, ..LogRequest::open("raw1", &cid("raw-reader"), vec![instance]) };
        raw_publish(c, &a, &open)?;
        wait_until("the first line on the raw stream", SLACK, || Ok(events_to(c, &a, "raw-reader")), |e| e.iter().any(|e| e["line"] == "first-line"))?;
        wait_podman_logs(&container, true, SLACK)?;

        raw_publish(c, &a, &LogRequest::cancel("raw1", &cid("intruder")))?;
        let request_topic = c.topics().log_requests(&a);
        wait_for("the foreign cancel on the bus", SLACK, || {
            Ok(c.bus_messages().iter().any(|m| m.topic == request_topic && m.json()["clientId"] == "intruder").then_some(()))
        })?;
        ank_system_tests::podman::run(&["exec", &container, "sh", "-c", "echo after-intruder > /tmp/say"])?;
        let seen = wait_until("the later line on the raw stream", SLACK, || Ok(events_to(c, &a, "raw-reader")), |e| e.iter().any(|e| e["line"] == "after-intruder"))?;
        ensure!(stop_reasons(&seen).is_empty(), "a foreign cancel stopped nothing: {seen:?}");
        ensure!(events_to(c, &a, "intruder").is_empty(), "nothing goes to the intruder");

        raw_publish(c, &a, &LogRequest::cancel("raw1", &cid("raw-reader")))?;
        wait_until("stopped(cancelled)", SLACK, || Ok(stop_reasons(&events_to(c, &a, "raw-reader"))), |r| r == &["cancelled"])?;
        // Well within the lease: the cancel, not the lease, ended it.
        wait_podman_logs(&container, false, LOG_LEASE / 2)?;
        agent_still_serves(c)
    }
);

on_both_brokers!(
    /// With `--max-log-streams 2`, a third follower is refused with a clear error (exit 1);
    /// the two running streams go on (a later line reaches both) and the agent keeps serving.
    fn issue_14_the_per_agent_cap_refuses_one_stream_more(c) {
        let a = c.a().to_owned();
        c.kill_agent(&a)?;
        c.start_agent_with(&a, &["--max-log-streams", "2"])?;
        c.apply(TALKER, &[])?.expect_ok()?;
        let container = c.container(&a, "talker")?.id;
        let mut followers = Vec::new();
        for _ in 0..2 {
            let logs = c.ank_background(&["logs", "-f", "talker"])?;
            followers.push(logs.log_path().to_path_buf());
        }
        for path in &followers {
            wait_until("each follower to print the first line", Duration::from_secs(15), || Ok(std::fs::read_to_string(path).unwrap_or_default()), |t| t.contains("first-line"))?;
        }
        wait_until("two `podman logs`", SLACK, || podman_logs_of(&container), |p| p.len() == 2)?;

        let third = c.ank(&["logs", "-f", "talker"])?;
        third.expect_code(1)?;
        ensure!(third.stderr.contains("refused the log request") && third.stderr.contains("at most 2"), "a clear error: {third}");
        ensure!(!third.stdout.contains("first-line"), "no lines for the refused: {third}");
        ensure!(podman_logs_of(&container)?.len() == 2, "the refusal started nothing");

        ank_system_tests::podman::run(&["exec", &container, "sh", "-c", "echo after-refusal > /tmp/say"])?;
        for path in &followers {
            wait_until("the running followers to print a later line", SLACK, || Ok(std::fs::read_to_string(path).unwrap_or_default()), |t| t.contains("after-refusal"))?;
        }
        c.apply(&long_running("after"), &[])?.expect_ok()?;
        c.wait_state("after", "Running(Ok)")?;
        Ok(())
    }
);

on_both_brokers!(
    /// `ank logs --since 1e9s` is an error (exit 1, as Ankaios' errors after parsing) before
    /// anything is sent; the same
    /// request sent raw is refused by the agent with an event naming the field. A `podman logs`
    /// that fails becomes an error (exit 1), not a log line.
    fn issue_14_bad_since_is_refused_and_a_podman_failure_is_an_error(c) {
        c.apply(TALKER, &[])?.expect_ok()?;
        let a = c.a().to_owned();
        let out = c.ank(&["logs", "--since", "1e9s", "talker"])?;
        out.expect_code(1)?;
        ensure!(out.stderr.contains("`--since` value `1e9s`"), "names the flag and value: {out}");
        ensure!(out.stdout.is_empty(), "{out}");

        let instance = talker_instance(c)?;
        let bad = LogRequest { since: Some("1e9s".into()), ..LogRequest::open("raw2", &cid("raw-since"), vec![instance]) };
        raw_publish(c, &a, &bad)?;
        let events = wait_until("the refusal", SLACK, || Ok(events_to(c, &a, "raw-since")), |e| !e.is_empty())?;
        ensure!(events.len() == 1 && events[0]["event"] == "refused" && events[0]["reason"] == "invalid", "{events:?}");
        let message = events[0]["message"].as_str().unwrap_or("");
        ensure!(message.contains("`since` value `1e9s`"), "{message}");

        // An agent whose `podman logs` fails (a wrapper around the real podman).
        let wrapper = c.dir().join("podman-logs-fails.sh");
        std::fs::write(&wrapper, "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = logs ] && { echo 'some output'; echo 'Error: simulated logs failure' >&2; exit 125; }; done\nexec podman \"$@\"\n")?;
        Command::new("chmod").arg("755").arg(&wrapper).status()?;
        c.kill_agent(&a)?;
        let wrapper = wrapper.to_string_lossy().into_owned();
        c.start_agent_with(&a, &["--podman", &wrapper])?;
        settled(c, &a)?;
        let failed = c.ank(&["logs", "talker"])?;
        failed.expect_code(1)?;
        ensure!(failed.stderr.contains("Error: simulated logs failure"), "the error carries podman's last stderr line: {failed}");
        ensure!(!failed.stdout.contains("simulated"), "podman's error is not a log line: {failed}");
        ensure!(failed.stdout.contains("some output"), "the output before the failure is kept: {failed}");
        c.apply(&long_running("after"), &[])?.expect_ok()?;
        c.wait_state("after", "Running(Ok)")?;
        Ok(())
    }
);

on_both_brokers!(
    /// `ank logs -f` of a workload that prints nothing keeps following: the agent's `accepted`
    /// is its answer, so the response timeout (500 ms here) does not end it. Proof: it is still
    /// there to renew at 3 s, and prints a line written after that.
    fn issue_14_logs_follow_of_a_quiet_workload_waits_past_the_response_timeout(c) {
        c.apply(r#"
apiVersion: v1
workloads:
  quiet:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "trap 'exit 0' TERM; while true; do if [ -f /tmp/say ]; then cat /tmp/say; rm /tmp/say; fi; sleep 0.2; done"]
"#, &[])?.expect_ok()?;
        let a = c.a().to_owned();
        let container = c.container(&a, "quiet")?.id;
        let logs = c.ank_background(&["--response-timeout", "500ms", "logs", "-f", "quiet"])?;
        let (pid, path) = (logs.pid(), logs.log_path().to_path_buf());
        let client = wait_for("the log request on the bus", SLACK, || Ok(requesters(c, &a).first().cloned()))?;
        wait_until("the agent's accepted", SLACK, || Ok(events_to(c, &a, &client)), |e| e.iter().any(|e| e["event"] == "accepted"))?;
        let request_topic = c.topics().log_requests(&a);
        wait_for("a renewal from the follower", SLACK, || {
            Ok(c.bus_messages().iter().any(|m| m.topic == request_topic && m.json()["op"] == "renew" && m.json()["clientId"] == client.as_str()).then_some(()))
        })?;
        ensure!(!has_exited(pid), "still following: {}", std::fs::read_to_string(&path).unwrap_or_default());
        // Said twice if need be: once in a CI run podman 4.3.1's `logs -f` of this quiet container
        // never printed the one late line (no podman or agent error; 12 reruns did not show it
        // again). The behaviour named is that following goes on past the response timeout, which
        // any late line proves; a stream that delivers none still fails.
        let output = || Ok(std::fs::read_to_string(&path).unwrap_or_default());
        let late = |t: &String| t.contains("finally");
        ank_system_tests::podman::run(&["exec", &container, "sh", "-c", "echo finally > /tmp/say"])?;
        if wait_until("the late line", SLACK / 2, output, late).is_err() {
            eprintln!("the first late line did not arrive; podman logs processes: {:?}", podman_logs_of(&container));
            ank_system_tests::podman::run(&["exec", &container, "sh", "-c", "echo finally > /tmp/say"])?;
            wait_until("the late line, said again", SLACK, output, late)?;
        }
        signal(pid, libc::SIGINT)?;
        wait_podman_logs(&container, false, SLACK)?;
        c.apply(&long_running("after"), &[])?.expect_ok()?;
        c.wait_state("after", "Running(Ok)")?;
        Ok(())
    }
);

/// A client id for a raw client of the tests.
fn cid(text: &str) -> ank_schemas::ClientId {
    ank_schemas::ClientId::new(text).expect("a valid client id")
}
