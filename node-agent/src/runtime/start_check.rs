//! What a `podman run --detach` that just returned says about its new container, without asking
//! podman again (issue 17). Not for `podman start` of an ended container: an exit file of its last
//! run may still be there.
//!
//! podman returns from `run -d` with the container id once the OCI runtime started the
//! container's process, so the container *is* running unless that process already ended. The
//! agent used to run `podman ps` for the instance after every run to learn that: one more podman
//! process (50–160 ms, 20–30 MiB while it runs) before `Running` could be published, twenty more
//! in a burst of twenty. Instead, the one fact that can contradict "running" is read directly:
//! conmon writes `<exit dir>/<container id>` the moment the process ends (`exit_files.rs`).
//!
//! The exit file is read once at return and once more [`START_SETTLE`] later, so a workload that
//! crashes as it starts is reported `Failed`/`Succeeded` without a `Running` first and `ank apply`
//! still exits 3 for it, as it did when the `podman ps` gave it that long. An exit after the second
//! read reaches the agent as an exit file or `died` event, and the newer fact wins
//! (`listing.rs`). Without a known exit directory, or for a workload whose `generalOptions` may
//! point podman at another store (another exit directory), there is no look here and the caller
//! asks podman (`observe`). No podman call and no state decision here: raw facts only.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ank_schemas::RuntimeKind;

use super::exit_files::read_exit_file;
use super::{labels, ContainerFacts, ObservedInstance, RawState};

/// How long after `podman run -d` returned an exit still counts as "ended while starting": a
/// process that ends within it is reported ended without a `Running` first. 50 ms covers a
/// `sh -c 'exit 1'` under a load of 10 on two cores (its exit file appeared within 20 ms of the
/// return in every probe, docs/agent.md), and costs less than the `podman ps` it replaces.
pub const START_SETTLE: Duration = Duration::from_millis(50);

/// Which container just started and how it is labelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started<'a> {
    /// The full instance id (its `ankmq.instance` label).
    pub instance: &'a str,
    /// The owning agent.
    pub agent: &'a str,
    /// The runtime that started it.
    pub runtime: RuntimeKind,
    /// The container name passed to `--name`.
    pub name: &'a str,
    /// The container id podman printed.
    pub id: &'a str,
}

/// The container as it is [`START_SETTLE`] after its start: running, or ended with the code in
/// its exit file. `None` when `exit_dir` is not a directory (nothing would ever show an exit).
pub async fn look(exit_dir: &Path, started: &Started<'_>) -> Option<ObservedInstance> {
    if !exit_dir.is_dir() {
        return None;
    }
    let file = exit_dir.join(started.id);
    let code = match read_exit_file(&file) {
        Some(code) => Some(code),
        None => {
            tokio::time::sleep(START_SETTLE).await;
            read_exit_file(&file)
        }
    };
    Some(observed(started, code, unix_now()))
}

/// The [`ObservedInstance`] of one container that started at `now` (unix seconds) and is running,
/// or ended with `code`.
pub fn observed(started: &Started<'_>, code: Option<i32>, now: i64) -> ObservedInstance {
    let labels: BTreeMap<String, String> =
        labels::ownership(started.instance, started.agent, &started.runtime, &[])
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
    let (state, word) = match code {
        Some(code) => (RawState::Exited { code }, "exited"),
        None => (RawState::Running, "running"),
    };
    ObservedInstance {
        instance: started.instance.to_owned(),
        agent: started.agent.to_owned(),
        general_options: Vec::new(),
        containers: vec![ContainerFacts {
            id: started.id.to_owned(),
            names: vec![started.name.to_owned()],
            labels,
            state,
            state_word: word.to_owned(),
            exit_code: code.unwrap_or(0),
            pod: None,
            is_infra: false,
            created_at: Some(now),
            started_at: Some(now),
            exited_at: code.map(|_| now),
        }],
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "af51146e2fac22b5a8ed6b2d0847577770dd7dfab733de34a088988639aa91a5";

    fn started() -> Started<'static> {
        Started {
            instance: "w.abc.agent_A",
            agent: "agent_A",
            runtime: RuntimeKind::Podman,
            name: "w.abc",
            id: ID,
        }
    }

    #[tokio::test]
    async fn issue_17_a_started_container_without_an_exit_file_is_running() {
        let dir = tempfile::tempdir().expect("tempdir");
        let found = look(dir.path(), &started()).await.expect("a look");
        assert_eq!(found.state(), RawState::Running);
        assert_eq!(found.instance, "w.abc.agent_A");
        let container = &found.containers[0];
        assert_eq!(container.id, ID);
        assert_eq!(container.label(labels::AGENT), Some("agent_A"));
        assert_eq!(container.label(labels::RUNTIME), Some("podman"));
        assert_eq!(container.exited_at, None);
    }

    #[tokio::test]
    async fn issue_17_a_container_whose_exit_file_is_there_ended_while_starting() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(ID), "7").expect("write");
        let found = look(dir.path(), &started()).await.expect("a look");
        assert_eq!(found.state(), RawState::Exited { code: 7 });
        assert!(found.containers[0].exited_at.is_some());
    }

    #[tokio::test]
    async fn issue_17_an_exit_file_that_is_not_a_code_is_no_exit_and_no_exit_dir_is_no_look() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(ID), "x".repeat(4096)).expect("write");
        let found = look(dir.path(), &started()).await.expect("a look");
        assert_eq!(found.state(), RawState::Running);
        assert_eq!(look(&dir.path().join("absent"), &started()).await, None);
    }
}
