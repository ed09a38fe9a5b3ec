//! Where the agent reads podman's events from, against real podman (issue 17, figure 7h): the
//! tail of podman's file events log when its path is certain, a `podman events` child when not.
//! The rotation test points podman at a log of its own in a temp directory, with a tiny
//! `events_logfile_max_size`, so podman rotates that file and not the machine's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ank_agent::runtime::events_source::{detect, Choice};
use ank_agent::runtime::events_stream::{EventStream, StreamItem};
use ank_agent::runtime::{PodmanCli, PodmanRuntime, RuntimeConnector, RuntimeId};

use super::{cli, run_spec, Agent, DEADLINE};

/// The test machine's containers.conf with `engine` keys added, written into `dir`.
fn conf_with(dir: &Path, engine: &[(&str, &str)]) -> PathBuf {
    let base = ank_system_tests::podman::containers_conf().expect("the test environment is set up");
    let text = std::fs::read_to_string(&base).expect("read containers.conf");
    let mut table: toml::Table = text.parse().expect("containers.conf is TOML");
    let engine_table = table
        .entry("engine")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .expect("[engine] is a table");
    for (key, value) in engine {
        engine_table.insert((*key).into(), toml::Value::String((*value).into()));
    }
    let path = dir.join("containers.conf");
    std::fs::write(&path, toml::to_string(&table).expect("serialise")).expect("write conf");
    path
}

fn cli_with_conf(conf: &Path) -> PodmanCli {
    PodmanCli::new("podman")
        .with_env("CONTAINERS_CONF", conf)
        .with_exit_dir(None)
}

/// Items of `stream` until one matches; panics after [`DEADLINE`]. Returns what came before too.
async fn until(
    stream: &mut EventStream,
    what: &str,
    matches: impl Fn(&StreamItem) -> bool,
) -> Vec<StreamItem> {
    let mut seen = Vec::new();
    let wait = async {
        loop {
            match stream.next().await {
                Some(item) => {
                    let done = matches(&item);
                    seen.push(item);
                    if done {
                        return;
                    }
                }
                None => panic!("the event stream ended"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}: saw {seen:?}"));
    seen
}

fn is_event(item: &StreamItem, id: &str, status: &str) -> bool {
    matches!(item, StreamItem::Event(e) if e.id == id && e.status == status)
}

async fn create(runtime: &PodmanRuntime, agent: &Agent, workload: &str, script: &str) -> String {
    let spec = run_spec(agent, workload, script);
    match runtime.create(&spec).await.expect("podman run works") {
        RuntimeId::Container(id) => id,
        other => panic!("podman returns a container id, not {other:?}"),
    }
}

#[tokio::test]
async fn issue_17_the_tail_of_podmans_log_delivers_its_agents_create_start_and_died_only() {
    let cli = cli().with_exit_dir(None);
    let choice = detect(&cli).await;
    assert_eq!(
        choice,
        Choice::Tail(PathBuf::from("/run/libpod/events/events.log")),
        "the test machine's podman logs to a file at its default path"
    );
    let agent = Agent::new("tail");
    let other = Agent::new("tailother");
    let mut stream = EventStream::start(&cli, &choice, &agent.0, "").expect("starts");
    assert!(stream.is_tail(), "no podman events child");
    let theirs = PodmanRuntime::new(cli.clone(), &other.0);
    let ours = PodmanRuntime::new(cli.clone(), &agent.0);
    // Another agent's container first, so its lines come before ours in the log.
    let their_id = create(&theirs, &other, "theirs", "exit 0").await;
    let id = create(&ours, &agent, "ours", "sleep 0.5; exit 3").await;
    let seen = until(&mut stream, "died", |i| is_event(i, &id, "died")).await;
    let events: Vec<_> = seen
        .iter()
        .filter_map(|i| match i {
            StreamItem::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(events.iter().all(|e| e.id == id), "only ours: {events:?}");
    assert!(!events.iter().any(|e| e.id == their_id));
    let statuses: Vec<&str> = events.iter().map(|e| e.status.as_str()).collect();
    for status in ["create", "init", "start", "died"] {
        assert!(statuses.contains(&status), "{status} in {statuses:?}");
    }
    let died = events.last().expect("the died event");
    assert_eq!(died.exit_code, Some(3));
    assert!(!died.time.is_empty(), "podman's own event, from the log");
    assert_eq!(
        died.instance(),
        Some(run_spec(&agent, "ours", "").instance.as_str())
    );
}

#[tokio::test]
async fn issue_17_the_tail_survives_podmans_rotation_and_a_truncation_of_its_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("events").join("events.log");
    let log_text = log.to_str().expect("utf-8 path");
    // About two containers' lives per file: podman rotates it every few containers.
    let conf = conf_with(
        dir.path(),
        &[
            ("events_logfile_path", log_text),
            ("events_logfile_max_size", "3000"),
        ],
    );
    let cli = cli_with_conf(&conf);
    let choice = detect(&cli).await;
    assert_eq!(choice, Choice::Tail(log.clone()));
    let agent = Agent::new("rotate");
    let runtime = PodmanRuntime::new(cli.clone(), &agent.0).with_stop_grace(Duration::ZERO);
    let mut stream = EventStream::start(&cli, &choice, &agent.0, "").expect("starts");
    assert!(stream.is_tail());

    // podman rotates: a new file renamed over the log, announced as a gap.
    let mut rotated = false;
    for round in 0..8 {
        let id = create(&runtime, &agent, &format!("r{round}"), "exit 0").await;
        let seen = until(&mut stream, "died", |i| is_event(i, &id, "died")).await;
        if seen.contains(&StreamItem::Gap) {
            rotated = true;
            break;
        }
    }
    assert!(rotated, "podman rotated its log within 8 containers");
    // Events after the rotation arrive, and seen ones are not repeated.
    let id = create(&runtime, &agent, "after", "sleep 0.3; exit 4").await;
    let seen = until(&mut stream, "died after the rotation", |i| {
        is_event(i, &id, "died")
    })
    .await;
    let starts = seen.iter().filter(|i| is_event(i, &id, "start")).count();
    assert_eq!(starts, 1, "{seen:?}");

    // Someone truncates the log: a gap, then what podman writes next.
    std::fs::File::create(&log).expect("truncate");
    let id = create(&runtime, &agent, "truncated", "exit 5").await;
    let seen = until(&mut stream, "died after the truncation", |i| {
        is_event(i, &id, "died")
    })
    .await;
    assert_eq!(seen.first(), Some(&StreamItem::Gap), "{seen:?}");
    assert!(seen.iter().any(|i| is_event(i, &id, "start")));
}

#[tokio::test]
async fn issue_17_a_log_path_it_cannot_be_sure_of_falls_back_to_podman_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A `$` may or may not be expanded by podman: the agent does not guess, it asks podman.
    let log = dir.path().join("$events.log");
    let conf = conf_with(
        dir.path(),
        &[("events_logfile_path", log.to_str().expect("utf-8 path"))],
    );
    let cli = cli_with_conf(&conf);
    let choice = detect(&cli).await;
    assert!(matches!(choice, Choice::Child(_)), "{choice}");
    let agent = Agent::new("fallback");
    let runtime = PodmanRuntime::new(cli.clone(), &agent.0);
    // `--since` one second back, as the watcher starts it.
    let since = (std::time::SystemTime::now() - Duration::from_secs(1))
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        .to_string();
    let mut stream = EventStream::start(&cli, &choice, &agent.0, &since).expect("starts");
    assert!(!stream.is_tail(), "a podman events child");
    let id = create(&runtime, &agent, "child", "exit 0").await;
    until(&mut stream, "start from the child", |i| {
        is_event(i, &id, "start")
    })
    .await;
}
