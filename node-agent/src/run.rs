//! Wiring: builds the runtime connectors from the settings, prepares the agent's folder,
//! connects to the broker (retrying while it is unreachable), subscribes, and hands everything
//! to the select loop (`agent_loop.rs`). Nothing here decides about workloads.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use ank_bus::{BusError, ConnectOptions, Session};
use ank_schemas::{AgentStatus, Liveness, RuntimeKind};

use crate::agent_loop::{run_loop, Agent};
use crate::config::AgentConfig;
use crate::control_interface::{BusBackend, ControlInterfaces};
use crate::dispatch::Runtimes;
use crate::log_streams::LogStreams;
use crate::publish::{now_rfc3339, Publisher, VERSION};
use crate::resources::Sampler;
use crate::runner::Runner;
use crate::runtime::{PodmanCli, PodmanKubeRuntime, PodmanRuntime};

/// The shortest wait before the first connect is retried.
const CONNECT_RETRY_MIN: Duration = Duration::from_millis(200);
/// The first connect is retried with delays growing to this (the broker may start later).
const CONNECT_RETRY_MAX: Duration = Duration::from_secs(5);

/// Runs the agent until `shutdown` completes. Fails only when it cannot start (bad settings, a
/// broker that refuses it); podman errors are reported as workload states, never returned.
pub async fn run(config: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
    tokio::pin!(shutdown);
    let io_folder = config.io_folder();
    crate::workload_files::prepare_io_folder(&io_folder)
        .with_context(|| format!("creating the agent's folder {}", io_folder.display()))?;
    let mut cli = PodmanCli::new(&config.podman);
    for (key, value) in &config.podman_env {
        cli = cli.with_env(key, value);
    }
    let runtimes = Arc::new(Runtimes {
        podman: config
            .runtimes
            .contains(&RuntimeKind::Podman)
            .then(|| PodmanRuntime::new(cli.clone(), &config.name)),
        kube: config
            .runtimes
            .contains(&RuntimeKind::PodmanKube)
            .then(|| PodmanKubeRuntime::new(cli.clone(), &config.name)),
        io_folder,
    });
    let status = AgentStatus {
        state: Liveness::Online,
        epoch: ank_bus::new_epoch(),
        version: VERSION.to_owned(),
        runtimes: config.runtimes.iter().map(ToString::to_string).collect(),
        tags: config.tags.clone(),
        resources: None,
        observed_generation: None,
        since: Some(now_rfc3339()),
    };
    let options = config.connect_options()?;
    let birth = Publisher::birth_for(&config.topics, &config.name, &status);
    let connected = tokio::select! {
        connected = connect(options, birth) => connected?,
        () = &mut shutdown => return Ok(()),
    };
    let (session, incoming) = connected;
    let topics = &config.topics;
    // Other agents' statuses are watched on a connection of their own: on the main session the
    // broker would echo our own `offline` back while we disconnect, and a broker that fails to
    // write that echo to the closing socket fires our will (seen with Mosquitto and mqtt5).
    let statuses = session
        .watch_retained(&topics.agent_watches())
        .await
        .context("watching the agents' statuses")?;
    // Its own workloads' states (to clear stale ones) among them; the states its conditions
    // depend on are subscribed one topic each, from the snapshot (`watch_dependencies`).
    for filter in topics.agent_subscriptions(&config.name) {
        session
            .subscribe(&filter)
            .await
            .with_context(|| format!("subscribing to {filter}"))?;
    }
    tracing::info!(agent = %config.name, broker = %config.broker, "agent online");

    let publisher = Publisher::new(session.clone(), config.topics.clone(), &config.name, status);
    let boot = crate::boot::detect(&config.boot_id_file, &config.io_folder());
    let mut runner = Runner::new(&config.name, config.runtimes.clone(), Arc::clone(&runtimes));
    runner.observed.rebooted = boot.rebooted;
    let (ends_record, reported_ends) = crate::reported_ends::EndsRecord::open(&config.io_folder());
    runner.observed.reported_ends = Some(reported_ends);
    // Control interface (issue 15): one FIFO server per instance with allow rules; the log
    // lines its LogsRequests ask for arrive on the agent's own log stream topic.
    let own_id =
        ank_schemas::ClientId::new(&config.client_id()).context("the agent's client id")?;
    let control = ControlInterfaces::new(
        config.io_folder(),
        BusBackend::new(
            session.clone(),
            config.topics.clone(),
            &config.name,
            own_id.clone(),
        ),
    );
    let own_logs = config.topics.log_streams_to(&own_id);
    session
        .subscribe(&own_logs)
        .await
        .with_context(|| format!("subscribing to {own_logs}"))?;
    let agent = Agent {
        control,
        session,
        watched_peers: BTreeSet::new(),
        logs: LogStreams::new(config.log_caps, Arc::clone(&runtimes), publisher.logs()),
        publisher,
        runner,
        boot: Some(boot),
        ends_record,
        sampler: Sampler::default(),
        connects: 0,
        config,
    };
    run_loop(agent, incoming, statuses, cli, shutdown).await;
    Ok(())
}

/// Connects, retrying while the broker is unreachable (it may start after the agent).
async fn connect(
    options: ConnectOptions,
    birth: ank_bus::Birth,
) -> Result<(Session, ank_bus::Incoming)> {
    // The bus's backoff, with jitter: agents of a fleet that start before their broker do not
    // knock all at once.
    let mut backoff = ank_bus::Backoff::new(CONNECT_RETRY_MIN, CONNECT_RETRY_MAX);
    loop {
        match Session::connect(options.clone(), Some(birth.clone())).await {
            Ok(connected) => return Ok(connected),
            // A certificate refused either way may be fixed on the broker's side (a new CA, a
            // renewed certificate): keep trying, saying why, as for an unreachable broker.
            Err(
                error @ (BusError::Unreachable { .. }
                | BusError::ClientCertificateRefused { .. }
                | BusError::BrokerCertificateRefused { .. }),
            ) => {
                let delay = backoff.next_delay(&mut rand::rng());
                tracing::warn!(%error, "retrying in {delay:?}");
                tokio::time::sleep(delay).await;
            }
            Err(error) => return Err(error).context("connecting to the broker"),
        }
    }
}
