use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ank_bus::{ConnectOptions, Session};
use ank_schemas::Topics;
use ank_system_tests::mosquitto::Mosquitto;
use ank_testkit::eventually;

use crate::fixture::{retained, snapshot};

/// A Mosquitto holding the fixture (or other retained messages) under a unique prefix.
pub struct Cluster {
    pub broker: Mosquitto,
    pub prefix: String,
}

impl Cluster {
    pub async fn start() -> Cluster {
        let broker = Mosquitto::start().expect("mosquitto starts");
        let prefix = format!("test{:08x}/ank/v1", rand::random::<u32>());
        Cluster { broker, prefix }
    }

    pub fn topics(&self) -> Topics {
        Topics::new(&self.prefix).expect("prefix")
    }

    pub fn options(&self, role: &str) -> ConnectOptions {
        let client_id = format!("{role}-{:08x}", rand::random::<u32>());
        let mut opts = ConnectOptions::from_url(&self.broker.url(), &client_id).expect("options");
        opts.topics = self.topics();
        opts
    }

    pub async fn session(&self) -> Session {
        Session::connect(self.options("test"), None)
            .await
            .expect("connects")
            .0
    }

    /// Publishes retained messages and waits until the broker holds every one of them.
    pub async fn publish(&self, messages: Vec<(String, serde_json::Value)>) {
        let session = self.session().await;
        for (topic, payload) in &messages {
            session
                .publish(topic, serde_json::to_vec(payload).expect("json"), true)
                .await
                .expect("publish");
        }
        // `publish` returns once queued: read back until the broker has them all (measured:
        // shutting the session down at once lost some of them).
        eventually(
            "the broker to hold every retained message",
            Duration::from_secs(5),
            || async {
                let filters = vec![self.topics().everything()];
                let held = session.read_retained(&filters).await.expect("read back");
                messages.iter().all(|(topic, payload)| {
                    held.iter().any(|m| {
                        &m.topic == topic
                            && serde_json::from_slice::<serde_json::Value>(&m.payload)
                                .ok()
                                .as_ref()
                                == Some(payload)
                    })
                })
            },
        )
        .await;
        session.shutdown(None).await;
    }

    pub async fn with_fixture() -> Cluster {
        let cluster = Cluster::start().await;
        cluster.publish(retained(&cluster.topics())).await;
        cluster
    }

    pub fn ank(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ank"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", "/nonexistent")
            .env("ANK_BROKER", self.broker.url())
            .env("ANK_TOPIC_PREFIX", &self.prefix);
        cmd
    }
}

/// A TCP forwarder in front of the broker that counts the connections `ank` opens (issue 17:
/// each one costs a handshake and a CONNACK round trip).
pub struct CountingProxy {
    pub url: String,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    pub async fn start(cluster: &Cluster) -> CountingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("mqtt://{}", listener.local_addr().expect("addr"));
        let upstream = cluster.broker.addr();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut broker) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                    }
                });
            }
        });
        CountingProxy {
            url,
            accepted,
            task,
        }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("ank runs")
}

#[tokio::test]
async fn every_get_prints_what_the_library_renders_from_retained_topics() {
    let cluster = Cluster::with_fixture().await;
    // (args, snapshot shared with output.rs)
    let cases: [(&[&str], &str); 6] = [
        (&["get", "workloads"], "workloads_all"),
        (
            &["get", "workload", "-s", "running(ok)"],
            "workloads_state_running",
        ),
        (&["get", "agents"], "agents"),
        (&["get", "configs"], "configs"),
        (&["get", "state", "-o", "json"], "state_json"),
        (
            &["get", "state", "workloadStates.*.nginx", "agents.*.status"],
            "state_mask_wildcard",
        ),
    ];
    for (args, name) in cases {
        let output = run(cluster.ank().args(args));
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert_eq!(text(&output.stderr), "", "{args:?}");
        snapshot(name, &text(&output.stdout));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_17_one_ank_get_opens_one_connection() {
    let cluster = Cluster::with_fixture().await;
    let proxy = CountingProxy::start(&cluster).await;
    let output = run(cluster
        .ank()
        .env("ANK_BROKER", &proxy.url)
        .args(["get", "workloads"]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    snapshot("workloads_all", &text(&output.stdout));
    assert_eq!(proxy.accepted(), 1, "connections opened by one `ank get`");
}

#[tokio::test]
async fn reads_need_no_controller() {
    let cluster = Cluster::with_fixture().await;
    let topics = cluster.topics();
    cluster
        .publish(vec![(
            topics.controller_status(),
            serde_json::json!({"state": "lost", "epoch": 1}),
        )])
        .await;
    let output = run(cluster.ank().args(["get", "workloads"]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    snapshot("workloads_all", &text(&output.stdout));
}

#[tokio::test]
async fn a_change_fails_at_once_when_the_controller_is_offline() {
    let cluster = Cluster::with_fixture().await;
    let topics = cluster.topics();
    cluster
        .publish(vec![(
            topics.controller_status(),
            serde_json::json!({"state": "offline", "epoch": 1, "since": "2025-05-01T11:00:00Z"}),
        )])
        .await;
    // A long response timeout: the error must not come from waiting for it.
    let started = Instant::now();
    let output =
        run(cluster
            .ank()
            .args(["--response-timeout", "30s", "delete", "workload", "nginx"]));
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(
            "error: controller offline since 2025-05-01T11:00:00Z (shut down)\nhint: "
        ),
        "{stderr}"
    );
    assert!(
        took < Duration::from_secs(15),
        "at once, not after the 30 s response timeout: took {took:?}"
    );
}

#[tokio::test]
async fn a_change_fails_at_once_when_no_controller_ever_ran() {
    let cluster = Cluster::start().await;
    let output = run(cluster.ank().args([
        "run",
        "workload",
        "w",
        "--runtime",
        "podman",
        "--agent",
        "a",
        "--config",
        "image: x",
    ]));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        text(&output.stderr).starts_with("error: controller offline (no controller has published"),
        "{}",
        text(&output.stderr)
    );
}

#[tokio::test]
async fn an_unreachable_broker_is_exit_1_with_a_hint() {
    let port = ank_system_tests::mosquitto::free_port().expect("a port");
    let output = run(Command::new(env!("CARGO_BIN_EXE_ank"))
        .env("HOME", "/nonexistent")
        .args([
            "-b",
            &format!("mqtt://127.0.0.1:{port}"),
            "get",
            "workloads",
        ]));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: cannot connect to the MQTT broker\ncaused by: "),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "hint: is the broker running at mqtt://127.0.0.1:{port}?"
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn settings_come_from_flag_then_env_then_file() {
    let cluster = Cluster::with_fixture().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("ank.toml");
    // The file names a prefix with nothing under it; the environment names the fixture's.
    std::fs::write(&config, "topic_prefix = \"empty/ank/v1\"\n").expect("write");
    let with_env = run(cluster
        .ank()
        .arg("--ank-config")
        .arg(&config)
        .args(["get", "configs"]));
    // Padded to the column, as Ankaios prints off a terminal.
    assert_eq!(
        text(&with_env.stdout),
        "CONFIG     \ndb_settings\nweb        \n"
    );
    let file_only = run(cluster
        .ank()
        .env_remove("ANK_TOPIC_PREFIX")
        .arg("--ank-config")
        .arg(&config)
        .args(["get", "configs"]));
    assert_eq!(text(&file_only.stdout), "CONFIG\n");
    let flag = run(cluster
        .ank()
        .env_remove("ANK_TOPIC_PREFIX")
        .arg("--ank-config")
        .arg(&config)
        .args(["--topic-prefix", &cluster.prefix, "get", "configs"]));
    assert_eq!(
        text(&flag.stdout),
        "CONFIG     \ndb_settings\nweb        \n"
    );
    std::fs::write(&config, "topic_prefx = \"typo\"\n").expect("write");
    let typo = run(cluster
        .ank()
        .arg("--ank-config")
        .arg(&config)
        .args(["get", "configs"]));
    assert_eq!(typo.status.code(), Some(1), "{typo:?}");
    assert!(
        text(&typo.stderr).contains("topic_prefx"),
        "{}",
        text(&typo.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_a_new_table_when_a_state_changes() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let cluster = Cluster::with_fixture().await;
    let mut child = cluster
        .ank()
        .args(["get", "workloads", "--watch", "nginx"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ank starts");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if line.contains(needle) {
                return true;
            }
        }
        false
    };
    assert!(wait_for("Running(Ok)"), "first table");
    let topics = cluster.topics();
    let nginx = crate::fixture::id("nginx", "agent_A", crate::fixture::NGINX_CONFIG);
    cluster
        .publish(vec![(
            topics.workload_state("agent_A", "nginx"),
            serde_json::json!({"instanceId": nginx.to_string(), "state": "Succeeded", "subState": "Ok"}),
        )])
        .await;
    let seen = wait_for("Succeeded(Ok)");
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen, "the change never showed");
}

/// Ankaios 1.0.1 exits 1 for every error found after its arguments parsed (an unknown workload
/// in `ank logs`, a bad workload or agent name, a config file it cannot use); only clap's own
/// errors exit 2. Captured: `ank logs nonexistent` → "Workload name 'nonexistent' does not
/// exist.", exit 1; `ank run workload bad.name …` and `ank apply --agent bad.agent …` exit 1.
#[tokio::test]
async fn issue_16_errors_found_after_parsing_exit_1_as_in_ankaios() {
    let cluster = Cluster::with_fixture().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("m.yaml");
    std::fs::write(&manifest, "apiVersion: v1\nconfigs:\n  k: v\n").expect("write");
    let manifest = manifest.to_str().expect("utf-8 path");
    let config = dir.path().join("ank.conf");
    std::fs::write(&config, "version = 'v2'\n").expect("write");
    let config = config.to_str().expect("utf-8 path");
    for args in [
        &["logs", "nonexistent"][..],
        &[
            "run",
            "workload",
            "bad.name",
            "--runtime",
            "podman",
            "--agent",
            "agent_A",
            "--config",
            "image: x",
        ][..],
        &["apply", "--agent", "bad.agent", manifest][..],
        &["--ank-config", config, "get", "configs"][..],
    ] {
        let output = run(cluster.ank().args(args));
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        assert!(
            text(&output.stderr).starts_with("error: "),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
}

/// Ankaios 1.0.1 prints "Nothing to update." on stdout (exit 0) for a manifest with neither
/// workloads nor configs, terminal or not; a script reading stdout sees it.
#[tokio::test]
async fn issue_16_apply_of_nothing_prints_ankaios_line_on_stdout() {
    let cluster = Cluster::with_fixture().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("nothing.yaml");
    std::fs::write(&manifest, "apiVersion: v1\n").expect("write");
    let output = run(cluster
        .ank()
        .args(["apply", manifest.to_str().expect("utf-8 path")]));
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(text(&output.stdout), "Nothing to update.\n");
    let quiet = run(cluster
        .ank()
        .args(["-q", "apply", manifest.to_str().expect("utf-8 path")]));
    assert_eq!(quiet.status.code(), Some(0), "{quiet:?}");
    assert_eq!(text(&quiet.stdout), "");
}
