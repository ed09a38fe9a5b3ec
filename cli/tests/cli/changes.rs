use std::time::Duration;

use ank_bus::SessionEvent;
use ank_schemas::{
    InstanceId, Request, RequestOp, Response, ResponseBody, ResponseOutcome, ValidationError,
};
use serde_json::json;

use crate::reads::{run, text, Cluster, CountingProxy};

/// What the stand-in controller does with a request: its answer, then retained state updates
/// (topic, payload; `None` clears the topic) published after the answer.
type Script = fn(
    &Request,
    &ank_schemas::Topics,
) -> (ResponseOutcome, Vec<(String, Option<serde_json::Value>)>);

/// Answers requests like a controller and plays an agent's state changes. The real controller
/// and agent are exercised by the system tests; this pins the CLI's side of the protocol.
async fn stand_in(cluster: &Cluster, script: Script) -> tokio::task::JoinHandle<Vec<Request>> {
    let topics = cluster.topics();
    cluster
        .publish(vec![
            (
                topics.controller_status(),
                json!({"state": "online", "epoch": 1, "since": "2025-05-01T10:00:00Z"}),
            ),
            (
                topics.agent_status("agent_A"),
                json!({"state": "online", "epoch": 1}),
            ),
        ])
        .await;
    let (session, mut incoming) = ank_bus::Session::connect(cluster.options("ctl"), None)
        .await
        .expect("connects");
    session
        .subscribe(&topics.requests())
        .await
        .expect("subscribe");
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(event) = incoming.recv().await {
            let SessionEvent::Message(message) = event else {
                continue;
            };
            let Ok(request) = serde_json::from_slice::<Request>(&message.payload) else {
                continue;
            };
            let (outcome, updates) = script(&request, &topics);
            let response = Response {
                id: request.id.clone(),
                outcome,
            };
            session
                .publish(
                    &topics.responses(&request.reply_to),
                    serde_json::to_vec(&response).expect("json"),
                    false,
                )
                .await
                .expect("respond");
            for (topic, payload) in updates {
                // Spaced out, so the CLI sees each state (a real agent takes longer still).
                tokio::time::sleep(Duration::from_millis(50)).await;
                let payload = payload
                    .map(|p| serde_json::to_vec(&p).expect("json"))
                    .unwrap_or_default();
                session.publish(&topic, payload, true).await.expect("state");
            }
            seen.push(request);
        }
        seen
    })
}

fn wl_id() -> InstanceId {
    InstanceId::compute("w", "agent_A", "podman", "image: x", &[])
}

fn state(
    id: &InstanceId,
    state: &str,
    sub: &str,
    generation: u64,
    info: &str,
) -> Option<serde_json::Value> {
    Some(
        json!({"instanceId": id.to_string(), "state": state, "subState": sub,
                "additionalInfo": info, "observedGeneration": generation}),
    )
}

fn added(generation: u64) -> ResponseOutcome {
    ResponseOutcome::Ok(ResponseBody::Updated {
        generation,
        added: vec![wl_id()],
        updated: vec![],
        deleted: vec![],
    })
}

const MANIFEST: &str = "apiVersion: v1\nworkloads:\n  w:\n    agent: agent_A\n    runtime: podman\n    runtimeConfig: 'image: x'\n";

fn apply(cluster: &Cluster, extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("m.yaml");
    std::fs::write(&file, MANIFEST).expect("write");
    run(cluster.ank().args(extra).arg("apply").arg(&file))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_apply_waits_and_prints_ankaios_stdout_when_not_a_terminal() {
    let cluster = Cluster::start().await;
    stand_in(&cluster, |r, t| {
        assert!(matches!(&r.op, RequestOp::Apply { delete: false, manifest } if manifest.workloads.contains_key("w")));
        let id = wl_id();
        let topic = t.workload_state("agent_A", "w");
        (added(7), vec![
            (topic.clone(), state(&id, "Pending", "Starting", 7, "Triggered at runtime.")),
            (topic, state(&id, "Running", "Ok", 7, "")),
        ])
    })
    .await;
    let output = apply(&cluster, &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    // Our extras, one line per change, on stderr. States published in one burst are drawn
    // once, so the middle one may be skipped.
    assert!(
        stderr.starts_with("w on agent_A: Pending(Initial)\n"),
        "{stderr}"
    );
    assert!(stderr.ends_with("w on agent_A: Running(Ok)\n"), "{stderr}");
    // What Ankaios prints on stdout: its two lines, then the table after every update, the last
    // one final (issue 16 point 4).
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with(
            "Successfully applied the manifest(s).
Waiting for workload(s) to reach desired states (press Ctrl+C to interrupt).

WORKLOAD NAME   AGENT     RUNTIME     EXECUTION STATE    ADDITIONAL INFO
w               agent_A             | Pending(Initial)                  

WORKLOAD NAME"
        ),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(
            "
WORKLOAD NAME   AGENT     RUNTIME     EXECUTION STATE   ADDITIONAL INFO
w               agent_A               Running(Ok)                      

"
        ),
        "{stdout}"
    );
    if stdout.contains("Pending(Starting)") {
        assert!(
            stdout.contains("\nw               agent_A             | Pending(Starting)   Triggered at runtime.\n"),
            "{stdout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_17_apply_watches_and_requests_on_one_connection() {
    let cluster = Cluster::start().await;
    stand_in(&cluster, |_, t| {
        let topic = t.workload_state("agent_A", "w");
        (
            added(7),
            vec![(topic, state(&wl_id(), "Running", "Ok", 7, ""))],
        )
    })
    .await;
    let proxy = CountingProxy::start(&cluster).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("m.yaml");
    std::fs::write(&file, MANIFEST).expect("write");
    let output = run(cluster
        .ank()
        .env("ANK_BROKER", &proxy.url)
        .arg("apply")
        .arg(&file));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.ends_with("w on agent_A: Running(Ok)\n"), "{stderr}");
    assert_eq!(proxy.accepted(), 1, "connections opened by one `ank apply`");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_exits_3_when_the_workload_fails() {
    let cluster = Cluster::start().await;
    stand_in(&cluster, |_, t| {
        let id = wl_id();
        (
            added(8),
            vec![(
                t.workload_state("agent_A", "w"),
                state(&id, "Failed", "ExecFailed", 8, "Exit code: '1'"),
            )],
        )
    })
    .await;
    let output = apply(&cluster, &["-q"]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: applied, but a workload failed: w (Failed(ExecFailed))\n"),
        "{stderr}"
    );
    assert!(
        text(&output.stdout).contains("Failed(ExecFailed)   Exit code: '1'"),
        "{}",
        text(&output.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_state_of_an_older_generation_does_not_end_the_wait() {
    let cluster = Cluster::start().await;
    stand_in(&cluster, |_, t| {
        let id = wl_id();
        let topic = t.workload_state("agent_A", "w");
        (
            added(9),
            vec![
                (topic.clone(), state(&id, "Running", "Ok", 8, "")),
                (topic, state(&id, "Succeeded", "Ok", 9, "")),
            ],
        )
    })
    .await;
    let output = apply(&cluster, &[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        text(&output.stdout).contains("Succeeded(Ok)"),
        "{}",
        text(&output.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_prints_every_error_and_exits_1() {
    let cluster = Cluster::start().await;
    stand_in(&cluster, |_, _| {
        (
            ResponseOutcome::Error {
                message: "the manifest is invalid".into(),
                errors: vec![
                    ValidationError::new(Some("w"), "runtime", "unknown runtime 'x'")
                        .with_hint("podman or podman-kube"),
                ],
            },
            vec![],
        )
    })
    .await;
    let output = apply(&cluster, &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        text(&output.stderr),
        "error: the controller refused the request: the manifest is invalid\n  workload 'w', field 'runtime': unknown runtime 'x' (hint: podman or podman-kube)\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wait_returns_once_the_controller_accepted() {
    let cluster = Cluster::start().await;
    stand_in(&cluster, |_, _| (added(2), vec![])).await;
    let output = apply(&cluster, &["--no-wait"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        text(&output.stderr),
        "Successfully applied the manifest(s).\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_gives_up_after_the_timeout() {
    let cluster = Cluster::start().await;
    stand_in(&cluster, |_, _| (added(2), vec![])).await;
    let output = apply(&cluster, &["-q", "--timeout", "300ms"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        text(&output.stderr)
            .starts_with("error: the workloads did not reach their final states within 300ms\n"),
        "{}",
        text(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_delete_waits_until_the_state_topic_is_cleared_printing_ankaios_stdout() {
    let cluster = Cluster::start().await;
    let topics = cluster.topics();
    cluster
        .publish(vec![(
            topics.workload_state("agent_A", "w"),
            state(&wl_id(), "Running", "Ok", 1, "").expect("state"),
        )])
        .await;
    stand_in(&cluster, |r, t| {
        assert_eq!(
            r.op,
            RequestOp::DeleteWorkloads {
                names: vec!["w".into()]
            }
        );
        let id = wl_id();
        let topic = t.workload_state("agent_A", "w");
        let deleted = ResponseOutcome::Ok(ResponseBody::Updated {
            generation: 3,
            added: vec![],
            updated: vec![],
            deleted: vec![id.clone()],
        });
        (
            deleted,
            vec![
                (
                    topic.clone(),
                    state(&id, "Stopping", "RequestedAtRuntime", 3, ""),
                ),
                (topic, None),
            ],
        )
    })
    .await;
    let output = run(cluster.ank().args(["delete", "workload", "w"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("w on agent_A: Stopping(RequestedAtRuntime)\n"),
        "{stderr}"
    );
    assert!(stderr.ends_with("w on agent_A: Removed\n"), "{stderr}");
    // Ankaios' stdout is the same for every command (issue 16 point 4); ours names the deletion
    // on stderr.
    assert!(
        stderr.starts_with("Successfully deleted the workload(s).\n"),
        "{stderr}"
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with(
            "Successfully applied the manifest(s).\nWaiting for workload(s) to reach desired \
             states (press Ctrl+C to interrupt).\n\nWORKLOAD NAME"
        ),
        "{stdout}"
    );
    // The last table's row, then Ankaios' empty line.
    let last_row = stdout.lines().rev().nth(1).unwrap_or_default();
    assert!(
        stdout.ends_with("\n\n") && last_row.starts_with("w ") && last_row.contains("  Removed"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// Issue 16: a change that updates no workload said "Nothing changed" even when it deleted or
/// changed a config (seen against Ankaios 1.0.1's `set state` of an absent config path); the
/// stderr line now says only what the answer tells: no workloads updated.
async fn issue_16_set_state_sends_the_masks_and_the_file_and_says_no_workloads_updated() {
    let cluster = Cluster::start().await;
    stand_in(&cluster, |r, _| {
        let RequestOp::SetState { masks, state } = &r.op else {
            panic!("not a set state: {r:?}")
        };
        assert_eq!(
            masks,
            &["desiredState.workloads.w", "desiredState.configs.c"]
        );
        assert_eq!(state["desiredState"]["configs"]["c"], "v");
        (
            ResponseOutcome::Ok(ResponseBody::Updated {
                generation: 4,
                added: vec![],
                updated: vec![],
                deleted: vec![],
            }),
            vec![],
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("s.yaml");
    std::fs::write(
        &file,
        "desiredState:\n  apiVersion: v1\n  configs:\n    c: v\n",
    )
    .expect("write");
    let output = run(cluster
        .ank()
        .args([
            "set",
            "state",
            "desiredState.workloads.w",
            "desiredState.configs.c",
        ])
        .arg(&file));
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        text(&output.stderr),
        "Successfully set the state. No workloads updated.\n"
    );
    // Ankaios 1.0.1's stdout for it (`ank delete workload nosuch > out`, issue 16).
    assert_eq!(
        text(&output.stdout),
        "Apply successful. No workloads updated.\n"
    );
}
