use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ank_broker::{BrokerConfig, Storage};
use ank_controller::BrokerChoice;
use ank_system_tests::mosquitto::free_port;
use ank_testkit::blocking::wait_for;
use ank_testkit::eventually;
use serde_json::json;

use crate::harness::{apply, ok, Env, TestBroker, TestController};

/// The main scenario: apply on two agents, read back, move to an explicit empty snapshot,
/// restart, identical snapshots.
async fn main_scenario(env: Env) {
    let controller = env.controller().await;
    let cli = env.client("cli-1").await;
    let r = cli
        .request(apply("apiVersion: v1\nworkloads:\n  a: {agent: agent_A, runtime: podman, runtimeConfig: 'image: a'}\n  b: {agent: agent_B, runtime: podman, runtimeConfig: 'image: b'}\n"))
        .await;
    assert_eq!(ok(&r)["added"].as_array().map(Vec::len), Some(2));
    let state = cli.get_state(&["desiredState.workloads.*.agent"]).await;
    assert_eq!(state["desiredState"]["workloads"]["b"]["agent"], "agent_B");
    ok(&cli
        .request(json!({"op": "deleteWorkloads", "names": ["b"]}))
        .await);
    let b = cli
        .retained_json(&env.topics.agent_desired("agent_B"))
        .await
        .expect("agent_B");
    assert_eq!(b, json!({"generation": 2, "workloads": {}}));
    let before = cli.retained(&env.topics.all_agent_desired()).await;
    controller.kill().await;
    let controller = env.controller().await;
    assert_eq!(cli.retained(&env.topics.all_agent_desired()).await, before);
    controller.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_scenario_runs_on_mosquitto() {
    main_scenario(Env::on(TestBroker::mosquitto())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_scenario_runs_on_the_embedded_broker() {
    main_scenario(Env::embedded().await).await;
}

fn embedded_on(port: u16) -> BrokerChoice {
    BrokerChoice::Embedded(Box::new(BrokerConfig {
        listen: ([127, 0, 0, 1], port).into(),
        storage: Storage::Memory,
        ..BrokerConfig::for_tests()
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_mode_serves_on_its_listen_address() {
    // The environment's own broker only provides the prefix and state dir here.
    let env = Env::embedded().await;
    let port = free_port().expect("free port");
    let mut config = env.config();
    config.broker = embedded_on(port);
    let controller = TestController::spawn(config);
    let mut opts = ank_bus::ConnectOptions::from_url(&format!("mqtt://127.0.0.1:{port}"), "cli-1")
        .expect("url");
    opts.topics = env.topics.clone();
    let (session, _incoming) =
        eventually("the embedded broker up", Duration::from_secs(10), || {
            ank_bus::Session::connect(opts.clone(), None)
        })
        .await;
    // The broker is up before the controller has subscribed to requests (it connects to its
    // own broker after starting it): ask only once it says it is online, as `ank` does.
    let status_topic = env.topics.controller_status();
    eventually("the controller online", Duration::from_secs(10), || async {
        let retained = session
            .read_retained(std::slice::from_ref(&status_topic))
            .await
            .expect("retained read");
        retained.iter().any(|m| {
            serde_json::from_slice::<serde_json::Value>(&m.payload)
                .is_ok_and(|status| status["state"] == "online")
        })
    })
    .await;
    let client_id = session.client_id().to_owned();
    let reply = session
        .request(
            |id, _| {
                serde_json::to_vec(&json!({"id": id, "replyTo": client_id, "op": "getState"}))
                    .expect("json")
            },
            Duration::from_secs(10),
        )
        .await
        .expect("answered");
    let reply: serde_json::Value = serde_json::from_slice(&reply).expect("json");
    assert_eq!(
        reply["ok"]["completeState"]["desiredState"]["apiVersion"],
        "v1"
    );
    controller.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_a_clear_error_not_a_hang() {
    let env = Env::embedded().await;
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let mut config = env.config();
    config.broker = embedded_on(port);
    let start = Instant::now();
    let err = TestController::spawn(config)
        .result()
        .await
        .expect_err("refused");
    let text = format!("{err:#}");
    assert!(text.contains(&port.to_string()), "{text}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "an error, not a hang: took {:?}",
        start.elapsed()
    );
}

/// Issue 17: the embedded broker starts while the state is saved, not after it. The state's temp
/// file is a FIFO here, so the save waits until the test reads it; a client's CONNECT is answered
/// meanwhile. The save then fails (a FIFO cannot be fsynced): that error is the one reported, and
/// the broker that was already up is stopped (its port is free again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_17_the_embedded_broker_accepts_clients_while_the_state_is_saved() {
    let env = Env::embedded().await;
    let port = free_port().expect("free port");
    let fifo = env.state_dir().join(".state.json.tmp");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", fifo.display());
    let mut config = env.config();
    config.broker = embedded_on(port);
    let controller = TestController::spawn(config);
    let connack = tokio::task::spawn_blocking(move || {
        wait_for(
            "a CONNACK from the embedded broker",
            Duration::from_secs(10),
            || Ok(mqtt_connack(port).ok()),
        )
    })
    .await
    .expect("probe did not panic");
    let saved_before = env.state_dir().join("state.json").exists();
    // Let the save go on whatever was seen, so that a failure cannot leave it blocked.
    let written = tokio::task::spawn_blocking(move || std::fs::read(&fifo))
        .await
        .expect("reader did not panic")
        .expect("the FIFO is read");
    let connack = connack.expect("the broker answers while the state is being saved");
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00], "CONNACK accepted");
    assert!(
        !saved_before,
        "state.json was written before the broker answered"
    );
    assert!(
        !written.is_empty(),
        "the save wrote its state into the FIFO"
    );
    let err = controller
        .result()
        .await
        .expect_err("a FIFO cannot be fsynced");
    let text = format!("{err:#}");
    assert!(text.contains("saving the state"), "{text}");
    TcpListener::bind(("127.0.0.1", port)).expect("the broker was stopped: its port is free");
}

/// One MQTT 3.1.1 CONNECT (clean session, client id `early`); returns the 4 bytes answered.
fn mqtt_connack(port: u16) -> std::io::Result<[u8; 4]> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(&[
        0x10, 17, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 5, b'e', b'a', b'r', b'l', b'y',
    ])?;
    let mut connack = [0u8; 4];
    stream.read_exact(&mut connack)?;
    Ok(connack)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_external_broker_is_a_clear_error_not_a_hang() {
    let env = Env::embedded().await;
    let port = free_port().expect("free port");
    let mut config = env.config();
    config.broker = BrokerChoice::External(format!("mqtt://127.0.0.1:{port}"));
    let start = Instant::now();
    let err = TestController::spawn(config)
        .result()
        .await
        .expect_err("refused");
    let text = format!("{err:#}");
    assert!(text.contains("unreachable"), "{text}");
    assert!(
        start.elapsed() < Duration::from_secs(7),
        "took {:?}",
        start.elapsed()
    );
}
