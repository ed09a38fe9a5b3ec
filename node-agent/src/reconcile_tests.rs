//! Claims about `plan`, one rule of Ankaios §2-§4 (or of our improvements) each.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ank_schemas::{
    AddCondition, AgentSnapshot, ControlInterfaceAccess, DeleteCondition, DesiredWorkload,
    ExecutionState, FileContent, InstanceId, RestartPolicy, RuntimeKind, WorkloadFile,
};

use super::*;
use crate::dispatch::OpError;
use crate::observed::{Operation, PeerState};
use crate::runtime::RawState;

const AGENT: &str = "agent_A";

fn workload(name: &str, runtime: &str, config: &str) -> DesiredWorkload {
    DesiredWorkload {
        instance_id: InstanceId::compute(name, AGENT, runtime, config, &[]),
        runtime: RuntimeKind::parse(runtime).expect("a runtime name"),
        runtime_config: config.into(),
        restart_policy: RestartPolicy::Never,
        dependencies: BTreeMap::new(),
        tags: BTreeMap::new(),
        files: Vec::new(),
        control_interface_access: ControlInterfaceAccess::default(),
        delete_conditions: BTreeMap::new(),
        expected_instances: BTreeMap::new(),
    }
}

fn podman(name: &str) -> DesiredWorkload {
    workload(name, "podman", "image: localhost/img")
}

fn kube(name: &str) -> DesiredWorkload {
    workload(
        name,
        "podman-kube",
        "manifest: |\n  apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n  spec:\n    containers:\n    - {name: c, image: localhost/img}\n",
    )
}

/// The typed snapshot of `workloads`, as the agent reads it when it arrives.
fn snapshot(workloads: &[&DesiredWorkload]) -> DesiredSet {
    DesiredSet::new(AgentSnapshot {
        generation: 7,
        workloads: workloads
            .iter()
            .map(|w| (w.instance_id.workload.clone(), (*w).clone()))
            .collect(),
    })
}

fn observed() -> Observed {
    Observed::new(AGENT, RuntimeKind::KNOWN.to_vec())
}

fn instance_of(id: &InstanceId, runtime: &RuntimeKind, state: RawState) -> RuntimeInstance {
    RuntimeInstance {
        instance: id.to_string(),
        id: Some(id.clone()),
        runtime: runtime.clone(),
        state,
        container_ids: vec!["c0ffee".into()],
        general_options: Vec::new(),
        ran_for: None,
        started_at: None,
        provisional: false,
    }
}

fn with_instance(observed: &mut Observed, w: &DesiredWorkload, state: RawState) {
    let i = instance_of(&w.instance_id, &w.runtime, state);
    observed.instances.insert(i.instance.clone(), i);
}

/// A runtime failure that a retry may fix.
fn retryable(reason: &str) -> Arc<OpError> {
    Arc::new(OpError::Runtime(crate::runtime::RuntimeError::Parse {
        command: "podman".into(),
        reason: reason.into(),
    }))
}

/// A file that could not be written: not retried (Ankaios §1.6).
fn unwritable(path: &str) -> Arc<OpError> {
    Arc::new(OpError::Files(crate::workload_files::FileError {
        path: path.into(),
        source: std::io::Error::other("disk full"),
    }))
}

/// A book saying the agent created `w` and manages it.
fn managed<'a>(observed: &'a mut Observed, w: &DesiredWorkload) -> &'a mut WorkloadBook {
    let mut book = WorkloadBook::new(w.instance_id.clone());
    book.on_created();
    observed
        .books
        .entry(w.instance_id.workload.clone())
        .or_insert(book)
}

/// The instance `peer` reports for `workload` on `agent`.
fn peer_id(workload: &str, agent: &str) -> InstanceId {
    InstanceId::compute(workload, agent, "podman", "image: dep", &[])
}

fn peer(observed: &mut Observed, workload: &str, agent: &str, state: &str) {
    let state: ExecutionState = state.parse().expect("a state");
    let instance = peer_id(workload, agent);
    observed.set_peer_state(workload, agent, Some(PeerState { instance, state }));
}

/// The controller's word that `name` runs on `agent` (as the instance `peer` reports).
fn expect_on(expected: &mut BTreeMap<String, InstanceId>, name: &str, agent: &str) {
    expected.insert(name.into(), peer_id(name, agent));
}

/// The actions without reports, as short words, for table comparisons.
fn ops(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Report(_) => None,
            Action::Adopt { .. } => Some("adopt"),
            Action::Create { .. } => Some("create"),
            Action::Restart { .. } => Some("restart"),
            Action::Replace { .. } => Some("replace"),
            Action::Delete { .. } => Some("delete"),
            Action::RetryAt(_) => Some("retry_at"),
        })
        .collect()
}

/// The reported states, as text.
fn reports(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Report(r) => Some(r.state.to_string()),
            _ => None,
        })
        .collect()
}

fn report_of<'a>(actions: &'a [Action], workload: &str) -> &'a WorkloadReport {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Report(r) if r.workload == workload => Some(r),
            _ => None,
        })
        .expect("a report")
}

/// Records every report of `actions` as published.
fn publish(observed: &mut Observed, actions: &[Action]) {
    for action in actions {
        if let Action::Report(r) = action {
            observed.record_report(r.clone());
        }
    }
}

#[test]
fn plan_creates_a_missing_workload_announcing_it_as_triggered() {
    let w = podman("web");
    let actions = plan(&snapshot(&[&w]), &observed(), Instant::now());
    assert_eq!(ops(&actions), ["create"]);
    let report = report_of(&actions, "web");
    assert_eq!(report.state.to_string(), "Pending(Starting)");
    assert_eq!(report.info, "Triggered at runtime.");
    assert_eq!(report.observed_generation, 7);
    assert!(
        matches!(&actions[0], Action::Report(_)),
        "report before create"
    );
}

#[test]
fn plan_is_idempotent_and_silent_once_reports_are_recorded() {
    let running = podman("running");
    let waiting = {
        let mut w = podman("waiting");
        w.dependencies
            .insert("nobody".into(), AddCondition::Running);
        w
    };
    let mut o = observed();
    with_instance(&mut o, &running, RawState::Running);
    managed(&mut o, &running);
    let desired = snapshot(&[&running, &waiting]);
    let now = Instant::now();
    let first = plan(&desired, &o, now);
    assert_eq!(first, plan(&desired, &o, now));
    publish(&mut o, &first);
    assert_eq!(plan(&desired, &o, now), Vec::new());
}

#[test]
fn adoption_keeps_running_and_ended_instances_and_replaces_the_rest() {
    // (runtime, found state, add conditions met, expected operations, expected first report)
    let table = [
        (
            "podman",
            RawState::Running,
            true,
            vec!["adopt"],
            "Running(Ok)",
        ),
        (
            "podman-kube",
            RawState::Running,
            true,
            vec!["adopt"],
            "Running(Ok)",
        ),
        (
            "podman",
            RawState::Exited { code: 0 },
            true,
            vec!["adopt"],
            "Succeeded(Ok)",
        ),
        (
            "podman",
            RawState::Exited { code: 0 },
            false,
            vec!["adopt"],
            "Succeeded(Ok)",
        ),
        (
            "podman-kube",
            RawState::Exited { code: 0 },
            true,
            vec!["adopt"],
            "Succeeded(Ok)",
        ),
        (
            "podman",
            RawState::Exited { code: 2 },
            true,
            vec!["adopt"],
            "Failed(ExecFailed)",
        ),
        (
            "podman",
            RawState::Exited { code: 2 },
            false,
            vec!["adopt"],
            "Failed(ExecFailed)",
        ),
        (
            "podman",
            RawState::Unknown("paused".into()),
            true,
            vec!["replace"],
            "Stopping(RequestedAtRuntime)",
        ),
        (
            "podman",
            RawState::Unknown("paused".into()),
            false,
            vec!["delete"],
            "Stopping(RequestedAtRuntime)",
        ),
        (
            "podman",
            RawState::Created("created".into()),
            true,
            vec!["replace"],
            "Stopping(RequestedAtRuntime)",
        ),
    ];
    for (runtime, state, met, expected_ops, expected_report) in table {
        let mut w = match runtime.parse::<RuntimeKind>() {
            Ok(RuntimeKind::PodmanKube) => kube("w"),
            _ => podman("w"),
        };
        let mut o = observed();
        w.dependencies.insert("dep".into(), AddCondition::Running);
        expect_on(&mut w.expected_instances, "dep", "agent_B");
        if met {
            peer(&mut o, "dep", "agent_B", "Running(Ok)");
        }
        with_instance(&mut o, &w, state.clone());
        let actions = plan(&snapshot(&[&w]), &o, Instant::now());
        assert_eq!(ops(&actions), expected_ops, "{runtime} {state:?} met={met}");
        assert_eq!(
            reports(&actions)[0],
            expected_report,
            "{runtime} {state:?} met={met}"
        );
    }
}

#[test]
fn issue_16_after_a_reboot_ended_instances_are_replaced_honouring_add_conditions_running_ones_adopted(
) {
    // (found state, add conditions met, expected operations)
    let table = [
        (RawState::Exited { code: 0 }, true, vec!["replace"]),
        (RawState::Exited { code: 0 }, false, vec!["delete"]),
        (RawState::Exited { code: 2 }, true, vec!["replace"]),
        (RawState::Running, true, vec!["adopt"]),
    ];
    for (state, met, expected_ops) in table {
        let mut w = podman("w");
        w.dependencies.insert("dep".into(), AddCondition::Running);
        expect_on(&mut w.expected_instances, "dep", "agent_B");
        let mut o = observed();
        o.rebooted = true;
        if met {
            peer(&mut o, "dep", "agent_B", "Running(Ok)");
        }
        with_instance(&mut o, &w, state.clone());
        let actions = plan(&snapshot(&[&w]), &o, Instant::now());
        assert_eq!(ops(&actions), expected_ops, "{state:?} met={met}");
    }
}

#[test]
fn an_adopted_instance_that_ended_follows_its_restart_policy_not_a_rerun() {
    // (policy, exit code, expected operations once adopted)
    let table = [
        (RestartPolicy::Never, 0, vec![]),
        (RestartPolicy::Never, 2, vec![]),
        (RestartPolicy::OnFailure, 0, vec![]),
        (RestartPolicy::OnFailure, 2, vec!["replace"]),
        (RestartPolicy::Always, 0, vec!["restart"]),
        (RestartPolicy::Always, 2, vec!["replace"]),
    ];
    for (policy, code, expected_ops) in table {
        let mut w = podman("w");
        w.restart_policy = policy;
        let mut o = observed();
        with_instance(&mut o, &w, RawState::Exited { code });
        let first = plan(&snapshot(&[&w]), &o, Instant::now());
        assert_eq!(ops(&first), ["adopt"], "{policy:?} exit {code}");
        managed(&mut o, &w);
        let then = plan(&snapshot(&[&w]), &o, Instant::now());
        assert_eq!(ops(&then), expected_ops, "{policy:?} exit {code}");
    }
}

#[test]
fn a_found_instance_with_a_changed_hash_is_replaced_ignoring_delete_conditions() {
    let old = workload("w", "podman", "image: old");
    let mut new = podman("w");
    new.delete_conditions
        .insert("dependent".into(), DeleteCondition::NotPendingNorRunning);
    let mut o = observed();
    peer(&mut o, "dependent", "agent_B", "Running(Ok)");
    with_instance(&mut o, &old, RawState::Running);
    let actions = plan(&snapshot(&[&new]), &o, Instant::now());
    assert_eq!(ops(&actions), ["replace"]);
    match &actions[1] {
        Action::Replace {
            old: target,
            desired,
            ..
        } => {
            assert_eq!(target.instance, old.instance_id.to_string());
            assert_eq!(desired.instance_id(), &new.instance_id);
        }
        other => panic!("expected a replace, got {other:?}"),
    }
}

#[test]
fn an_orphan_found_in_podman_is_deleted_directly_and_its_topic_cleared_after() {
    let orphan = podman("orphan");
    let mut o = observed();
    with_instance(&mut o, &orphan, RawState::Running);
    let desired = snapshot(&[]);
    let actions = plan(&desired, &o, Instant::now());
    assert_eq!(ops(&actions), ["delete"]);
    // The executor books the delete, removes it, then the planner clears the topic.
    let mut book = WorkloadBook::new(orphan.instance_id.clone());
    book.on_deleted();
    o.books.insert("orphan".into(), book);
    o.instances.clear();
    publish(&mut o, &actions);
    let actions = plan(&desired, &o, Instant::now());
    assert_eq!(reports(&actions), ["Removed"]);
    publish(&mut o, &actions);
    assert!(o.books.is_empty(), "a Removed report forgets the book");
    assert_eq!(plan(&desired, &o, Instant::now()), Vec::new());
}

#[test]
fn an_unparsable_instance_label_is_an_orphan_deleted_without_reports() {
    let mut o = observed();
    let mut i = instance_of(
        &podman("x").instance_id,
        &RuntimeKind::Podman,
        RawState::Running,
    );
    i.instance = "not-an-instance".into();
    i.id = None;
    o.instances.insert(i.instance.clone(), i);
    let actions = plan(&snapshot(&[]), &o, Instant::now());
    assert_eq!(ops(&actions), ["delete"]);
    assert!(reports(&actions).is_empty());
}

#[test]
fn plan_keeps_container_when_only_tags_restart_policy_or_dependencies_change() {
    let before = podman("web");
    let mut after = before.clone();
    after.tags.insert("team".into(), "infotainment".into());
    after.restart_policy = RestartPolicy::Always;
    after
        .dependencies
        .insert("db".into(), AddCondition::Running);
    let mut o = observed();
    with_instance(&mut o, &before, RawState::Running);
    managed(&mut o, &before);
    let actions = plan(&snapshot(&[&after]), &o, Instant::now());
    assert_eq!(ops(&actions), Vec::<&str>::new(), "{actions:?}");
    assert_eq!(reports(&actions), ["Running(Ok)"]);
}

#[test]
fn a_new_instance_id_follows_the_update_table() {
    // (old's delete conditions met, new's add conditions met, operations, first report)
    let table = [
        (true, true, vec!["replace"], "Stopping(RequestedAtRuntime)"),
        (true, false, vec!["delete"], "Stopping(RequestedAtRuntime)"),
        (false, true, vec![], "Stopping(WaitingToStop)"),
        (false, false, vec![], "Stopping(WaitingToStop)"),
    ];
    for (delete_met, add_met, expected_ops, expected_report) in table {
        let old = workload("w", "podman", "image: old");
        let mut new = podman("w");
        new.dependencies.insert("dep".into(), AddCondition::Running);
        new.delete_conditions
            .insert("dependent".into(), DeleteCondition::NotPendingNorRunning);
        expect_on(&mut new.expected_instances, "dep", "agent_B");
        expect_on(&mut new.expected_instances, "dependent", "agent_B");
        let mut o = observed();
        with_instance(&mut o, &old, RawState::Running);
        managed(&mut o, &old);
        if add_met {
            peer(&mut o, "dep", "agent_B", "Running(Ok)");
        }
        let dependent = if delete_met {
            "Succeeded(Ok)"
        } else {
            "Running(Ok)"
        };
        peer(&mut o, "dependent", "agent_B", dependent);
        let actions = plan(&snapshot(&[&new]), &o, Instant::now());
        assert_eq!(
            ops(&actions),
            expected_ops,
            "delete_met={delete_met} add_met={add_met}"
        );
        assert_eq!(reports(&actions)[0], expected_report);
        assert_eq!(
            report_of(&actions, "w").instance,
            old.instance_id,
            "the old instance is reported while it goes"
        );
    }
}

#[test]
fn after_an_update_delete_the_new_instance_waits_to_start_then_starts() {
    let old = workload("w", "podman", "image: old");
    let mut new = podman("w");
    new.dependencies
        .insert("dep".into(), AddCondition::Succeeded);
    expect_on(&mut new.expected_instances, "dep", "agent_B");
    let mut o = observed();
    let book = managed(&mut o, &old);
    book.on_deleted();
    let actions = plan(&snapshot(&[&new]), &o, Instant::now());
    assert_eq!(reports(&actions), ["Pending(WaitingToStart)"]);
    assert_eq!(report_of(&actions, "w").instance, new.instance_id);
    assert_eq!(
        report_of(&actions, "w").info,
        "Waiting for dependencies: dep (ADD_COND_SUCCEEDED)"
    );
    peer(&mut o, "dep", "agent_B", "Succeeded(Ok)");
    assert_eq!(
        ops(&plan(&snapshot(&[&new]), &o, Instant::now())),
        ["create"]
    );
}

#[test]
fn add_conditions_are_met_by_the_expected_instance_on_its_agent_only() {
    // (condition, state of dep on agent B (where the controller expects it), on agent C, met)
    let table: [(AddCondition, Option<&str>, Option<&str>, bool); 11] = [
        (AddCondition::Running, Some("Running(Ok)"), None, true),
        (
            AddCondition::Running,
            Some("Pending(Starting)"),
            None,
            false,
        ),
        (AddCondition::Running, None, None, false),
        // Issue 13: agent C publishing a state for B's workload counts for nothing.
        (AddCondition::Running, None, Some("Running(Ok)"), false),
        (
            AddCondition::Running,
            Some("Failed(Lost)"),
            Some("Running(Ok)"),
            false,
        ),
        (AddCondition::Succeeded, Some("Succeeded(Ok)"), None, true),
        (AddCondition::Succeeded, Some("Running(Ok)"), None, false),
        (AddCondition::Failed, Some("Failed(ExecFailed)"), None, true),
        (AddCondition::Failed, Some("Failed(Lost)"), None, false),
        (
            AddCondition::Failed,
            Some("Pending(StartingFailed)"),
            None,
            false,
        ),
        (AddCondition::Failed, Some("Failed(Unknown)"), None, false),
    ];
    for (condition, on_b, on_c, met) in table {
        let mut w = podman("w");
        w.dependencies.insert("dep".into(), condition);
        expect_on(&mut w.expected_instances, "dep", "agent_B");
        let mut o = observed();
        for (state, agent) in [(on_b, "agent_B"), (on_c, "agent_C")] {
            if let Some(state) = state {
                peer(&mut o, "dep", agent, state);
            }
        }
        let actions = plan(&snapshot(&[&w]), &o, Instant::now());
        let expected: &[&str] = if met { &["create"] } else { &[] };
        assert_eq!(ops(&actions), expected, "{condition:?} {on_b:?} {on_c:?}");
        if !met {
            assert_eq!(reports(&actions), ["Pending(WaitingToStart)"]);
        }
    }
}

#[test]
fn issue_13_a_state_of_an_older_instance_does_not_meet_an_add_condition() {
    let mut w = podman("w");
    w.dependencies.insert("dep".into(), AddCondition::Succeeded);
    // The controller expects a newer instance of dep than the one agent B still reports.
    w.expected_instances.insert(
        "dep".into(),
        InstanceId::compute("dep", "agent_B", "podman", "image: dep-v2", &[]),
    );
    let mut o = observed();
    peer(&mut o, "dep", "agent_B", "Succeeded(Ok)");
    let actions = plan(&snapshot(&[&w]), &o, Instant::now());
    assert_eq!(reports(&actions), ["Pending(WaitingToStart)"]);
}

#[test]
fn issue_13_a_dependency_missing_from_the_desired_state_is_not_met_whoever_claims_it() {
    let mut w = podman("w");
    w.dependencies
        .insert("gate".into(), AddCondition::Succeeded);
    let mut o = observed();
    peer(&mut o, "gate", "agent_B", "Succeeded(Ok)");
    let actions = plan(&snapshot(&[&w]), &o, Instant::now());
    assert_eq!(reports(&actions), ["Pending(WaitingToStart)"]);
}

#[test]
fn a_dependency_on_an_agent_that_is_not_online_is_not_met() {
    let mut w = podman("w");
    w.dependencies.insert("dep".into(), AddCondition::Running);
    expect_on(&mut w.expected_instances, "dep", "agent_B");
    let mut o = observed();
    peer(&mut o, "dep", "agent_B", "Running(Ok)");
    o.offline_agents.insert("agent_B".into());
    let actions = plan(&snapshot(&[&w]), &o, Instant::now());
    assert_eq!(reports(&actions), ["Pending(WaitingToStart)"]);
}

#[test]
fn a_dependency_on_this_agent_uses_what_the_agent_reported() {
    let dep = podman("dep");
    let mut w = podman("w");
    w.dependencies.insert("dep".into(), AddCondition::Running);
    w.expected_instances
        .insert("dep".into(), dep.instance_id.clone());
    let mut o = observed();
    with_instance(&mut o, &dep, RawState::Running);
    managed(&mut o, &dep);
    let desired = snapshot(&[&dep, &w]);
    let first = plan(&desired, &o, Instant::now());
    assert_eq!(
        ops(&first),
        Vec::<&str>::new(),
        "w waits until dep's state is reported"
    );
    publish(&mut o, &first);
    assert_eq!(ops(&plan(&desired, &o, Instant::now())), ["create"]);
}

#[test]
fn a_removed_workload_waits_for_its_dependents_delete_conditions() {
    // (dependent states on agent B, delete allowed)
    let table: [(&[&str], bool); 6] = [
        (&["Running(Ok)"], false),
        (&["Pending(Starting)"], false),
        (&["Pending(WaitingToStart)"], true),
        (&["Succeeded(Ok)"], true),
        (&["Failed(ExecFailed)"], true),
        (&[], true),
    ];
    for (states, allowed) in table {
        let w = podman("db");
        let mut o = observed();
        with_instance(&mut o, &w, RawState::Running);
        let book = managed(&mut o, &w);
        book.delete_conditions
            .insert("app".into(), DeleteCondition::NotPendingNorRunning);
        expect_on(&mut book.expected_instances, "app", "agent_B");
        for state in states {
            peer(&mut o, "app", "agent_B", state);
        }
        // Issue 13: another agent claiming app runs holds nothing.
        peer(&mut o, "app", "agent_C", "Running(Ok)");
        let actions = plan(&snapshot(&[]), &o, Instant::now());
        let expected: &[&str] = if allowed { &["delete"] } else { &[] };
        assert_eq!(ops(&actions), expected, "{states:?}");
        let expected_report = if allowed {
            "Stopping(RequestedAtRuntime)"
        } else {
            "Stopping(WaitingToStop)"
        };
        assert_eq!(reports(&actions), [expected_report], "{states:?}");
    }
}

#[test]
fn remember_snapshot_keeps_delete_conditions_for_after_the_workload_is_gone() {
    let mut w = podman("db");
    w.delete_conditions
        .insert("app".into(), DeleteCondition::NotPendingNorRunning);
    expect_on(&mut w.expected_instances, "app", "agent_B");
    let mut o = observed();
    with_instance(&mut o, &w, RawState::Running);
    managed(&mut o, &w);
    o.remember_snapshot(&snapshot(&[&w]));
    peer(&mut o, "app", "agent_B", "Running(Ok)");
    let actions = plan(&snapshot(&[]), &o, Instant::now());
    assert_eq!(reports(&actions), ["Stopping(WaitingToStop)"]);
}

#[test]
fn restart_policies_follow_the_ankaios_table() {
    let ok = RawState::Exited { code: 0 };
    let failed = RawState::Exited { code: 1 };
    // (policy, state, operation)
    let table = [
        (RestartPolicy::Never, ok.clone(), None),
        (RestartPolicy::Never, failed.clone(), None),
        (RestartPolicy::OnFailure, ok.clone(), None),
        (RestartPolicy::OnFailure, failed.clone(), Some("replace")),
        (RestartPolicy::Always, ok.clone(), Some("restart")),
        (RestartPolicy::Always, failed.clone(), Some("replace")),
        (
            RestartPolicy::Always,
            RawState::Unknown("paused".into()),
            None,
        ),
        (RestartPolicy::Always, RawState::Running, None),
        (
            RestartPolicy::Always,
            RawState::Stopping("stopping".into()),
            None,
        ),
    ];
    for (policy, state, expected) in table {
        let mut w = podman("w");
        w.restart_policy = policy;
        let mut o = observed();
        with_instance(&mut o, &w, state.clone());
        managed(&mut o, &w);
        let actions = plan(&snapshot(&[&w]), &o, Instant::now());
        let expected: Vec<&str> = expected.into_iter().collect();
        assert_eq!(ops(&actions), expected, "{policy:?} {state:?}");
    }
}

#[test]
fn lost_and_starting_failed_workloads_never_restart() {
    let mut w = podman("w");
    w.restart_policy = RestartPolicy::Always;
    let mut o = observed();
    managed(&mut o, &w); // created, but podman no longer has it
    let actions = plan(&snapshot(&[&w]), &o, Instant::now());
    assert_eq!(ops(&actions), Vec::<&str>::new());
    assert_eq!(reports(&actions), ["Failed(Lost)"]);

    let mut o = observed();
    let mut book = WorkloadBook::new(w.instance_id.clone());
    book.on_create_failed(unwritable("/x"), Instant::now(), 0.0);
    o.books.insert("w".into(), book);
    let actions = plan(&snapshot(&[&w]), &o, Instant::now());
    assert_eq!(ops(&actions), Vec::<&str>::new());
    assert_eq!(reports(&actions), ["Pending(StartingFailed)"]);
    assert_eq!(
        report_of(&actions, "w").info,
        "Could not write the workload file /x: disk full"
    );
}

#[test]
fn the_report_before_a_restart_carries_the_exit_code_and_restart_count() {
    let mut w = podman("w");
    w.restart_policy = RestartPolicy::OnFailure;
    let mut o = observed();
    with_instance(&mut o, &w, RawState::Exited { code: 3 });
    managed(&mut o, &w).restart_count = 2;
    let actions = plan(&snapshot(&[&w]), &o, Instant::now());
    let report = report_of(&actions, "w");
    assert_eq!(report.state.to_string(), "Failed(ExecFailed)");
    assert_eq!(report.info, "Exit code: '3'");
    assert_eq!((report.exit_code, report.restart_count), (Some(3), 2));
    assert!(
        matches!(actions[0], Action::Report(_)),
        "state forwarded first"
    );
    assert!(matches!(actions[2], Action::Replace { .. }));
}

#[test]
fn issue_16_a_restart_after_a_failure_says_stopping_before_the_container_is_replaced() {
    // Ankaios 1.0.1, ON_FAILURE after exit 3: Failed(ExecFailed), Stopping(RequestedAtRuntime),
    // then Pending(Starting) and Running(Ok) of the new container.
    let mut w = podman("w");
    w.restart_policy = RestartPolicy::OnFailure;
    let mut o = observed();
    with_instance(&mut o, &w, RawState::Exited { code: 3 });
    managed(&mut o, &w).restart_count = 2;
    let actions = plan(&snapshot(&[&w]), &o, Instant::now());
    assert_eq!(
        reports(&actions),
        ["Failed(ExecFailed)", "Stopping(RequestedAtRuntime)"]
    );
    assert_eq!(ops(&actions), ["replace"]);
    let Action::Report(stopping) = &actions[1] else {
        panic!("the second action is a report: {actions:?}");
    };
    assert_eq!(
        (stopping.instance.clone(), stopping.restart_count),
        (w.instance_id.clone(), 2)
    );
    assert!(
        matches!(actions[2], Action::Replace { .. }),
        "said before it is done"
    );
}

#[test]
fn the_first_restart_is_immediate_and_repeated_crashes_back_off() {
    let mut w = podman("w");
    w.restart_policy = RestartPolicy::Always;
    let t0 = Instant::now();
    let mut o = observed();
    with_instance(&mut o, &w, RawState::Exited { code: 1 });
    managed(&mut o, &w);
    let first = plan(&snapshot(&[&w]), &o, t0);
    assert!(
        first.iter().any(|a| matches!(
            a,
            Action::Replace {
                policy_restart: Some(1),
                ..
            }
        )),
        "{first:?}"
    );
    // Restarted at t0, crashed again at once: the second restart waits 1 s.
    o.books.get_mut("w").expect("book").on_restarted(t0, 1);
    let soon = plan(&snapshot(&[&w]), &o, t0 + Duration::from_millis(300));
    assert_eq!(ops(&soon), ["retry_at"]);
    assert!(soon.contains(&Action::RetryAt(t0 + Duration::from_secs(1))));
    let later = plan(&snapshot(&[&w]), &o, t0 + Duration::from_secs(1));
    assert!(
        later.iter().any(|a| matches!(
            a,
            Action::Replace {
                policy_restart: Some(2),
                ..
            }
        )),
        "{later:?}"
    );
    // A third crash in a row waits 2 s; a run of a minute forgives the streak.
    o.books.get_mut("w").expect("book").on_restarted(t0, 2);
    assert_eq!(
        ops(&plan(&snapshot(&[&w]), &o, t0 + Duration::from_secs(1))),
        ["retry_at"]
    );
    o.instances
        .values_mut()
        .for_each(|i| i.ran_for = Some(Duration::from_secs(60)));
    let forgiven = plan(&snapshot(&[&w]), &o, t0 + Duration::from_secs(1));
    assert!(
        forgiven.iter().any(|a| matches!(
            a,
            Action::Replace {
                policy_restart: Some(1),
                ..
            }
        )),
        "{forgiven:?}"
    );
}

#[test]
fn a_failed_create_is_retried_after_the_jittered_delay_it_reports() {
    let w = podman("w");
    let t0 = Instant::now();
    let mut o = observed();
    let mut book = WorkloadBook::new(w.instance_id.clone());
    book.on_create_failed(retryable("image pull failed"), t0, 0.5);
    book.on_create_failed(retryable("image pull failed"), t0, 0.5);
    o.books.insert("w".into(), book);
    // Retry 2 (n = 1): uniform in [0, 1 s]; jitter 0.5 → 500 ms.
    let due = t0 + Duration::from_millis(500);
    let waiting = plan(&snapshot(&[&w]), &o, t0);
    assert_eq!(ops(&waiting), ["retry_at"]);
    assert!(waiting.contains(&Action::RetryAt(due)));
    assert_eq!(
        report_of(&waiting, "w").info,
        "Retry 2: unexpected output from `podman`: image pull failed"
    );
    assert_eq!(
        report_of(&waiting, "w").state.to_string(),
        "Pending(Starting)"
    );
    assert_eq!(ops(&plan(&snapshot(&[&w]), &o, due)), ["create"]);
}

#[test]
fn an_update_or_a_delete_cancels_a_pending_create_retry() {
    let old = workload("w", "podman", "image: old");
    let new = podman("w");
    let t0 = Instant::now();
    let mut o = observed();
    let mut book = WorkloadBook::new(old.instance_id.clone());
    book.on_create_failed(retryable("boom"), t0, 1.0);
    o.books.insert("w".into(), book);
    let updated = plan(&snapshot(&[&new]), &o, t0);
    assert_eq!(ops(&updated), ["create"], "the new instance starts at once");
    assert_eq!(report_of(&updated, "w").info, "Triggered at runtime.");
    let deleted = plan(&snapshot(&[]), &o, t0);
    assert_eq!(ops(&deleted), Vec::<&str>::new());
    assert_eq!(reports(&deleted), ["Removed"]);
}

#[test]
fn non_retryable_problems_report_starting_failed_with_the_reason() {
    let mut files_on_kube = kube("k");
    files_on_kube.files.push(WorkloadFile {
        mount_point: "/etc/x".into(),
        content: FileContent::Data("x".into()),
    });
    // (workload, enabled runtimes, reason starts with)
    let table = [
        (
            workload("w", "containerd", "image: x"),
            vec!["podman"],
            "Unsupported Runtime 'containerd'",
        ),
        (
            podman("w"),
            vec!["podman-kube"],
            "The runtime 'podman' is not enabled on agent 'agent_A'",
        ),
        (
            workload("w", "podman", "image: [unclosed"),
            vec!["podman"],
            "Could not parse the runtimeConfig",
        ),
        (
            workload("w", "podman", "imgae: x"),
            vec!["podman"],
            "Could not parse the runtimeConfig",
        ),
        (
            files_on_kube,
            vec!["podman-kube"],
            "Workload files are not supported",
        ),
    ];
    for (w, runtimes, reason) in table {
        let runtimes = runtimes.into_iter().map(|r| r.parse().expect("a runtime"));
        let o = Observed::new(AGENT, runtimes.collect());
        let actions = plan(&snapshot(&[&w]), &o, Instant::now());
        assert_eq!(ops(&actions), Vec::<&str>::new(), "{reason}");
        assert_eq!(reports(&actions), ["Pending(StartingFailed)"], "{reason}");
        let info = &report_of(&actions, &w.instance_id.workload).info;
        assert!(info.starts_with(reason), "{info}");
    }
}

#[test]
fn a_workload_with_an_operation_in_flight_is_left_alone() {
    let w = podman("w");
    let mut o = observed();
    with_instance(&mut o, &w, RawState::Exited { code: 1 });
    managed(&mut o, &w).in_flight = Some(Operation::Replace);
    assert_eq!(plan(&snapshot(&[&w]), &o, Instant::now()), Vec::new());
    assert_eq!(plan(&snapshot(&[]), &o, Instant::now()), Vec::new());
}

#[test]
fn a_stale_retained_state_of_this_agent_is_cleared() {
    let mut o = observed();
    peer(&mut o, "gone", AGENT, "Running(Ok)");
    peer(&mut o, "elsewhere", "agent_B", "Running(Ok)");
    let actions = plan(&snapshot(&[]), &o, Instant::now());
    assert_eq!(reports(&actions), ["Removed"]);
    assert_eq!(report_of(&actions, "gone").workload, "gone");
    publish(&mut o, &actions);
    assert_eq!(
        plan(&snapshot(&[]), &o, Instant::now()),
        Vec::new(),
        "said once"
    );
}

#[test]
fn a_failed_delete_reports_delete_failed_and_is_retried_later() {
    let w = podman("w");
    let t0 = Instant::now();
    let mut o = observed();
    with_instance(&mut o, &w, RawState::Running);
    managed(&mut o, &w).on_delete_failed(retryable("device busy"), t0, 1.0);
    let waiting = plan(&snapshot(&[]), &o, t0);
    assert_eq!(reports(&waiting), ["Stopping(DeleteFailed)"]);
    assert_eq!(
        report_of(&waiting, "w").info,
        "Retry 1: unexpected output from `podman`: device busy"
    );
    assert!(waiting.contains(&Action::RetryAt(t0 + Duration::from_millis(500))));
    let retry = plan(&snapshot(&[]), &o, t0 + Duration::from_millis(500));
    assert_eq!(ops(&retry), ["delete"]);
}

#[test]
fn a_re_added_workload_that_was_waiting_to_stop_reports_running_again() {
    let w = podman("db");
    let mut o = observed();
    with_instance(&mut o, &w, RawState::Running);
    let book = managed(&mut o, &w);
    book.delete_conditions
        .insert("app".into(), DeleteCondition::NotPendingNorRunning);
    expect_on(&mut book.expected_instances, "app", "agent_B");
    peer(&mut o, "app", "agent_B", "Running(Ok)");
    let waiting = plan(&snapshot(&[]), &o, Instant::now());
    assert_eq!(reports(&waiting), ["Stopping(WaitingToStop)"]);
    publish(&mut o, &waiting);
    let back = plan(&snapshot(&[&w]), &o, Instant::now());
    assert_eq!(reports(&back), ["Running(Ok)"]);
    assert_eq!(ops(&back), Vec::<&str>::new());
}

#[test]
fn a_leaving_instance_waiting_to_stop_ignores_podman_saying_it_ended() {
    let w = podman("db");
    let mut o = observed();
    with_instance(&mut o, &w, RawState::Exited { code: 0 });
    let book = managed(&mut o, &w);
    book.delete_conditions
        .insert("app".into(), DeleteCondition::Running);
    expect_on(&mut book.expected_instances, "app", "agent_B");
    peer(&mut o, "app", "agent_B", "Pending(Starting)");
    let actions = plan(&snapshot(&[]), &o, Instant::now());
    assert_eq!(reports(&actions), ["Stopping(WaitingToStop)"]);
}

#[test]
fn a_runtime_that_cannot_be_listed_is_reported_on_every_workload_and_nothing_is_touched() {
    let w = podman("w");
    let mut o = observed();
    with_instance(&mut o, &podman("orphan"), RawState::Running);
    o.listing_error = Some("podman: not found".into());
    let actions = plan(&snapshot(&[&w]), &o, Instant::now());
    assert_eq!(ops(&actions), Vec::<&str>::new(), "{actions:?}");
    assert_eq!(reports(&actions), ["Failed(Unknown)"]);
    let report = report_of(&actions, "w");
    assert!(report.info.contains("podman: not found"), "{}", report.info);

    publish(&mut o, &actions);
    assert_eq!(
        plan(&snapshot(&[&w]), &o, Instant::now()),
        Vec::new(),
        "said once"
    );
}

#[test]
fn a_container_exiting_on_its_own_does_not_flash_stopping() {
    let w = podman("w");
    let mut o = observed();
    with_instance(&mut o, &w, RawState::Running);
    managed(&mut o, &w);
    let running = plan(&snapshot(&[&w]), &o, Instant::now());
    assert_eq!(reports(&running), ["Running(Ok)"]);
    publish(&mut o, &running);
    with_instance(&mut o, &w, RawState::Stopping("stopped".into()));
    assert_eq!(plan(&snapshot(&[&w]), &o, Instant::now()), Vec::new());
    with_instance(&mut o, &w, RawState::Exited { code: 0 });
    assert_eq!(
        reports(&plan(&snapshot(&[&w]), &o, Instant::now())),
        ["Succeeded(Ok)"]
    );
}

#[test]
fn a_provisional_exit_is_reported_at_once_but_restarts_only_once_a_listing_confirms_it() {
    let mut w = podman("w");
    w.restart_policy = RestartPolicy::Always;
    let mut o = observed();
    with_instance(&mut o, &w, RawState::Running);
    managed(&mut o, &w);
    let running = plan(&snapshot(&[&w]), &o, Instant::now());
    publish(&mut o, &running);

    let id = w.instance_id.to_string();
    let instance = o.instances.get_mut(&id).expect("instance");
    assert!(instance.record_exit("c0ffee", 137, 0));
    let provisional = plan(&snapshot(&[&w]), &o, Instant::now());
    assert_eq!(reports(&provisional), ["Failed(ExecFailed)"]);
    assert_eq!(
        ops(&provisional),
        Vec::<&str>::new(),
        "no restart on an event alone"
    );

    publish(&mut o, &provisional);
    o.instances.get_mut(&id).expect("instance").provisional = false;
    let confirmed = plan(&snapshot(&[&w]), &o, Instant::now());
    assert_eq!(ops(&confirmed), ["replace"]);
}
