//! Claims about `observed.rs`.

use std::sync::Arc;
use std::time::Instant;

use super::*;
use crate::dispatch::OpError;
use crate::runtime::RuntimeError;
use ank_schemas::{PendingSubstate, RunningSubstate, RuntimeProblem};

fn id(name: &str) -> InstanceId {
    InstanceId::compute(name, "agent_A", "podman", "image: x", &[])
}

#[test]
fn create_failures_count_attempts_and_a_non_retryable_one_is_final() {
    let now = Instant::now();
    let mut book = WorkloadBook::new(id("w"));
    let pull = |instance: &str| {
        Arc::new(OpError::Runtime(RuntimeError::NotFound {
            instance: instance.into(),
        }))
    };
    book.on_create_failed(pull("one"), now, 0.5);
    book.on_create_failed(pull("two"), now, 0.25);
    let failure = book.create_failure.clone().expect("retry scheduled");
    assert_eq!((failure.attempt, failure.jitter), (2, 0.25));
    assert_eq!(
        failure.error.to_string(),
        "no container of instance two exists"
    );
    let bad = RuntimeProblem::Unsupported(RuntimeKind::Other("containerd".into()));
    book.on_create_failed(Arc::new(OpError::Unstartable(bad)), now, 0.0);
    assert!(book.create_failure.is_none());
    let final_error = book.starting_failed.as_ref().map(|e| e.to_string());
    assert_eq!(
        final_error.as_deref(),
        Some("Unsupported Runtime 'containerd'")
    );
    book.on_created();
    assert!(book.starting_failed.is_none());
    assert!(book.created);
}

#[test]
fn restarts_count_and_remember_their_streak() {
    let now = Instant::now();
    let mut book = WorkloadBook::new(id("w"));
    book.on_restarted(now, 1);
    book.on_restarted(now, 2);
    assert_eq!((book.restart_count, book.crash_streak), (2, 2));
    assert_eq!(book.last_restart_at, Some(now));
}

#[test]
fn issue_13_only_the_expected_agent_answers_for_a_dependency() {
    let mut observed = Observed::new("agent_A", vec![RuntimeKind::Podman]);
    let running = ExecutionState::Running(RunningSubstate::Ok);
    let succeeded = ExecutionState::Succeeded(ank_schemas::SucceededSubstate::Ok);
    let on_b = InstanceId::compute("db", "agent_B", "podman", "image: x", &[]);
    let forged = InstanceId::compute("db", "agent_C", "podman", "image: x", &[]);
    observed.set_peer_state(
        "db",
        "agent_C",
        Some(PeerState {
            instance: forged,
            state: succeeded,
        }),
    );
    assert_eq!(
        observed.answer_for("db", &on_b, true),
        None,
        "agent_C's state of agent_B's workload is ignored"
    );
    observed.set_peer_state(
        "db",
        "agent_B",
        Some(PeerState {
            instance: on_b.clone(),
            state: running,
        }),
    );
    assert_eq!(observed.answer_for("db", &on_b, true), Some(running));
    observed.offline_agents.insert("agent_B".into());
    assert_eq!(
        observed.answer_for("db", &on_b, true),
        Some(ExecutionState::AgentDisconnected)
    );
    let newer = InstanceId::compute("db", "agent_B", "podman", "image: y", &[]);
    assert_eq!(
        observed.answer_for("db", &newer, true),
        None,
        "the state of an older instance does not count for the expected one"
    );
    assert_eq!(
        observed.answer_for("db", &newer, false),
        Some(ExecutionState::AgentDisconnected),
        "unless any instance of that agent counts (delete conditions)"
    );
}

#[test]
fn own_workloads_answer_from_what_this_agent_reported_not_from_the_bus() {
    let mut observed = Observed::new("agent_A", vec![RuntimeKind::Podman]);
    let waiting = ExecutionState::Pending(PendingSubstate::WaitingToStart);
    observed.set_peer_state(
        "db",
        "agent_A",
        Some(PeerState {
            instance: id("db"),
            state: ExecutionState::Running(RunningSubstate::Ok),
        }),
    );
    assert_eq!(
        observed.answer_for("db", &id("db"), true),
        None,
        "own echo ignored"
    );
    observed.record_report(WorkloadReport {
        workload: "db".into(),
        instance: id("db"),
        state: waiting,
        info: String::new(),
        restart_count: 0,
        exit_code: None,
        observed_generation: 1,
    });
    assert_eq!(observed.answer_for("db", &id("db"), true), Some(waiting));
}

#[test]
fn clearing_our_own_topic_forgets_the_removed_report() {
    let mut observed = Observed::new("agent_A", vec![]);
    observed.record_report(WorkloadReport {
        workload: "w".into(),
        instance: id("w"),
        state: ExecutionState::Removed,
        info: String::new(),
        restart_count: 0,
        exit_code: None,
        observed_generation: 1,
    });
    observed.set_peer_state("w", "agent_A", None);
    assert!(observed.reported.is_empty());
}

#[test]
fn a_died_event_of_the_only_container_is_a_provisional_exit() {
    let running = RuntimeInstance {
        instance: "w.abc.a".into(),
        id: None,
        runtime: RuntimeKind::Podman,
        state: RawState::Running,
        container_ids: vec!["c1".into()],
        general_options: Vec::new(),
        ran_for: None,
        started_at: Some(1_000),
        provisional: false,
    };
    let mut exited = running.clone();
    assert!(exited.record_exit("c1", 3, 1_090));
    assert_eq!(exited.state, RawState::Exited { code: 3 });
    assert_eq!(exited.ran_for, Some(Duration::from_secs(90)));
    assert!(exited.provisional);

    let mut other = running.clone();
    assert!(!other.record_exit("c2", 3, 1_090), "another container");
    assert_eq!(other, running);
    let mut pod = RuntimeInstance {
        container_ids: vec!["c1".into(), "c2".into()],
        ..running.clone()
    };
    assert!(
        !pod.record_exit("c1", 3, 1_090),
        "a pod's state is the worst of all"
    );
    assert_eq!(pod.state, RawState::Running);
}
