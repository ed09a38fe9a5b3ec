//! Claims about the loop's decisions, driven through [`Runner`] with a fake runtime: creation
//! after the first listing, the listing merge, provisional exits, restarts and pruning.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ank_schemas::{
    AgentSnapshot, ControlInterfaceAccess, DesiredWorkload, InstanceId, RestartPolicy, RuntimeKind,
};

use super::*;
use crate::fake_runtime::{FakeRuntime, FakeState};
use crate::listing::Listing;
use crate::observed::Operation;
use crate::runtime::{ContainerEvent, RawState};

const AGENT: &str = "agent_A";

type FakeRunner = Runner<FakeRuntime<PodmanRunSpec>, FakeRuntime<KubeSpec>>;

/// A runner with a fake podman (and a fake kube nobody uses), and the fake podman's memory.
fn fake_runner() -> (FakeRunner, Arc<Mutex<FakeState>>) {
    let podman = FakeRuntime::new(RuntimeKind::Podman, AGENT);
    let state = Arc::clone(&podman.state);
    let runtimes = Arc::new(Runtimes {
        podman: Some(podman),
        kube: Some(FakeRuntime::new(RuntimeKind::PodmanKube, AGENT)),
        io_folder: std::env::temp_dir().join("ank-runner-tests-unused"),
    });
    let runner = Runner::new(AGENT, RuntimeKind::KNOWN.to_vec(), runtimes);
    (runner, state)
}

fn workload(name: &str, policy: RestartPolicy) -> DesiredWorkload {
    let config = "image: localhost/img";
    DesiredWorkload {
        instance_id: InstanceId::compute(name, AGENT, "podman", config, &[]),
        runtime: RuntimeKind::Podman,
        runtime_config: config.into(),
        restart_policy: policy,
        dependencies: BTreeMap::new(),
        tags: BTreeMap::new(),
        files: Vec::new(),
        control_interface_access: ControlInterfaceAccess::default(),
        delete_conditions: BTreeMap::new(),
        expected_instances: BTreeMap::new(),
    }
}

fn snapshot(generation: u64, workloads: &[&DesiredWorkload]) -> AgentSnapshot {
    AgentSnapshot {
        generation,
        workloads: workloads
            .iter()
            .map(|w| (w.instance_id.workload.clone(), (*w).clone()))
            .collect(),
    }
}

fn calls(state: &Arc<Mutex<FakeState>>) -> Vec<String> {
    let state = state.lock().expect("the fake's lock");
    state
        .calls
        .iter()
        .filter(|c| *c != "list")
        .cloned()
        .collect()
}

fn states(reports: &[WorkloadReport]) -> Vec<String> {
    reports
        .iter()
        .map(|r| format!("{} {}", r.workload, r.state))
        .collect()
}

/// Lists and merges once.
async fn list(runner: &mut FakeRunner) {
    runner.start_listing();
    let listing = runner
        .listings
        .join_next()
        .await
        .expect("a listing")
        .expect("no panic");
    runner.on_listing(listing);
}

/// Finishes every operation in flight.
async fn finish_ops(runner: &mut FakeRunner) {
    while let Some(done) = runner.ops.join_next().await {
        runner.on_op_done(done.expect("no panic"));
    }
}

#[tokio::test]
async fn nothing_is_done_before_the_first_listing_then_the_workload_is_created_and_reported() {
    let (mut runner, fake) = fake_runner();
    let w = workload("w", RestartPolicy::Never);
    runner.on_snapshot(snapshot(3, &[&w]));
    assert_eq!(runner.plan(Instant::now()), None, "not listed yet");
    list(&mut runner).await;
    let first = runner.plan(Instant::now()).expect("ready");
    assert_eq!(states(&first), ["w Pending(Starting)"]);
    finish_ops(&mut runner).await;
    assert_eq!(calls(&fake), [format!("create {}", w.instance_id)]);
    let then = runner.plan(Instant::now()).expect("ready");
    assert_eq!(states(&then), ["w Running(Ok)"]);
    assert_eq!(then[0].observed_generation, 3);
    assert_eq!(runner.plan(Instant::now()), Some(Vec::new()), "said once");
}

#[tokio::test]
async fn a_died_event_is_reported_at_once_but_restarted_only_after_a_listing_confirms_it() {
    let (mut runner, fake) = fake_runner();
    let w = workload("w", RestartPolicy::OnFailure);
    started(&mut runner, &w).await;
    let instance = w.instance_id.to_string();
    runner.on_container_event(&died(&instance, &format!("c-{instance}"), 2));
    let provisional = runner.plan(Instant::now()).expect("ready");
    assert_eq!(states(&provisional), ["w Failed(ExecFailed)"]);
    assert!(runner.ops.is_empty(), "no restart on an event alone");
    assert!(
        runner.lister.due.is_some(),
        "a listing is scheduled to confirm it"
    );

    podman_shows_exited(&fake, &instance, 2);
    list(&mut runner).await;
    runner.plan(Instant::now());
    finish_ops(&mut runner).await;
    // A failed container is replaced by a new one (ON_FAILURE), counted in restartCount.
    assert_eq!(
        calls(&fake),
        [
            format!("create {instance}"),
            format!("delete {instance}"),
            format!("create {instance}")
        ]
    );
    let after = runner.plan(Instant::now()).expect("ready");
    assert_eq!(states(&after), ["w Pending(Starting)", "w Running(Ok)"]);
    assert_eq!(after[1].restart_count, 1);
}

#[tokio::test]
async fn issue_16_an_update_reports_pending_starting_between_the_old_instances_end_and_the_new() {
    // Ankaios 1.0.1 for a changed runtimeConfig: old Stopping(RequestedAtRuntime), old Removed,
    // new Pending(Starting) "Triggered at runtime.", new Running(Ok).
    let (mut runner, fake) = fake_runner();
    let old = workload("w", RestartPolicy::Never);
    started(&mut runner, &old).await;

    let mut new = workload("w", RestartPolicy::Never);
    new.runtime_config = "image: localhost/img2".into();
    new.instance_id = InstanceId::compute("w", AGENT, "podman", &new.runtime_config, &[]);
    runner.on_snapshot(snapshot(2, &[&new]));
    let replacing = runner.plan(Instant::now()).expect("ready");
    assert_eq!(states(&replacing), ["w Stopping(RequestedAtRuntime)"]);
    assert_eq!(replacing[0].instance, old.instance_id);

    // The old one is gone and the new one is being created: said at once, before the create
    // ends, and carried by the next plan before anything else.
    let started = runner.started.recv().await.expect("the replace says so");
    runner.on_create_started(started);
    finish_ops(&mut runner).await;
    assert_eq!(
        calls(&fake),
        [
            format!("create {}", old.instance_id),
            format!("delete {}", old.instance_id),
            format!("create {}", new.instance_id)
        ]
    );
    let after = runner.plan(Instant::now()).expect("ready");
    assert_eq!(states(&after), ["w Pending(Starting)", "w Running(Ok)"]);
    assert_eq!(after[0].instance, new.instance_id);
    assert_eq!(after[0].info, "Triggered at runtime.");
    assert_eq!(after[0].observed_generation, 2);
    assert_eq!(after[1].instance, new.instance_id);

    // A message that arrives after its replace ended changes nothing.
    runner.on_create_started(CreateStarted {
        workload: "w".into(),
        instance: new.instance_id.clone(),
    });
    assert_eq!(runner.plan(Instant::now()), Some(Vec::new()));
}

#[tokio::test]
async fn a_listing_older_than_an_operations_look_or_about_a_busy_workload_changes_nothing() {
    let (mut runner, _fake) = fake_runner();
    let w = workload("w", RestartPolicy::Never);
    runner.on_snapshot(snapshot(1, &[&w]));
    list(&mut runner).await;
    runner.plan(Instant::now());
    finish_ops(&mut runner).await;
    let instance = w.instance_id.to_string();
    assert!(runner.observed.instances.contains_key(&instance));

    // A listing that started before the operation's look says the instance is not there.
    let older = Listing {
        seq: 1,
        started: Instant::now(),
        by_runtime: vec![(RuntimeKind::Podman, Ok(Vec::new()))],
    };
    runner.on_listing(older);
    assert!(
        runner.observed.instances.contains_key(&instance),
        "the newer look wins"
    );

    // A fresh listing while an operation is busy with the workload leaves it alone too.
    let seq = runner.lister.begin();
    runner
        .observed
        .books
        .get_mut("w")
        .expect("a book")
        .in_flight = Some(Operation::Delete);
    let busy = Listing {
        seq,
        started: Instant::now(),
        by_runtime: vec![(RuntimeKind::Podman, Ok(Vec::new()))],
    };
    runner.on_listing(busy);
    assert!(
        runner.observed.instances.contains_key(&instance),
        "busy: left alone"
    );

    // Once idle, a newer listing is believed.
    runner
        .observed
        .books
        .get_mut("w")
        .expect("a book")
        .in_flight = None;
    let seq = runner.lister.begin();
    runner.on_listing(Listing {
        seq,
        started: Instant::now(),
        by_runtime: vec![(RuntimeKind::Podman, Ok(Vec::new()))],
    });
    assert!(!runner.observed.instances.contains_key(&instance));
    let lost = runner.plan(Instant::now()).expect("ready");
    assert_eq!(states(&lost), ["w Failed(Lost)"]);
}

#[tokio::test]
async fn a_removed_workload_is_deleted_cleared_and_forgotten_once_its_echo_is_gone() {
    let (mut runner, fake) = fake_runner();
    let w = workload("w", RestartPolicy::Always);
    started(&mut runner, &w).await;

    runner.on_snapshot(snapshot(2, &[]));
    let leaving = runner.plan(Instant::now()).expect("ready");
    assert_eq!(states(&leaving), ["w Stopping(RequestedAtRuntime)"]);
    finish_ops(&mut runner).await;
    let gone = runner.plan(Instant::now()).expect("ready");
    assert_eq!(states(&gone), ["w Removed"]);
    assert!(calls(&fake).contains(&format!("delete {}", w.instance_id)));
    assert!(
        runner.observed.books.is_empty(),
        "a Removed forgets the book"
    );

    // The `Removed` memory stays while our own retained state is still echoed, then goes.
    let echo = crate::observed::PeerState {
        instance: w.instance_id.clone(),
        state: "Running(Ok)".parse().expect("a state"),
    };
    runner.observed.set_peer_state("w", AGENT, Some(echo));
    runner.prune();
    assert!(runner.observed.reported.contains_key("w"));
    runner.observed.set_peer_state("w", AGENT, None);
    runner.prune();
    assert!(runner.observed.reported.is_empty());
}

#[tokio::test]
async fn a_first_listing_that_keeps_failing_is_reported_after_the_grace_only() {
    let (mut runner, _fake) = fake_runner();
    let w = workload("w", RestartPolicy::Never);
    runner.on_snapshot(snapshot(1, &[&w]));
    let failed = |started| Listing {
        seq: 1,
        started,
        by_runtime: vec![(
            RuntimeKind::Podman,
            Err(crate::dispatch::OpError::Runtime(RuntimeError::Parse {
                command: "podman ps".into(),
                reason: "garbage".into(),
            })),
        )],
    };
    runner.on_listing(failed(Instant::now()));
    assert_eq!(
        runner.plan(Instant::now()),
        None,
        "within the grace: silent"
    );
    assert!(runner.lister.due.is_some(), "tried again soon");

    // Failing since longer than the grace (counted from the first failed listing's start).
    let (mut late, _fake) = fake_runner();
    late.on_snapshot(snapshot(1, &[&w]));
    let long_ago = Instant::now() - crate::listing::LISTING_GRACE - Duration::from_millis(1);
    late.on_listing(failed(long_ago));
    let reports = late.plan(Instant::now()).expect("reported");
    assert_eq!(states(&reports), ["w Failed(Unknown)"]);
    assert!(reports[0].info.contains("garbage"), "{}", reports[0].info);
}

/// A `died` event of `instance`'s container `id` with `code`.
fn died(instance: &str, id: &str, code: i32) -> ContainerEvent {
    event(instance, id, "died", Some(code))
}

fn event(instance: &str, id: &str, status: &str, exit_code: Option<i32>) -> ContainerEvent {
    ContainerEvent {
        id: id.to_owned(),
        name: instance.to_owned(),
        status: status.into(),
        exit_code,
        labels: BTreeMap::from([("ankmq.instance".to_owned(), instance.to_owned())]),
        pod: None,
        time: String::new(),
    }
}

/// The fake podman lists `instance` as exited with `code` from now on.
fn podman_shows_exited(fake: &Arc<Mutex<FakeState>>, instance: &str, code: i32) {
    fake.lock()
        .expect("lock")
        .instances
        .insert(instance.to_owned(), RawState::Exited { code });
}

/// `w` alone in a generation-1 snapshot, listed, created and reported: the start of most tests.
async fn started(runner: &mut FakeRunner, w: &DesiredWorkload) -> Vec<WorkloadReport> {
    runner.on_snapshot(snapshot(1, &[w]));
    list(runner).await;
    settle(runner).await
}

/// Lists, plans, and finishes what the plan started; returns the reports of the plan after.
async fn settle(runner: &mut FakeRunner) -> Vec<WorkloadReport> {
    runner.plan(Instant::now());
    finish_ops(runner).await;
    runner.plan(Instant::now()).expect("ready")
}

#[tokio::test]
async fn issue_17_a_create_is_reported_running_from_the_run_itself_without_asking_podman_again() {
    let (mut runner, fake) = fake_runner();
    let w = workload("w", RestartPolicy::Never);
    runner.on_snapshot(snapshot(1, &[&w]));
    list(&mut runner).await;
    runner.lister.due = None;
    let reports = settle(&mut runner).await;
    assert_eq!(states(&reports), ["w Running(Ok)"]);
    // No `podman ps` of the instance after `podman run -d`, and no listing asked for.
    assert_eq!(calls(&fake), [format!("create {}", w.instance_id)]);
    assert_eq!(runner.lister.due, None);
}

#[tokio::test]
async fn issue_17_a_workload_that_ends_while_starting_is_reported_ended_without_running_first() {
    let (mut runner, fake) = fake_runner();
    let w = workload("w", RestartPolicy::Never);
    let instance = w.instance_id.to_string();
    fake.lock()
        .expect("lock")
        .exits_on_start
        .insert(instance.clone(), 7);
    runner.on_snapshot(snapshot(1, &[&w]));
    list(&mut runner).await;
    let reports = settle(&mut runner).await;
    assert_eq!(states(&reports), ["w Failed(ExecFailed)"]);
    assert_eq!(reports[0].exit_code, Some(7));
    assert_eq!(calls(&fake), [format!("create {instance}")]);
}

#[tokio::test]
async fn issue_17_an_exit_that_arrives_while_the_create_runs_wins_over_its_look_and_is_confirmed() {
    let (mut runner, fake) = fake_runner();
    let w = workload("w", RestartPolicy::OnFailure);
    let instance = w.instance_id.to_string();
    runner.on_snapshot(snapshot(1, &[&w]));
    list(&mut runner).await;
    runner.plan(Instant::now());
    assert!(!runner.ops.is_empty(), "the create runs");
    runner.lister.due = None;
    // The run returned (its look says running), then the container ended before the operation's
    // end was taken: the exit file's `died` comes while the workload is busy.
    let id = fake.lock().expect("lock").container_id(&instance);
    runner.on_container_event(&died(&instance, &id, 3));
    assert_eq!(
        runner.lister.due, None,
        "a listing now would skip the busy workload"
    );
    finish_ops(&mut runner).await;
    let reports = runner.plan(Instant::now()).expect("ready");
    assert_eq!(
        states(&reports),
        ["w Failed(ExecFailed)"],
        "the newer fact wins"
    );
    assert!(
        runner.ops.is_empty(),
        "provisional: no restart before a listing agrees"
    );
    assert!(
        runner.lister.due.is_some(),
        "a listing is scheduled to confirm it"
    );

    podman_shows_exited(&fake, &instance, 3);
    list(&mut runner).await;
    let after = settle(&mut runner).await;
    let last = after.last().expect("a report");
    assert_eq!(
        (last.state.to_string(), last.restart_count),
        ("Running(Ok)".into(), 1)
    );
    // The held exit was of the first container: the replacement's own look is not overwritten.
    assert_eq!(
        calls(&fake),
        [
            format!("create {instance}"),
            format!("delete {instance}"),
            format!("create {instance}")
        ]
    );
}

#[tokio::test]
async fn issue_17_an_exit_of_another_container_held_during_an_operation_is_dropped() {
    let (mut runner, fake) = fake_runner();
    let w = workload("w", RestartPolicy::Never);
    let instance = w.instance_id.to_string();
    runner.on_snapshot(snapshot(1, &[&w]));
    list(&mut runner).await;
    runner.plan(Instant::now());
    runner.on_container_event(&died(&instance, "an-old-container", 1));
    finish_ops(&mut runner).await;
    let reports = runner.plan(Instant::now()).expect("ready");
    assert_eq!(states(&reports), ["w Running(Ok)"]);
    // Forgotten once its operation ended: a later plan does not bring it back.
    runner.on_container_event(&event(&instance, "x", "start", None));
    assert_eq!(runner.plan(Instant::now()), Some(Vec::new()));
    assert_eq!(calls(&fake), [format!("create {instance}")]);
}

#[tokio::test]
async fn issue_17_an_update_removes_the_old_instance_then_starts_the_new_one_and_lists_nothing() {
    let (mut runner, fake) = fake_runner();
    let old = workload("w", RestartPolicy::Never);
    started(&mut runner, &old).await;
    let config = "image: localhost/img2";
    let new = DesiredWorkload {
        instance_id: InstanceId::compute("w", AGENT, "podman", config, &[]),
        runtime_config: config.into(),
        ..old.clone()
    };
    runner.on_snapshot(snapshot(2, &[&new]));
    runner.lister.due = None;
    let reports = settle(&mut runner).await;
    // The last report is the new instance running (a replace may report it starting before).
    let last = reports.last().expect("a report");
    assert_eq!(last.state.to_string(), "Running(Ok)");
    assert_eq!(last.instance, new.instance_id);
    // Ankaios' order: the old one is gone before the new one starts; no `podman ps` of either.
    assert_eq!(
        calls(&fake)[1..],
        [
            format!("delete {}", old.instance_id),
            format!("create {}", new.instance_id)
        ]
    );
    let known: Vec<&String> = runner.observed.instances.keys().collect();
    assert_eq!(known, [&new.instance_id.to_string()]);
    assert_eq!(runner.lister.due, None);
}

#[tokio::test]
async fn issue_17_start_events_of_a_container_known_to_run_schedule_no_listing_but_others_do() {
    let (mut runner, fake) = fake_runner();
    let w = workload("w", RestartPolicy::Never);
    let instance = w.instance_id.to_string();
    runner.on_snapshot(snapshot(1, &[&w]));
    list(&mut runner).await;
    runner.plan(Instant::now());
    let id = fake.lock().expect("lock").container_id(&instance);
    runner.lister.due = None;
    // podman's file-backed events of the run arrive while it runs, or after its look.
    runner.on_container_event(&event(&instance, &id, "create", None));
    assert_eq!(runner.lister.due, None, "busy");
    finish_ops(&mut runner).await;
    for status in ["init", "start"] {
        runner.on_container_event(&event(&instance, &id, status, None));
        assert_eq!(
            runner.lister.due, None,
            "{status} of a running container is no news"
        );
    }
    // Another container of the instance, or any other change, is news.
    runner.on_container_event(&event(&instance, "another", "start", None));
    assert!(runner.lister.due.take().is_some());
    runner.on_container_event(&event(&instance, &id, "remove", None));
    assert!(runner.lister.due.take().is_some());
}
