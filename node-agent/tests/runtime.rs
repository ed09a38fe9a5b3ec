//! The runtime connectors against real podman (see ank_system_tests::podman for the machine
//! setup). Each test owns a unique agent name, so tests run in parallel, and a drop guard
//! removes everything labelled with it even when the test fails.

use std::time::{Duration, Instant};

use ank_agent::runtime::events::ContainerEvent;
use ank_agent::runtime::podman::PodmanRunSpec;
use ank_agent::runtime::{
    EventWatcher, InstanceRef, KubeSpec, LineStream, LogOptions, PodmanCli, PodmanKubeRuntime,
    PodmanRuntime, RawState, RuntimeConnector, RuntimeId, WatchItem,
};
use ank_system_tests::podman;
use ank_testkit::eventually;

#[path = "runtime/events_source.rs"]
mod events_source;

const DEADLINE: Duration = Duration::from_secs(30);

fn cli() -> PodmanCli {
    let conf = podman::containers_conf().expect("the test environment is set up");
    PodmanCli::new("podman").with_env("CONTAINERS_CONF", conf)
}

/// A unique agent name for one test; removes the agent's containers and pods when dropped.
struct Agent(String);

impl Agent {
    fn new(test: &str) -> Self {
        Agent(format!("t{}-{test}", std::process::id()))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let filter = format!("label=ankmq.agent={}", self.0);
        if let Ok(out) = podman::run(&["pod", "ps", "-q", "--filter", &filter]) {
            for pod in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = podman::run(&["pod", "stop", "-t", "0", pod]);
                let _ = podman::run(&["pod", "rm", "-f", pod]);
            }
        }
        let _ = podman::run(&["rm", "-f", "-t", "0", "--filter", &filter]);
    }
}

fn exec(container: &str, script: &str) {
    podman::run(&["exec", container, "sh", "-c", script]).expect("podman exec works");
}

fn run_spec(agent: &Agent, workload: &str, script: &str) -> PodmanRunSpec {
    PodmanRunSpec {
        instance: format!("{workload}.0123456.{}", agent.0),
        container_name: format!("{workload}-{}", agent.0),
        image: podman::test_image(),
        general_options: vec!["--log-level".into(), "error".into()],
        command_options: vec!["--env=GREETING=hi".into()],
        command_args: vec!["sh".into(), "-c".into(), script.into()],
        mounts: Vec::new(),
    }
}

async fn next_event(
    watcher: &mut EventWatcher,
    what: &str,
    matches: impl Fn(&ContainerEvent) -> bool,
) -> ContainerEvent {
    let wait = async {
        loop {
            match watcher.next().await {
                Some(WatchItem::Event(event)) if matches(&event) => return event,
                Some(_) => continue,
                None => panic!("the watcher ended"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for event: {what}"))
}

async fn line_containing(stream: &mut LineStream, needle: &str) -> String {
    let wait = async {
        while let Some(line) = stream.next_line().await {
            if line.text.contains(needle) {
                return line.text;
            }
        }
        panic!("the log stream ended before {needle:?}");
    };
    tokio::time::timeout(DEADLINE, wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for log line {needle:?}"))
}

#[tokio::test]
async fn podman_container_runs_exits_restarts_and_is_deleted() {
    let agent = Agent::new("life");
    let runtime = PodmanRuntime::new(cli(), &agent.0).with_stop_grace(Duration::from_secs(0));
    let mut watcher = EventWatcher::spawn(cli(), &agent.0, Duration::from_millis(200));
    assert_eq!(watcher.next().await, Some(WatchItem::ResyncNeeded));

    let spec = run_spec(
        &agent,
        "life",
        "while [ ! -f /tmp/stop ]; do sleep 0.05; done; exit 3",
    );
    let started = Instant::now();
    let RuntimeId::Container(id) = runtime.create(&spec).await.expect("podman run works") else {
        panic!("podman returns a container id");
    };
    let create_took = started.elapsed();

    let start = next_event(&mut watcher, "start", |e| e.id == id && e.status == "start").await;
    assert_eq!(start.instance(), Some(spec.instance.as_str()));

    let listed = runtime.list_instances().await.expect("ps works");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].instance, spec.instance);
    assert_eq!(listed[0].agent, agent.0);
    assert_eq!(listed[0].general_options, spec.general_options);
    assert_eq!(listed[0].containers[0].id, id);
    assert_eq!(listed[0].state(), RawState::Running);

    exec(&id, "touch /tmp/stop");
    let exit_seen = Instant::now();
    let died = next_event(&mut watcher, "died", |e| e.id == id && e.status == "died").await;
    let event_latency = exit_seen.elapsed();
    assert_eq!(died.exit_code, Some(3));
    // Right after `died`, podman may still show the transient `stopped` for a few hundred
    // milliseconds before `exited` (seen in a full CI-like run): wait for the settled state.
    eventually("ps to show the exit code", DEADLINE, || async {
        let observed = runtime
            .observe(&spec.to_ref())
            .await
            .expect("ps works")
            .expect("the container is still there");
        (observed.state() == RawState::Exited { code: 3 }).then_some(())
    })
    .await;

    // The marker file is still in the container, so the restarted process exits again at once.
    let restarted = runtime.restart(&spec).await.expect("podman start works");
    assert_eq!(restarted, RuntimeId::Container(id.clone()));
    next_event(&mut watcher, "second start", |e| {
        e.id == id && e.status == "start"
    })
    .await;

    runtime.delete(&spec.to_ref()).await.expect("delete works");
    next_event(&mut watcher, "remove", |e| {
        e.id == id && e.status == "remove"
    })
    .await;
    assert_eq!(
        runtime.observe(&spec.to_ref()).await.expect("ps works"),
        None
    );
    assert!(runtime.list_instances().await.expect("ps").is_empty());
    runtime
        .delete(&spec.to_ref())
        .await
        .expect("deleting what is gone succeeds");
    eprintln!("create took {create_took:?}; died event {event_latency:?} after exec returned");
}

/// conmon's exit file, not podman's later `died` event, reports the exit: the watcher's `died`
/// carries no podman time, and podman's own `died` is not passed on again. Multi-threaded, like
/// the agent: `exec` blocks its thread, and the watcher must read the file before podman's
/// cleanup removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_17_an_exit_is_reported_from_conmons_exit_file() {
    let agent = Agent::new("exitfile");
    let runtime = PodmanRuntime::new(cli(), &agent.0).with_stop_grace(Duration::from_secs(0));
    let mut watcher = EventWatcher::spawn(cli(), &agent.0, Duration::from_millis(200));
    assert_eq!(watcher.next().await, Some(WatchItem::ResyncNeeded));
    let spec = run_spec(
        &agent,
        "exitfile",
        "while [ ! -f /tmp/stop ]; do sleep 0.05; done; exit 3",
    );
    let RuntimeId::Container(id) = runtime.create(&spec).await.expect("podman run works") else {
        panic!("podman returns a container id");
    };
    next_event(&mut watcher, "start", |e| e.id == id && e.status == "start").await;
    exec(&id, "touch /tmp/stop");
    let died = next_event(&mut watcher, "died", |e| e.id == id && e.status == "died").await;
    assert_eq!(died.exit_code, Some(3));
    assert_eq!(died.instance(), Some(spec.instance.as_str()));
    assert_eq!(died.time, "", "from the exit file, not from podman's event");
    runtime.delete(&spec.to_ref()).await.expect("delete works");
    let mut later = Vec::new();
    let wait = async {
        loop {
            match watcher.next().await {
                Some(WatchItem::Event(e)) if e.id == id => {
                    later.push(e.status.clone());
                    if e.status == "remove" {
                        return;
                    }
                }
                Some(_) => {}
                None => panic!("the watcher ended"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, wait)
        .await
        .expect("the remove event in time");
    assert!(!later.iter().any(|s| s == "died"), "{later:?}");
}

#[tokio::test]
async fn list_instances_sees_only_its_own_agent_and_runtime() {
    let mine = Agent::new("mine");
    let other = Agent::new("other");
    let runtime = PodmanRuntime::new(cli(), &mine.0);
    let stranger = PodmanRuntime::new(cli(), &other.0);
    let spec_a = run_spec(&mine, "a", "sleep 60");
    let spec_b = run_spec(&mine, "b", "exit 0");
    runtime.create(&spec_a).await.expect("run a");
    runtime.create(&spec_b).await.expect("run b");
    stranger
        .create(&run_spec(&other, "c", "sleep 60"))
        .await
        .expect("run c");

    let listed = eventually("b to exit", DEADLINE, || async {
        let listed = runtime.list_instances().await.expect("ps works");
        (listed.len() == 2 && listed[1].state() == RawState::Exited { code: 0 }).then_some(listed)
    })
    .await;
    let names: Vec<&str> = listed.iter().map(|i| i.instance.as_str()).collect();
    assert_eq!(names, [spec_a.instance.as_str(), spec_b.instance.as_str()]);
    // A kube connector of the same agent does not claim plain containers.
    let kube = PodmanKubeRuntime::new(cli(), &mine.0);
    assert!(kube.list_instances().await.expect("ps works").is_empty());
}

#[tokio::test]
async fn a_failed_run_leaves_no_container_behind() {
    let agent = Agent::new("fail");
    let runtime = PodmanRuntime::new(cli(), &agent.0);
    let spec = PodmanRunSpec {
        command_args: vec!["/no/such/binary".into()],
        ..run_spec(&agent, "fail", "")
    };
    let err = runtime
        .create(&spec)
        .await
        .expect_err("the command does not exist");
    let text = err.to_string();
    assert!(text.contains("podman") && text.contains("run"), "{text}");
    assert!(err.is_retryable());
    assert_eq!(runtime.observe(&spec.to_ref()).await.expect("ps"), None);
}

#[tokio::test]
async fn logs_follow_a_container_including_lines_written_later() {
    let agent = Agent::new("logs");
    let runtime = PodmanRuntime::new(cli(), &agent.0).with_stop_grace(Duration::ZERO);
    let spec = run_spec(
        &agent,
        "logs",
        "echo first $GREETING; echo to-stderr >&2; \
         while [ ! -f /tmp/go ]; do sleep 0.05; done; echo second; sleep 60",
    );
    let RuntimeId::Container(id) = runtime.create(&spec).await.expect("run") else {
        panic!("container id");
    };
    let options = LogOptions {
        follow: true,
        ..LogOptions::default()
    };
    let mut stream = runtime.logs(&spec.to_ref(), &options).await.expect("logs");
    assert_eq!(line_containing(&mut stream, "first").await, "first hi");
    line_containing(&mut stream, "to-stderr").await;
    exec(&id, "touch /tmp/go");
    assert_eq!(line_containing(&mut stream, "second").await, "second");
    drop(stream);

    let tail = LogOptions {
        tail: Some(1),
        ..LogOptions::default()
    };
    let mut stream = runtime.logs(&spec.to_ref(), &tail).await.expect("logs");
    let mut lines = Vec::new();
    while let Some(line) = stream.next_line().await {
        lines.push(line.text);
    }
    assert_eq!(lines, ["second"]);
    stream.finish().await.expect("podman logs exits 0");

    let missing = InstanceRef::new(format!("nothing.0.{}", agent.0));
    assert!(runtime.logs(&missing, &options).await.is_err());
}

fn kube_manifest(agent: &Agent) -> String {
    let image = podman::test_image();
    let a = &agent.0;
    format!(
        "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg-{a}
data:
  greeting: hello-from-configmap
---
apiVersion: v1
kind: Pod
metadata:
  name: pod-{a}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: {image}
    imagePullPolicy: Never
    command: [\"sh\", \"-c\", \"echo $GREETING; sleep 60\"]
    env:
    - name: GREETING
      valueFrom:
        configMapKeyRef:
          name: cfg-{a}
          key: greeting
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dep-{a}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: dep-{a}
  template:
    metadata:
      labels:
        app: dep-{a}
    spec:
      restartPolicy: Never
      containers:
      - name: worker
        image: {image}
        imagePullPolicy: Never
        command: [\"sh\", \"-c\", \"echo working; sleep 60\"]
"
    )
}

#[tokio::test]
async fn kube_play_runs_a_pod_and_a_deployment_then_kube_down_removes_them() {
    let agent = Agent::new("kube");
    let runtime = PodmanKubeRuntime::new(cli(), &agent.0).with_stop_grace(Duration::ZERO);
    let spec = KubeSpec {
        instance: format!("kube.abcdef0.{}", agent.0),
        manifest: kube_manifest(&agent),
        general_options: vec!["--log-level".into(), "error".into()],
        play_options: Vec::new(),
        down_options: Vec::new(),
        control_interface: None,
    };
    let started = Instant::now();
    let RuntimeId::Pods(pods) = runtime.create(&spec).await.expect("kube play works") else {
        panic!("kube play returns pods");
    };
    let play_took = started.elapsed();
    assert_eq!(pods.len(), 2, "{pods:?}");

    let observed = eventually("both containers running", DEADLINE, || async {
        let found = runtime.observe(&spec.to_ref()).await.expect("ps works")?;
        (found.containers.len() == 2 && found.state() == RawState::Running).then_some(found)
    })
    .await;
    let mut seen_pods = observed.pods();
    let mut played_pods = pods.clone();
    seen_pods.sort();
    played_pods.sort();
    assert_eq!(seen_pods, played_pods);
    let names: Vec<&str> = observed.containers.iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            format!("dep-{}-pod-0-worker", agent.0),
            format!("pod-{}-main", agent.0)
        ]
    );

    let listed = runtime.list_instances().await.expect("ps works");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].instance, spec.instance);
    assert_eq!(listed[0].general_options, spec.general_options);
    let plain = PodmanRuntime::new(cli(), &agent.0);
    assert!(plain.list_instances().await.expect("ps").is_empty());

    let mut logs = runtime
        .logs(&spec.to_ref(), &LogOptions::default())
        .await
        .expect("logs");
    let mut lines = Vec::new();
    while let Some(line) = logs.next_line().await {
        lines.push(line.text);
    }
    lines.sort();
    assert_eq!(
        lines,
        [
            format!("dep-{}-pod-0-worker working", agent.0),
            format!("pod-{}-main hello-from-configmap", agent.0)
        ]
    );

    let RuntimeId::Pods(new_pods) = runtime.restart(&spec).await.expect("down then play") else {
        panic!("pods");
    };
    assert_eq!(new_pods.len(), 2);
    assert!(
        new_pods.iter().all(|p| !pods.contains(p)),
        "new pods after a restart"
    );

    let started = Instant::now();
    runtime
        .delete(&spec.to_ref())
        .await
        .expect("kube down works");
    let down_took = started.elapsed();
    assert_eq!(runtime.observe(&spec.to_ref()).await.expect("ps"), None);
    let filter = format!("label=ankmq.agent={}", agent.0);
    let left = podman::run(&["pod", "ps", "-q", "--filter", &filter]).expect("pod ps");
    assert!(left.stdout.is_empty(), "no pods left");
    eprintln!("kube play took {play_took:?}; delete took {down_took:?}");
}

#[tokio::test]
async fn kube_pods_are_found_and_removed_by_a_restarted_agent() {
    let agent = Agent::new("adopt");
    let spec = KubeSpec {
        instance: format!("adopt.abcdef0.{}", agent.0),
        manifest: kube_manifest(&agent),
        general_options: Vec::new(),
        play_options: Vec::new(),
        down_options: Vec::new(),
        control_interface: None,
    };
    PodmanKubeRuntime::new(cli(), &agent.0)
        .create(&spec)
        .await
        .expect("kube play works");

    // A new connector remembers no manifest, as after an agent restart.
    let restarted = PodmanKubeRuntime::new(cli(), &agent.0).with_stop_grace(Duration::ZERO);
    let listed = restarted.list_instances().await.expect("ps works");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].pods().len(), 2);
    restarted
        .delete(&listed[0].to_ref())
        .await
        .expect("pods removed by label");
    assert!(restarted.list_instances().await.expect("ps").is_empty());
}

#[tokio::test]
async fn an_invalid_manifest_is_not_retryable() {
    let agent = Agent::new("badyaml");
    let runtime = PodmanKubeRuntime::new(cli(), &agent.0);
    let spec = KubeSpec {
        instance: format!("bad.0.{}", agent.0),
        manifest: "kind: Pod\nmetadata: [".into(),
        general_options: Vec::new(),
        play_options: Vec::new(),
        down_options: Vec::new(),
        control_interface: None,
    };
    let err = runtime.create(&spec).await.expect_err("not YAML");
    assert!(!err.is_retryable(), "{err}");
}
