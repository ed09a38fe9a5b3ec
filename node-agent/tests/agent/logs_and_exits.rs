use std::time::Duration;

use ank_bus::{ConnectOptions, Session, SessionEvent};
use ank_schemas::{LogEvent, LogRequest, RestartPolicy, StopReason};

use crate::harness::*;

/// A client id for the rows below (test data, always valid).
fn cid(text: &str) -> ank_schemas::ClientId {
    ank_schemas::ClientId::new(text).expect("a valid client id")
}

#[tokio::test]
async fn a_log_request_streams_the_lines_then_stopped() {
    let env = Env::start("logs").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let mut ctl = Controller::connect(&env).await;
    let agent = InProcessAgent::start(env.config(&name));
    let w = shell(
        "talker",
        &name,
        &format!("echo one; echo two >&2; {SERVICE}"),
        RestartPolicy::Never,
    );
    ctl.publish(&name, &[&w]).await;
    ctl.wait_for(&name, "talker", "Running(Ok)").await;

    let mut options = ConnectOptions::from_url(&env.url, "logreader").expect("url");
    options.topics = env.topics.clone();
    let (reader, mut incoming) = Session::connect(options, None).await.expect("connects");
    reader
        .subscribe(&env.topics.log_stream(&name, &cid("logreader")))
        .await
        .expect("subscribed");
    let request = LogRequest::open("1", &cid("logreader"), vec![w.instance_id.clone()]);
    reader
        .publish(
            &env.topics.log_requests(&name),
            serde_json::to_vec(&request).expect("json"),
            false,
        )
        .await
        .expect("published");
    let mut lines = Vec::new();
    let result = tokio::time::timeout(DEADLINE, async {
        while let Some(event) = incoming.recv().await {
            let SessionEvent::Message(message) = event else {
                continue;
            };
            match serde_json::from_slice::<LogEvent>(&message.payload).expect("a log event") {
                LogEvent::Line { line, .. } => lines.push(line),
                LogEvent::Stopped {
                    instance_id,
                    reason,
                    ..
                } => {
                    assert_eq!(instance_id, w.instance_id);
                    assert_eq!(reason, Some(StopReason::Ended));
                    return;
                }
                LogEvent::Accepted { request_id, .. } => assert_eq!(request_id, "1"),
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
    assert!(result.is_ok(), "stopped in time; lines so far {lines:?}");
    lines.sort();
    assert_eq!(lines, ["one", "two"]);
    agent.stop().await;
}

/// The exit of a killed container reaches the bus with its state and exit code through podman's
/// events and conmon's exit file alone: the resync that would also find it is 10 minutes away,
/// ten times the wait. How fast it arrives is measured in bench/, not asserted here.
#[tokio::test]
async fn an_exit_reaches_the_bus_through_podman_events_with_its_state_and_exit_code() {
    let env = Env::start("exit-events").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let mut ctl = Controller::connect(&env).await;
    let mut config = env.config(&name);
    // No resync during the test: only the events path can report the exit.
    config.resync_interval = Duration::from_secs(600);
    let agent = InProcessAgent::start(config);
    let w = shell("victim", &name, SERVICE, RestartPolicy::Never);
    ctl.publish(&name, &[&w]).await;
    ctl.wait_for(&name, "victim", "Running(Ok)").await;
    let id = the_container(&w.instance_id).id;
    ank_system_tests::podman::run(&["kill", "-s", "KILL", &id]).expect("killed");
    // `wait_for` gives up after DEADLINE (60 s), well before the 600 s resync.
    let state = ctl.wait_for(&name, "victim", "Failed(ExecFailed)").await;
    assert_eq!(state.exit_code, Some(137), "SIGKILL's exit code: {state:?}");
    assert_eq!(state.instance_id, w.instance_id, "the killed instance");
    agent.stop().await;
}
