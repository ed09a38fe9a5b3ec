use ank_schemas::Liveness;

use crate::harness::*;

#[tokio::test]
async fn the_status_is_online_with_resources_then_offline_on_shutdown_and_lost_on_a_crash() {
    let env = Env::start("status").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let ctl = Controller::connect(&env).await;
    let mut config = env.config(&name);
    config.tags.insert("location".into(), "front".into());
    let agent = InProcessAgent::start(config.clone());
    let online = eventually("online with resources", DEADLINE, || async {
        let status = ctl.status(&name);
        let done = status
            .as_ref()
            .is_some_and(|s| s.state == Liveness::Online && s.resources.is_some());
        (done, status)
    })
    .await
    .expect("a status");
    assert_eq!(online.runtimes, ["podman", "podman-kube"]);
    assert_eq!(online.tags["location"], "front");
    assert!(online.resources.is_some_and(|r| r.free_memory > 0));
    agent.stop().await;
    let offline = eventually("offline", DEADLINE, || async {
        let status = ctl.status(&name);
        (
            status
                .as_ref()
                .is_some_and(|s| s.state == Liveness::Offline),
            status,
        )
    })
    .await
    .expect("a status");
    assert_eq!(offline.epoch, online.epoch);

    let agent = InProcessAgent::start(config);
    let second = eventually("online again", DEADLINE, || async {
        let status = ctl.status(&name);
        (
            status.as_ref().is_some_and(|s| s.state == Liveness::Online),
            status,
        )
    })
    .await
    .expect("a status");
    assert!(second.epoch > online.epoch);
    agent.crash().await;
    let lost = eventually("lost", DEADLINE, || async {
        let status = ctl.status(&name);
        (
            status.as_ref().is_some_and(|s| s.state == Liveness::Lost),
            status,
        )
    })
    .await
    .expect("a status");
    assert_eq!(lost.epoch, second.epoch);
}
