//! The shared harness: a real broker (embedded in-process, or Mosquitto), a real controller run
//! in-process with `ank_controller::run`, and test MQTT clients (ank-bus sessions) playing the CLI
//! and the agents. Every test gets its own topic prefix and state directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ank_broker::{BrokerConfig, BrokerHandle};
use ank_bus::{ConnectOptions, Incoming, Session, SessionEvent};
use ank_controller::{BrokerChoice, Config};
use ank_schemas::Topics;
use ank_system_tests::mosquitto::Mosquitto;
use ank_testkit::eventually;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a test waits for anything before failing.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// Logs to the test's output when `RUST_LOG` is set (e.g. `RUST_LOG=ank_controller=debug`).
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// A topic prefix no other test uses.
pub fn unique_prefix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "test/p{}x{}x{}/ank/v1",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// A broker owned by one test.
pub enum TestBroker {
    /// The embedded broker in this process.
    Embedded(BrokerHandle),
    /// A Mosquitto child process.
    Mosquitto(Mosquitto),
}

impl TestBroker {
    pub async fn embedded() -> Self {
        Self::Embedded(
            ank_broker::start(BrokerConfig::for_tests())
                .await
                .expect("embedded broker starts"),
        )
    }

    pub fn mosquitto() -> Self {
        Self::Mosquitto(Mosquitto::start().expect("mosquitto starts"))
    }

    pub fn url(&self) -> String {
        match self {
            Self::Embedded(handle) => format!("mqtt://{}", handle.mqtt_addr()),
            Self::Mosquitto(m) => m.url(),
        }
    }
}

/// Everything one test needs: a broker, a prefix, a state directory.
pub struct Env {
    pub broker: TestBroker,
    pub topics: Topics,
    pub state_dir: tempfile::TempDir,
}

impl Env {
    pub async fn embedded() -> Self {
        init_logs();
        Self::on(TestBroker::embedded().await)
    }

    pub fn on(broker: TestBroker) -> Self {
        Self {
            broker,
            topics: Topics::new(&unique_prefix()).expect("valid prefix"),
            state_dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn state_dir(&self) -> &Path {
        self.state_dir.path()
    }

    /// The controller configuration for this environment's broker.
    pub fn config(&self) -> Config {
        Config {
            startup_manifest: None,
            state_dir: self.state_dir().to_owned(),
            reset_state: false,
            broker: BrokerChoice::External(self.broker.url()),
            connect: ank_bus::ConnectSettings::for_topics(self.topics.clone()),
            max_message_size: ank_controller::DEFAULT_MAX_MESSAGE_SIZE,
        }
    }

    /// Starts a controller with the default configuration and waits until it answers.
    pub async fn controller(&self) -> TestController {
        self.controller_with(self.config()).await
    }

    pub async fn controller_with(&self, config: Config) -> TestController {
        let controller = TestController::spawn(config);
        self.client("ready-probe").await.wait_until_answered().await;
        controller
    }

    /// A client (CLI or agent) connected to the broker.
    pub async fn client(&self, id: &str) -> Client {
        let mut opts = ConnectOptions::from_url(&self.broker.url(), id).expect("url");
        opts.topics = self.topics.clone();
        let (session, incoming) = Session::connect(opts, None).await.expect("client connects");
        Client { session, incoming }
    }

    pub fn state_file(&self) -> Vec<u8> {
        std::fs::read(self.state_dir().join("state.json")).expect("state.json exists")
    }
}

/// A controller running in this process.
pub struct TestController {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl TestController {
    pub fn spawn(config: Config) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(ank_controller::run(config, async move {
            let _ = stopped.await;
        }));
        Self {
            stop: Some(stop),
            task,
        }
    }

    /// A clean shutdown; returns what `run` returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(DEADLINE, &mut self.task)
            .await
            .expect("controller stops in time")
            .expect("controller task did not panic")
    }

    /// Like a `kill -9`: the task is dropped mid-flight, the connection goes without DISCONNECT.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// Waits for `run` to end on its own (a start-up error).
    pub async fn result(self) -> anyhow::Result<()> {
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("controller ends in time")
            .expect("controller task did not panic")
    }
}

/// A test MQTT client.
pub struct Client {
    pub session: Session,
    pub incoming: Incoming,
}

impl Client {
    /// Sends `op` (the request's fields besides `id`/`replyTo`) and returns the response.
    pub async fn request(&self, op: Value) -> Value {
        self.try_request(op, Duration::from_secs(10))
            .await
            .expect("the controller answers")
    }

    pub async fn try_request(&self, op: Value, timeout: Duration) -> Option<Value> {
        let client_id = self.session.client_id().to_owned();
        let reply = self
            .session
            .request(
                |id, _reply_topic| {
                    let mut request = op.clone();
                    request["id"] = json!(id);
                    request["replyTo"] = json!(client_id);
                    serde_json::to_vec(&request).expect("encodes")
                },
                timeout,
            )
            .await
            .ok()?;
        Some(serde_json::from_slice(&reply).expect("the response is JSON"))
    }

    /// Retries a getState until the controller answers.
    pub async fn wait_until_answered(&self) {
        eventually("the controller to answer a getState", DEADLINE, || {
            self.try_request(
                json!({"op": "getState", "masks": ["desiredState.apiVersion"]}),
                Duration::from_millis(500),
            )
        })
        .await;
    }

    /// The complete state (or the masked part).
    pub async fn get_state(&self, masks: &[&str]) -> Value {
        let response = self
            .request(json!({"op": "getState", "masks": masks}))
            .await;
        response["ok"]["completeState"].clone()
    }

    /// Every retained message under `filter`, topic → payload.
    pub async fn retained(&self, filter: &str) -> BTreeMap<String, Vec<u8>> {
        self.session
            .read_retained(&[filter.to_owned()])
            .await
            .expect("retained read")
            .into_iter()
            .map(|m| (m.topic, m.payload))
            .collect()
    }

    /// The retained payload of one topic, as JSON.
    pub async fn retained_json(&self, topic: &str) -> Option<Value> {
        let all = self.retained(topic).await;
        all.get(topic)
            .map(|p| serde_json::from_slice(p).expect("retained payload is JSON"))
    }

    /// Waits for the next live (not retained) message on `topic`.
    pub async fn next_live(&mut self, topic: &str) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let event = tokio::time::timeout_at(deadline, self.incoming.recv())
                .await
                .expect("a live message in time")
                .expect("session open");
            if let SessionEvent::Message(m) = event {
                if m.topic == topic && !m.retain {
                    return m.payload;
                }
            }
        }
    }

    /// Publishes a retained payload, as an agent does.
    pub async fn publish_retained(&self, topic: &str, payload: Value) {
        self.session
            .publish(topic, serde_json::to_vec(&payload).expect("encodes"), true)
            .await
            .expect("published");
    }
}

/// An `apply` request for `manifest` (YAML).
pub fn apply(manifest_yaml: &str) -> Value {
    let manifest: Value = ank_schemas::yaml::from_str(manifest_yaml, &Default::default())
        .expect("test manifest is YAML");
    json!({"op": "apply", "manifest": manifest})
}

/// Asserts that a response is a success and returns its body.
pub fn ok(response: &Value) -> &Value {
    assert!(
        response.get("ok").is_some(),
        "expected success, got {response:#}"
    );
    &response["ok"]
}

/// Asserts that a response is a refusal and returns it.
pub fn refused(response: &Value) -> &Value {
    assert!(
        response.get("error").is_some(),
        "expected a refusal, got {response:#}"
    );
    &response["error"]
}

/// Writes a startup manifest file into `dir` and returns its path.
pub fn manifest_file(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("startup.yaml");
    std::fs::write(&path, yaml).expect("manifest written");
    path
}
