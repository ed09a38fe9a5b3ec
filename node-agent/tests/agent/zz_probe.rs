use ank_schemas::Liveness;
use crate::harness::*;

async fn cycle(env: &Env, ctl: &Controller, name: &str, url: &str) -> bool {
    let mut config = env.config(name);
    config.broker = url.to_owned();
    let agent = InProcessAgent::start(config);
    eventually("online", || {
        let s = ctl.status(name);
        (s.as_ref().is_some_and(|s| s.state == Liveness::Online), s)
    }).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    agent.stop().await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    eprintln!("STATUS after stop: {:?}", ctl.status(name));
    ctl.status(name).is_some_and(|s| s.state == Liveness::Offline)
}

#[tokio::test]
async fn probe_offline_embedded() {
    let env = Env::start("probe").await;
    let ctl = Controller::connect(&env).await;
    let mut bad = 0;
    for i in 0..15 {
        let name = env.agent_name(&format!("p{i}"));
        if !cycle(&env, &ctl, &name, &env.url.clone()).await { bad += 1; }
    }
    eprintln!("EMBEDDED lost-after-clean-stop: {bad}/15");
}

#[tokio::test]
async fn probe_offline_mosquitto() {
    let _ = tracing_subscriber::fmt().with_env_filter("ank_bus=debug,ank_agent=info").with_test_writer().try_init();
    let mosq = ank_system_tests::mosquitto::Mosquitto::start().expect("mosquitto");
    let mut env = Env::start("probem").await;
    env.url = std::env::var("PROBE_URL").unwrap_or(mosq.url());
    let ctl = Controller::connect(&env).await;
    let mut bad = 0;
    for i in 0..6 {
        let name = env.agent_name(&format!("p{i}"));
        if !cycle(&env, &ctl, &name, &env.url.clone()).await { bad += 1; }
    }
    eprintln!("MOSQUITTO lost-after-clean-stop: {bad}/15");
}
