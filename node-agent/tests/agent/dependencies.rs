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

    let mut on_running = shell("on_running", &b, SERVICE, RestartPolicy::Never);
    on_running
        .dependencies
        .insert("db".into(), AddCondition::Running);
    let mut on_succeeded = shell("on_succeeded", &b, SERVICE, RestartPolicy::Never);
    on_succeeded
        .dependencies
        .insert("init".into(), AddCondition::Succeeded);
    let mut on_failed = shell("on_failed", &b, SERVICE, RestartPolicy::Never);
    on_failed
        .dependencies
        .insert("check".into(), AddCondition::Failed);
    ctl.publish(&b, &[&on_running, &on_succeeded, &on_failed])
        .await;
    for w in ["on_running", "on_succeeded", "on_failed"] {
        ctl.wait_for(&b, w, "Pending(WaitingToStart)").await;
    }

    let mut db = shell("db", &a, SERVICE, RestartPolicy::Never);
    db.delete_conditions
        .insert("on_running".into(), DeleteCondition::NotPendingNorRunning);
    let init = shell("init", &a, "true", RestartPolicy::Never);
    let check = shell("check", &a, "exit 2", RestartPolicy::Never);
    ctl.publish(&a, &[&db, &init, &check]).await;
    for w in ["on_running", "on_succeeded", "on_failed"] {
        ctl.wait_for(&b, w, "Running(Ok)").await;
    }

    // Deleting db waits while its dependent runs, then goes once the dependent is gone.
    ctl.publish(&a, &[&init, &check]).await;
    ctl.wait_for(&a, "db", "Stopping(WaitingToStop)").await;
    assert_eq!(containers(&db.instance_id).len(), 1, "db still there");
    ctl.publish(&b, &[&on_succeeded, &on_failed]).await;
    eventually("db removed", || {
        let state = ctl.state(&a, "db");
        (state.is_none(), state)
    })
    .await;
    assert!(containers(&db.instance_id).is_empty());
    agent_a.stop().await;
    agent_b.stop().await;
}
