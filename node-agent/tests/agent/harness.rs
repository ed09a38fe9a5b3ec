//! A broker, a test controller (a plain bus session that publishes snapshots and records
//! states), agents run in-process or as the real binary, and drop guards that remove every
//! container of a test's agents. Every wait polls a condition against a deadline.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ank_agent::{run, AgentConfig};
use ank_broker::{BrokerConfig, BrokerHandle};
use ank_bus::{ConnectOptions, Session, SessionEvent};
use ank_schemas::{
    AgentSnapshot, AgentStatus, ControlInterfaceAccess, DesiredWorkload, InstanceId, RestartPolicy,
    Topic, Topics, WorkloadFile, WorkloadStatePayload,
};
use ank_system_tests::podman;
// Every test module takes its waits from here (`use crate::harness::*`).
pub use ank_testkit::{eventually, stays};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a test waits for a condition.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// One test's world: a broker, a unique topic prefix, a run folder.
pub struct Env {
    _broker: BrokerHandle,
    pub url: String,
    pub topics: Topics,
    pub run_folder: tempfile::TempDir,
    test: String,
}

impl Env {
    pub async fn start(test: &str) -> Env {
        let broker = ank_broker::start(BrokerConfig::for_tests())
            .await
            .expect("the embedded broker starts");
        let url = format!("mqtt://{}", broker.mqtt_addr());
        let test = format!("t{}-{test}", std::process::id());
        Env {
            _broker: broker,
            url,
            topics: Topics::new(&format!("test/{test}")).expect("a valid prefix"),
            run_folder: tempfile::tempdir().expect("a temp dir"),
            test,
        }
    }

    /// A unique agent name (also the label the cleanup guard removes by).
    pub fn agent_name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.test)
    }

    pub fn config(&self, name: &str) -> AgentConfig {
        let mut config = AgentConfig::with_defaults(name).expect("a valid name");
        config.broker = self.url.clone();
        config.topics = self.topics.clone();
        config.run_folder = self.run_folder.path().to_owned();
        config.resync_interval = Duration::from_secs(2);
        config.resource_interval = Duration::from_secs(1);
        let conf = podman::containers_conf().expect("the test environment is set up");
        config
            .podman_env
            .push(("CONTAINERS_CONF".into(), conf.display().to_string()));
        config
    }
}

/// Removes every container and pod of an agent when dropped, even when the test failed.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let filter = format!("label=ankmq.agent={}", self.0);
        if let Ok(out) = podman::run(&["pod", "ps", "-q", "--filter", &filter]) {
            for pod in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = podman::run(&["pod", "rm", "-f", "-t", "0", pod]);
            }
        }
        let _ = podman::run(&["rm", "-f", "-t", "0", "--filter", &filter]);
    }
}

/// An agent running in this process.
pub struct InProcessAgent {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl InProcessAgent {
    pub fn start(config: AgentConfig) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(config, async move {
            let _ = stopped.await;
        }));
        Self {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// SIGTERM-like: publish offline and return.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(DEADLINE, task)
                .await
                .expect("the agent stops in time");
            result
                .expect("no panic")
                .expect("the agent ends without error");
        }
    }

    /// Like a crash: the task and its session vanish without a word.
    pub async fn crash(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for InProcessAgent {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The real `ank-agent` binary; killed (SIGKILL) when dropped.
pub struct BinaryAgent(pub Child);

impl BinaryAgent {
    pub fn start(env: &Env, name: &str) -> Self {
        let conf = podman::containers_conf().expect("the test environment is set up");
        let child = Command::new(env!("CARGO_BIN_EXE_ank-agent"))
            .args(["--name", name, "--broker", &env.url])
            .args(["--topic-prefix", env.topics.prefix()])
            .arg("--run-folder")
            .arg(env.run_folder.path())
            .args(["--resync-interval", "2"])
            .env("CONTAINERS_CONF", conf)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .expect("the agent binary starts");
        Self(child)
    }

    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for BinaryAgent {
    fn drop(&mut self) {
        self.kill9();
    }
}

type States = Arc<Mutex<BTreeMap<(String, String), WorkloadStatePayload>>>;
type Statuses = Arc<Mutex<BTreeMap<String, AgentStatus>>>;
type History = Arc<Mutex<Option<BTreeMap<(String, String), Vec<String>>>>>;

/// Plays the controller: publishes snapshots and records what agents publish.
pub struct Controller {
    session: Session,
    topics: Topics,
    states: States,
    /// Every state text seen per (agent, workload), once [`Controller::record_history`] is on.
    history: History,
    statuses: Statuses,
    generation: u64,
    _reader: JoinHandle<()>,
}

impl Controller {
    pub async fn connect(env: &Env) -> Controller {
        let mut options =
            ConnectOptions::from_url(&env.url, &format!("ctl-{}", std::process::id()))
                .expect("a valid URL");
        options.client_id = format!("ctl{}", rand_suffix());
        options.topics = env.topics.clone();
        let (session, mut incoming) = Session::connect(options, None)
            .await
            .expect("the controller connects");
        session
            .subscribe(&env.topics.all_workload_states())
            .await
            .expect("subscribed");
        session
            .subscribe(&env.topics.all_agent_statuses())
            .await
            .expect("subscribed");
        let states = States::default();
        let history = History::default();
        let statuses = Statuses::default();
        let topics = env.topics.clone();
        let reader = {
            let states = states.clone();
            let history = history.clone();
            let statuses = statuses.clone();
            tokio::spawn(async move {
                while let Some(event) = incoming.recv().await {
                    let SessionEvent::Message(message) = event else {
                        continue;
                    };
                    match topics.parse(&message.topic) {
                        Some(Topic::WorkloadState { agent, workload }) => {
                            let mut states = states.lock().expect("not poisoned");
                            if message.payload.is_empty() {
                                states.remove(&(agent, workload));
                            } else if let Ok(p) =
                                serde_json::from_slice::<WorkloadStatePayload>(&message.payload)
                            {
                                if let Some(seen) = history.lock().expect("not poisoned").as_mut() {
                                    seen.entry((agent.clone(), workload.clone()))
                                        .or_default()
                                        .push(p.state.to_string());
                                }
                                states.insert((agent, workload), p);
                            }
                        }
                        Some(Topic::AgentStatus { agent }) => {
                            if let Ok(s) = serde_json::from_slice(&message.payload) {
                                statuses.lock().expect("not poisoned").insert(agent, s);
                            }
                        }
                        _ => {}
                    }
                }
            })
        };
        Controller {
            session,
            topics: env.topics.clone(),
            states,
            history,
            statuses,
            generation: 0,
            _reader: reader,
        }
    }

    /// Publishes the agent's snapshot (retained) with the next generation; returns it.
    pub async fn publish(&mut self, agent: &str, workloads: &[&DesiredWorkload]) -> u64 {
        self.generation += 1;
        let snapshot = AgentSnapshot {
            generation: self.generation,
            workloads: workloads
                .iter()
                .map(|w| (w.instance_id.workload.clone(), (*w).clone()))
                .collect(),
        };
        let payload = serde_json::to_vec(&snapshot).expect("serialisable");
        self.publish_raw(agent, payload, true).await;
        self.generation
    }

    /// Publishes any bytes on the agent's desired topic.
    pub async fn publish_raw(&self, agent: &str, payload: Vec<u8>, retain: bool) {
        self.session
            .publish(&self.topics.agent_desired(agent), payload, retain)
            .await
            .expect("published");
    }

    /// Starts recording every state each workload reports.
    pub fn record_history(&mut self) {
        *self.history.lock().expect("not poisoned") = Some(BTreeMap::new());
    }

    /// Every state text `workload` reported since [`Controller::record_history`].
    pub fn history(&self, agent: &str, workload: &str) -> Vec<String> {
        self.history
            .lock()
            .expect("not poisoned")
            .as_ref()
            .and_then(|h| h.get(&(agent.to_owned(), workload.to_owned())).cloned())
            .unwrap_or_default()
    }

    /// Publishes `payload` retained on `agent`'s state topic of `workload`, as any client with
    /// `agent`'s login could.
    pub async fn publish_state(&self, agent: &str, workload: &str, payload: Vec<u8>) {
        self.session
            .publish(&self.topics.workload_state(agent, workload), payload, true)
            .await
            .expect("published");
    }

    /// The state text of `workload` after it has kept it for `long` (panics if it changes).
    pub async fn stays(&self, agent: &str, workload: &str, long: Duration) -> String {
        let first = self.state(agent, workload).map(|p| p.state.to_string());
        let what = format!("{workload} keeping {first:?}");
        ank_testkit::stays(&what, long, || async {
            let now = self.state(agent, workload).map(|p| p.state.to_string());
            (now == first, now)
        })
        .await;
        first.unwrap_or_default()
    }

    pub fn state(&self, agent: &str, workload: &str) -> Option<WorkloadStatePayload> {
        self.states
            .lock()
            .expect("not poisoned")
            .get(&(agent.to_owned(), workload.to_owned()))
            .cloned()
    }

    pub fn status(&self, agent: &str) -> Option<AgentStatus> {
        self.statuses
            .lock()
            .expect("not poisoned")
            .get(agent)
            .cloned()
    }

    /// Waits until the workload's state satisfies `ok`; panics with the last state otherwise.
    pub async fn wait_state(
        &self,
        agent: &str,
        workload: &str,
        what: &str,
        ok: impl Fn(&WorkloadStatePayload) -> bool,
    ) -> WorkloadStatePayload {
        let last = eventually(what, DEADLINE, || async {
            let state = self.state(agent, workload);
            let done = state.as_ref().is_some_and(&ok);
            (done, state)
        })
        .await;
        last.expect("a state")
    }

    /// Waits for `Display` text of the state, e.g. `Running(Ok)`.
    pub async fn wait_for(&self, agent: &str, workload: &str, state: &str) -> WorkloadStatePayload {
        self.wait_state(agent, workload, &format!("{workload} {state}"), |p| {
            p.state.to_string() == state
        })
        .await
    }
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        % 1_000_000_007
}

/// A `podman` workload running `sh -c script` in the test image.
pub fn shell(name: &str, agent: &str, script: &str, policy: RestartPolicy) -> DesiredWorkload {
    let config = format!(
        "image: {}\ncommandArgs: [\"sh\", \"-c\", {}]\n",
        podman::test_image(),
        serde_json::to_string(script).expect("a string")
    );
    workload(name, agent, "podman", &config, policy, Vec::new())
}

pub fn workload(
    name: &str,
    agent: &str,
    runtime: &str,
    config: &str,
    policy: RestartPolicy,
    files: Vec<WorkloadFile>,
) -> DesiredWorkload {
    DesiredWorkload {
        instance_id: InstanceId::compute(name, agent, runtime, config, &files),
        runtime: runtime.parse().expect("a runtime name"),
        runtime_config: config.into(),
        restart_policy: policy,
        dependencies: BTreeMap::new(),
        tags: BTreeMap::new(),
        files,
        control_interface_access: ControlInterfaceAccess::default(),
        delete_conditions: BTreeMap::new(),
        expected_instances: BTreeMap::new(),
    }
}

/// One container as `podman ps` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub started_at: i64,
    pub state: String,
}

/// The containers labelled with `instance`.
pub fn containers(instance: &InstanceId) -> Vec<Container> {
    let filter = format!("label=ankmq.instance={instance}");
    let out = podman::run(&["ps", "-a", "--format", "json", "--filter", &filter])
        .expect("podman ps works");
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    list.iter()
        .map(|c| Container {
            id: c["Id"].as_str().unwrap_or_default().to_owned(),
            started_at: c["StartedAt"].as_i64().unwrap_or_default(),
            state: c["State"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// The one container of `instance`; panics if there is not exactly one.
pub fn the_container(instance: &InstanceId) -> Container {
    let mut all = containers(instance);
    assert_eq!(all.len(), 1, "one container of {instance}: {all:?}");
    all.remove(0)
}

/// A long-running script that ends within a second of SIGTERM (a plain `sleep` as PID 1
/// ignores it, and every delete would wait for podman's 10 s grace).
pub const SERVICE: &str = "trap 'exit 0' TERM; while true; do sleep 1; done";
