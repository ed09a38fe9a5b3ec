use ank_schemas::{AddCondition, DeleteCondition, RestartPolicy};

use crate::harness::*;

#[tokio::test]
async fn add_conditions_are_resolved_across_agents() {
    let env = Env::start("deps").await;
    let a = env.agent_name("a");
    let b = env.agent_name("b");
    let _cleanup = (Cleanup(a.clone()), Cleanup(b.clone()));
    let mut ctl = Controller::connect(&env).await;
    let agent_a = InProcessAgent::start(env.config(&a));
    let agent_b = InProcessAgent::start(env.config(&b));

    // As the controller does: each condition names the instance (and so the agent) of its peer.
    let mut db = shell("db", &a, SERVICE, RestartPolicy::Never);
    let init = shell("init", &a, "true", RestartPolicy::Never);
    let check = shell("check", &a, "exit 2", RestartPolicy::Never);
    let mut on_running = shell("on_running", &b, SERVICE, RestartPolicy::Never);
    on_running
        .dependencies
        .insert("db".into(), AddCondition::Running);
    on_running
        .expected_instances
        .insert("db".into(), db.instance_id.clone());
    let mut on_succeeded = shell("on_succeeded", &b, SERVICE, RestartPolicy::Never);
    on_succeeded
        .dependencies
        .insert("init".into(), AddCondition::Succeeded);
    on_succeeded
        .expected_instances
        .insert("init".into(), init.instance_id.clone());
    let mut on_failed = shell("on_failed", &b, SERVICE, RestartPolicy::Never);
    on_failed
        .dependencies
        .insert("check".into(), AddCondition::Failed);
    on_failed
        .expected_instances
        .insert("check".into(), check.instance_id.clone());
    ctl.publish(&b, &[&on_running, &on_succeeded, &on_failed])
        .await;
    for w in ["on_running", "on_succeeded", "on_failed"] {
        ctl.wait_for(&b, w, "Pending(WaitingToStart)").await;
    }

    db.delete_conditions
        .insert("on_running".into(), DeleteCondition::NotPendingNorRunning);
    db.expected_instances
        .insert("on_running".into(), on_running.instance_id.clone());
    ctl.publish(&a, &[&db, &init, &check]).await;
    for w in ["on_running", "on_succeeded", "on_failed"] {
        ctl.wait_for(&b, w, "Running(Ok)").await;
    }

    // Deleting db waits while its dependent runs, then goes once the dependent is gone.
    ctl.publish(&a, &[&init, &check]).await;
    ctl.wait_for(&a, "db", "Stopping(WaitingToStop)").await;
    assert_eq!(containers(&db.instance_id).len(), 1, "db still there");
    ctl.publish(&b, &[&on_succeeded, &on_failed]).await;
    eventually("db removed", DEADLINE, || async {
        let state = ctl.state(&a, "db");
        (state.is_none(), state)
    })
    .await;
    assert!(containers(&db.instance_id).is_empty());
    agent_a.stop().await;
    agent_b.stop().await;
}

/// Issue 13: a participant that may publish states under its own agent name (a compromised ECU
/// with agent C's login) cannot start a workload that waits for another agent's workload, nor
/// hold a delete, by publishing a state for a workload it does not run.
#[tokio::test]
async fn issue_13_a_forged_dependency_state_from_another_agent_neither_starts_nor_holds() {
    let env = Env::start("forged").await;
    let a = env.agent_name("a");
    let _cleanup = Cleanup(a.clone());
    let mut ctl = Controller::connect(&env).await;
    let agent_a = InProcessAgent::start(env.config(&a));
    let forger = env.agent_name("c");

    // gate runs on a (not yet published); waiter waits for it to succeed.
    let gate = shell("gate", &a, "sleep 2", RestartPolicy::Never);
    let mut waiter = shell("waiter", &a, SERVICE, RestartPolicy::Never);
    waiter
        .dependencies
        .insert("gate".into(), AddCondition::Succeeded);
    waiter
        .expected_instances
        .insert("gate".into(), gate.instance_id.clone());
    ctl.publish(&a, &[&waiter]).await;
    ctl.wait_for(&a, "waiter", "Pending(WaitingToStart)").await;
    let forged = |state: &str| {
        serde_json::to_vec(&serde_json::json!({
            "instanceId": gate.instance_id.to_string(),
            "state": state,
            "subState": "Ok",
            "additionalInfo": "",
            "observedGeneration": 1,
            "restartCount": 0,
        }))
        .expect("json")
    };
    ctl.publish_state(&forger, "gate", forged("Succeeded"))
        .await;
    ctl.wait_state(&forger, "gate", "the forged state on the bus", |p| {
        p.state.to_string() == "Succeeded(Ok)"
    })
    .await;
    assert_eq!(
        ctl.stays(&a, "waiter", std::time::Duration::from_secs(2))
            .await,
        "Pending(WaitingToStart)",
        "the forged Succeeded of agent c started nothing"
    );
    assert!(containers(&waiter.instance_id).is_empty());

    // The real gate, on a, does start it.
    ctl.publish(&a, &[&gate, &waiter]).await;
    ctl.wait_for(&a, "waiter", "Running(Ok)").await;

    // A forged Running of a dependent does not hold a delete: db's dependent app is expected
    // on a (where it does not run), and c claims it runs.
    let mut db = shell("db", &a, SERVICE, RestartPolicy::Never);
    let app = shell("app", &a, SERVICE, RestartPolicy::Never);
    db.delete_conditions
        .insert("app".into(), DeleteCondition::NotPendingNorRunning);
    db.expected_instances
        .insert("app".into(), app.instance_id.clone());
    ctl.publish(&a, &[&db]).await;
    ctl.wait_for(&a, "db", "Running(Ok)").await;
    ctl.publish_state(&forger, "app", forged("Running")).await;
    ctl.publish(&a, &[]).await;
    eventually(
        "db removed although c claims app runs",
        DEADLINE,
        || async {
            let state = ctl.state(&a, "db");
            (state.is_none(), state)
        },
    )
    .await;
    agent_a.stop().await;
}
