//! The FIFO server on the host, with real FIFOs and a fake controller: the handshake, hostile
//! frames and the access rules (issue 15). The real SDKs in real containers are in
//! tests/system/control_interface.rs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ank_schemas::control_interface::proto::{
    self, from_ankaios, request::Content as Req, response::Content as Resp, to_ankaios,
};
use ank_schemas::control_interface::{encode_frame, FrameReader, MAX_FRAME_LEN};
use ank_schemas::{
    AccessRule, ClientId, ControlInterfaceAccess, InstanceId, LogRequest, LogRule, ReadWriteEnum,
    RequestOp, ResponseBody, ResponseOutcome, StateRule,
};
use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::watch;

use super::backend::Backend;
use super::{fifo, serve, SessionConfig};

/// Answers every getState with a fixed state and records what it was asked.
#[derive(Clone, Default)]
struct FakeController {
    asked: Arc<Mutex<Vec<(String, RequestOp)>>>,
}

impl Backend for FakeController {
    async fn request(&self, workload: &str, op: RequestOp) -> Result<ResponseOutcome, String> {
        self.asked
            .lock()
            .unwrap()
            .push((workload.to_owned(), op.clone()));
        if let RequestOp::LogTargets { instances } = op {
            // The fake's desired state has every instance but those of workload `gone`.
            let instances = instances
                .into_iter()
                .filter(|i| i.workload != "gone")
                .collect();
            return Ok(ResponseOutcome::Ok(ResponseBody::Instances { instances }));
        }
        Ok(ResponseOutcome::Ok(ResponseBody::State {
            complete_state: serde_json::json!({"workloadStates": {"agent_A": {"app": {
                "abc": {"state": "Running", "subState": "Ok", "additionalInfo": ""}}}}}),
        }))
    }

    async fn publish_log_request(&self, _agent: &str, _request: &LogRequest) -> Result<(), String> {
        Ok(())
    }

    fn log_client_id(&self) -> ClientId {
        ClientId::new("agent-agent_A").unwrap()
    }
}

struct Client {
    to_agent: pipe::Sender,
    from_agent: pipe::Receiver,
    reader: FrameReader,
    folder: std::path::PathBuf,
    _dir: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
    controller: FakeController,
    events: super::EventRoutes,
}

impl Client {
    async fn start() -> Self {
        Self::start_with(vec![AccessRule::StateRule(StateRule {
            operation: ReadWriteEnum::Read,
            filter_masks: vec!["workloadStates".into()],
        })])
        .await
    }

    async fn start_with(allow_rules: Vec<AccessRule>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let id = InstanceId::compute("app", "agent_A", "podman", "image: x", &[]);
        let folder = fifo::prepare(dir.path(), &id).unwrap();
        let rules = ControlInterfaceAccess {
            allow_rules,
            deny_rules: vec![],
        };
        let (_tx, rx) = watch::channel(rules);
        let controller = FakeController::default();
        let events = super::EventRoutes::default();
        let config = SessionConfig {
            folder: folder.clone(),
            workload: "app".into(),
            backend: controller.clone(),
            rules: rx,
            logs: super::LogRoutes::default(),
            events: events.clone(),
        };
        let server = tokio::spawn(async move {
            let _keep = _tx;
            serve(config).await.unwrap();
        });
        // The workload's ends, as the SDK opens them: it reads `input`, writes `output`.
        let from_agent = pipe::OpenOptions::new()
            .open_receiver(folder.join("input"))
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let to_agent = loop {
            match pipe::OpenOptions::new().open_sender(folder.join("output")) {
                Ok(s) => break s,
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                Err(e) => panic!("the agent never opened output: {e}"),
            }
        };
        Self {
            to_agent,
            from_agent,
            reader: FrameReader::new(MAX_FRAME_LEN),
            folder,
            _dir: dir,
            _server: server,
            controller,
            events,
        }
    }

    async fn send(&mut self, message: &proto::ToAnkaios) {
        self.send_raw(&encode_frame(message)).await;
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.to_agent.write_all(bytes).await.unwrap();
    }

    async fn next(&mut self) -> from_ankaios::Content {
        let mut buf = vec![0u8; 4096];
        loop {
            if let Some(frame) = self.reader.next_frame().unwrap() {
                return proto::FromAnkaios::decode(frame.as_slice())
                    .unwrap()
                    .content
                    .expect("content");
            }
            let n = tokio::time::timeout(Duration::from_secs(10), self.from_agent.read(&mut buf))
                .await
                .expect("an answer within 10 s")
                .unwrap();
            self.reader.push(&buf[..n]);
        }
    }

    async fn response(&mut self) -> proto::Response {
        match self.next().await {
            from_ankaios::Content::Response(r) => r,
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

fn hello(version: &str) -> proto::ToAnkaios {
    proto::ToAnkaios {
        content: Some(to_ankaios::Content::Hello(proto::Hello {
            protocol_version: version.into(),
        })),
    }
}

fn request(id: &str, content: Option<Req>) -> proto::ToAnkaios {
    proto::ToAnkaios {
        content: Some(to_ankaios::Content::Request(proto::Request {
            request_id: id.into(),
            content,
        })),
    }
}

fn get_state(masks: &[&str]) -> Option<Req> {
    Some(Req::CompleteStateRequest(proto::CompleteStateRequest {
        field_mask: masks.iter().map(|m| (*m).to_owned()).collect(),
        subscribe_for_events: false,
    }))
}

fn closed_reason(content: from_ankaios::Content) -> String {
    match content {
        from_ankaios::Content::ConnectionClosed(c) => c.reason,
        other => panic!("expected ConnectionClosed, got {other:?}"),
    }
}

#[tokio::test]
async fn issue_15_hello_of_another_major_or_garbage_is_closed_with_the_reason() {
    let cases: [(&[u8], &str); 4] = [
        (
            &encode_frame(&hello("0.7.0")),
            "Unsupported protocol version '0.7.0'. Currently supported '1'",
        ),
        (
            &encode_frame(&hello("garbage")),
            "Unsupported protocol version 'garbage'. Currently supported '1'",
        ),
        (&[3, 0xff, 0xff, 0xff], "Could not decode protobuf data"),
        (
            &encode_frame(&request("1", get_state(&[]))),
            "Initial Hello missing!",
        ),
    ];
    for (bytes, reason) in cases {
        let mut client = Client::start().await;
        client.send_raw(bytes).await;
        let got = closed_reason(client.next().await);
        assert!(
            got.starts_with(reason),
            "{got:?} should start with {reason:?}"
        );
        // A closed session is reopened by a valid Hello (Ankaios needs a new container).
        client.send(&hello("1.0.0")).await;
        assert!(matches!(
            client.next().await,
            from_ankaios::Content::ControlInterfaceAccepted(_)
        ));
    }
}

#[tokio::test]
async fn issue_15_a_request_within_the_rules_is_asked_on_behalf_of_the_workload_and_answered_in_proto(
) {
    let mut client = Client::start().await;
    client.send(&hello("1.1.0")).await;
    assert!(matches!(
        client.next().await,
        from_ankaios::Content::ControlInterfaceAccepted(_)
    ));
    client
        .send(&request("r1", get_state(&["workloadStates.agent_A"])))
        .await;
    let response = client.response().await;
    assert_eq!(response.request_id, "r1");
    let Some(Resp::CompleteStateResponse(state)) = response.content else {
        panic!("{response:?}")
    };
    let states = state.complete_state.unwrap().workload_states.unwrap();
    assert_eq!(
        states.agent_state_map["agent_A"].wl_name_state_map["app"].id_state_map["abc"]
            .execution_state_enum,
        Some(proto::execution_state::State::Running(0))
    );
    let asked = client.controller.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        vec![(
            "app".to_owned(),
            RequestOp::GetState {
                masks: vec!["workloadStates.agent_A".into()]
            }
        )]
    );
}

#[tokio::test]
async fn issue_15_requests_outside_the_rules_are_denied_without_asking_the_controller() {
    let mut client = Client::start().await;
    client.send(&hello("1.0.0")).await;
    client.next().await;
    let update = Some(Req::UpdateStateRequest(proto::UpdateStateRequest {
        new_state: None,
        update_mask: vec!["desiredState.workloads.x".into()],
    }));
    let logs = Some(Req::LogsRequest(proto::LogsRequest {
        workload_names: vec![proto::WorkloadInstanceName {
            workload_name: "app".into(),
            agent_name: "agent_A".into(),
            id: "abc".into(),
        }],
        ..Default::default()
    }));
    for (id, content) in [
        ("read", get_state(&["desiredState"])),
        ("all", get_state(&[])),
        ("write", update),
        ("logs", logs),
    ] {
        client.send(&request(id, content)).await;
        let r = client.response().await;
        assert_eq!(r.request_id, id);
        assert_eq!(
            r.content,
            Some(Resp::Error(proto::Error {
                message: "Access denied".into()
            })),
            "{id}"
        );
    }
    assert!(client.controller.asked.lock().unwrap().is_empty());
}

#[tokio::test]
async fn issue_15_logs_request_accepted_lists_only_instances_of_the_desired_state() {
    let mut client = Client::start_with(vec![AccessRule::LogRule(LogRule {
        workload_names: vec!["*".into()],
    })])
    .await;
    client.send(&hello("1.0.0")).await;
    client.next().await;
    let kept = InstanceId::compute("kept", "agent_B", "podman", "image: x", &[]);
    let gone = InstanceId::compute("gone", "agent_B", "podman", "image: x", &[]);
    let name = |id: &InstanceId| proto::WorkloadInstanceName {
        workload_name: id.workload.clone(),
        agent_name: id.agent.clone(),
        id: id.hash.clone(),
    };
    let not_an_id = proto::WorkloadInstanceName {
        workload_name: "x".into(),
        agent_name: "a.b".into(),
        id: "?".into(),
    };
    let logs = Some(Req::LogsRequest(proto::LogsRequest {
        workload_names: vec![name(&kept), name(&gone), not_an_id],
        ..Default::default()
    }));
    client.send(&request("logs", logs)).await;
    let r = client.response().await;
    assert_eq!(
        r.content,
        Some(Resp::LogsRequestAccepted(proto::LogsRequestAccepted {
            workload_names: vec![name(&kept)],
        }))
    );
    // The controller was asked which of the valid ones exist, on behalf of the workload.
    let asked = client.controller.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        vec![(
            "app".to_owned(),
            RequestOp::LogTargets {
                instances: vec![kept, gone]
            }
        )]
    );
}

/// An event pushed by the controller for subscription `subscription`, adding `path`.
fn pushed(subscription: &str, path: &str) -> ank_schemas::AgentEvent {
    ank_schemas::AgentEvent {
        subscription: subscription.into(),
        body: ank_schemas::AgentEventBody::Event {
            added_fields: vec![path.into()],
            updated_fields: vec![],
            removed_fields: vec![],
            complete_state: serde_json::json!({"workloadStates": {}}),
        },
    }
}

fn subscribe(masks: &[&str]) -> Option<Req> {
    Some(Req::CompleteStateRequest(proto::CompleteStateRequest {
        field_mask: masks.iter().map(|m| (*m).to_owned()).collect(),
        subscribe_for_events: true,
    }))
}

/// Waits until the fake controller was asked something `matches` accepts.
async fn asked(client: &Client, matches: impl Fn(&RequestOp) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !client
        .controller
        .asked
        .lock()
        .unwrap()
        .iter()
        .any(|(_, op)| matches(op))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the controller was never asked"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn issue_15_pushed_events_reach_the_sdk_and_stop_at_cancel() {
    let mut client = Client::start().await;
    client.send(&hello("1.0.0")).await;
    client.next().await;
    client
        .send(&request("ev", subscribe(&["workloadStates"])))
        .await;
    let first = client.response().await;
    assert!(
        matches!(&first.content, Some(Resp::CompleteStateResponse(r)) if r.altered_fields.is_none()),
        "{first:?}"
    );
    let sub = match &client.controller.asked.lock().unwrap()[0].1 {
        RequestOp::SubscribeEvents {
            subscription,
            masks,
        } => {
            assert_eq!(masks, &["workloadStates"]);
            subscription.clone()
        }
        other => panic!("asked {other:?}"),
    };
    client
        .events
        .deliver(pushed(&sub, "workloadStates.agent_A"));
    let event = client.response().await;
    assert_eq!(event.request_id, "ev");
    match event.content {
        Some(Resp::CompleteStateResponse(r)) => assert_eq!(
            r.altered_fields.expect("altered fields").added_fields,
            ["workloadStates.agent_A"]
        ),
        other => panic!("{other:?}"),
    }
    client
        .send(&request(
            "ev",
            Some(Req::EventsCancelRequest(proto::EventsCancelRequest {})),
        ))
        .await;
    let r = client.response().await;
    assert_eq!(
        r.content,
        Some(Resp::EventsCancelAccepted(proto::EventsCancelAccepted {}))
    );
    // The controller was told before the acceptance; a late event goes nowhere.
    asked(
        &client,
        |op| matches!(op, RequestOp::CancelEvents { subscription } if *subscription == sub),
    )
    .await;
    client.events.deliver(pushed(&sub, "workloadStates.late"));
    client
        .send(&request("after", get_state(&["workloadStates"])))
        .await;
    let r = client.response().await;
    assert_eq!(
        r.request_id, "after",
        "nothing came between the cancel and this answer"
    );
}

#[tokio::test]
async fn issue_15_a_subscriber_that_does_not_read_loses_its_subscription_and_the_controller_is_told(
) {
    let mut client = Client::start().await;
    client.send(&hello("1.0.0")).await;
    client.next().await;
    client
        .send(&request("ev", subscribe(&["workloadStates"])))
        .await;
    client.response().await;
    let sub = match &client.controller.asked.lock().unwrap()[0].1 {
        RequestOp::SubscribeEvents { subscription, .. } => subscription.clone(),
        other => panic!("asked {other:?}"),
    };
    // The workload reads nothing while far more events come than the queues hold.
    for i in 0..(super::events::EVENT_QUEUE + super::outbox::OUT_QUEUE) * 2 {
        client
            .events
            .deliver(pushed(&sub, &format!("workloadStates.a{i}")));
    }
    asked(
        &client,
        |op| matches!(op, RequestOp::CancelEvents { subscription } if *subscription == sub),
    )
    .await;
}

#[tokio::test]
async fn issue_15_malformed_frames_of_every_kind_are_answered_and_the_session_goes_on() {
    let mut client = Client::start().await;
    client.send(&hello("1.0.0")).await;
    client.next().await;
    // Undecodable protobuf in a well-formed frame.
    client.send_raw(&[2, 0xff, 0xff]).await;
    let r = client.response().await;
    assert!(
        matches!(r.content, Some(Resp::Error(ref e)) if e.message.starts_with("Could not decode")),
        "{r:?}"
    );
    // An empty ToAnkaios (an unknown oneof case).
    client.send_raw(&[0]).await;
    let r = client.response().await;
    assert!(
        matches!(r.content, Some(Resp::Error(ref e)) if e.message.starts_with("Unknown message")),
        "{r:?}"
    );
    // A request without content.
    client.send(&request("empty", None)).await;
    let r = client.response().await;
    assert_eq!(r.request_id, "empty");
    assert!(matches!(r.content, Some(Resp::Error(_))));
    // A request id over the bound.
    client
        .send(&request(&"i".repeat(300), get_state(&["workloadStates"])))
        .await;
    assert!(matches!(
        client.response().await.content,
        Some(Resp::Error(_))
    ));
    // Still served.
    client
        .send(&request("ok", get_state(&["workloadStates"])))
        .await;
    let r = client.response().await;
    assert_eq!(r.request_id, "ok");
    assert!(matches!(r.content, Some(Resp::CompleteStateResponse(_))));
}

#[tokio::test]
async fn issue_15_one_mebibyte_of_random_bytes_closes_the_session_and_a_new_hello_reopens_it() {
    let mut client = Client::start().await;
    client.send(&hello("1.0.0")).await;
    client.next().await;
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let random: Vec<u8> = (0..1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    // A second writer, as a misbehaving process in the container would be; the agent answers
    // while it reads, so its answers are read meanwhile and neither side blocks.
    let mut garbage = pipe::OpenOptions::new()
        .open_sender(client.folder.join("output"))
        .unwrap();
    let writer = tokio::spawn(async move { garbage.write_all(&random).await.unwrap() });
    let mut buf = vec![0u8; 65536];
    while !writer.is_finished() {
        let _ =
            tokio::time::timeout(Duration::from_millis(50), client.from_agent.read(&mut buf)).await;
    }
    writer.await.unwrap();
    // A partial frame left by the garbage is dropped after a while; Hellos then get through.
    client.reader.reset();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    'reopen: loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never accepted again"
        );
        client.send(&hello("1.0.0")).await;
        let wait = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Ok(n) = tokio::time::timeout_at(wait, client.from_agent.read(&mut buf)).await {
            client.reader.push(&buf[..n.unwrap()]);
            while let Ok(Some(frame)) = client.reader.next_frame() {
                if let Ok(proto::FromAnkaios {
                    content: Some(from_ankaios::Content::ControlInterfaceAccepted(_)),
                }) = proto::FromAnkaios::decode(frame.as_slice())
                {
                    break 'reopen;
                }
            }
        }
    }
    client
        .send(&request("after", get_state(&["workloadStates"])))
        .await;
    loop {
        let r = client.response().await;
        if r.request_id == "after" {
            assert!(matches!(r.content, Some(Resp::CompleteStateResponse(_))));
            break;
        }
    }
}
