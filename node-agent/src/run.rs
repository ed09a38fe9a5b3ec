//! The agent's loop: connect, watch the bus and podman, and on every change plan and act.
//!
//! One task owns all state ([`Observed`], the snapshot, the publisher); runtime operations,
//! listings and log streams run as owned child tasks that report back to it, and end with it.
//! Until the first snapshot arrives (and podman was listed once) nothing is changed: a broker
//! that lost its retained messages must not stop workloads. On shutdown the agent publishes
//! `offline` and leaves every workload running.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::task::JoinSet;
use tokio::time::sleep_until;

use ank_bus::{BusError, ConnectOptions, Message, Session, SessionEvent, TlsFiles, WatchEvent};
use ank_schemas::{
    AgentSnapshot, AgentStatus, ExecutionState, Liveness, LogRequest, Topic, WorkloadStatePayload,
};

use crate::config::AgentConfig;
use crate::execute::{self, OpOutcome, Runtimes};
use crate::log_streams::LogStreams;
use crate::observed::{InstanceTarget, Observed, PeerState, RuntimeInstance};
use crate::publish::{now_rfc3339, Publisher, VERSION};
use crate::reconcile::{plan, Action};
use crate::resources::{changed_noticeably, Sampler};
use crate::runtime::{
    ContainerEvent, EventWatcher, ObservedInstance, PodmanCli, PodmanKubeRuntime, PodmanRuntime,
    WatchItem,
};

/// How long podman events are gathered before one `podman ps` reads them all.
const EVENT_DEBOUNCE: Duration = Duration::from_millis(50);
/// How long the event stream waits before it is restarted after it died.
const EVENTS_RETRY: Duration = Duration::from_secs(1);
/// The first connect is retried with delays growing to this (the broker may start later).
const CONNECT_RETRY_MAX: Duration = Duration::from_secs(5);

/// Runs the agent until `shutdown` completes. Fails only when it cannot start (bad settings, a
/// broker that refuses it); podman errors are reported as workload states, never returned.
pub async fn run(config: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
    tokio::pin!(shutdown);
    let mut cli = PodmanCli::new(&config.podman);
    for (key, value) in &config.podman_env {
        cli = cli.with_env(key, value);
    }
    let runtimes = Arc::new(Runtimes {
        podman: config
            .runtimes
            .iter()
            .any(|r| r == "podman")
            .then(|| PodmanRuntime::new(cli.clone(), &config.name)),
        kube: config
            .runtimes
            .iter()
            .any(|r| r == "podman-kube")
            .then(|| PodmanKubeRuntime::new(cli.clone(), &config.name)),
        io_folder: config.io_folder(),
    });
    let status = AgentStatus {
        state: Liveness::Online,
        epoch: ank_bus::new_epoch(),
        version: VERSION.to_owned(),
        runtimes: config.runtimes.clone(),
        tags: config.tags.clone(),
        resources: None,
        observed_generation: None,
        since: Some(now_rfc3339()),
    };
    let options = connect_options(&config)?;
    let birth = Publisher::birth_for(&config.topics, &config.name, &status);
    let connected = tokio::select! {
        connected = connect(options, birth) => connected?,
        () = &mut shutdown => return Ok(()),
    };
    let (session, mut incoming) = connected;
    let topics = &config.topics;
    // Other agents' statuses are watched on a connection of their own: on the main session the
    // broker would echo our own `offline` back while we disconnect, and a broker that fails to
    // write that echo to the closing socket fires our will (seen with Mosquitto and mqtt5).
    let mut statuses = session
        .watch_retained(&[topics.all_agent_statuses()])
        .await
        .context("watching the agents' statuses")?;
    for filter in [
        topics.agent_desired(&config.name),
        topics.all_workload_states(),
        topics.log_requests(&config.name),
    ] {
        session
            .subscribe(&filter)
            .await
            .with_context(|| format!("subscribing to {filter}"))?;
    }
    tracing::info!(agent = %config.name, broker = %config.broker, "agent online");

    let publisher = Publisher::new(session, config.topics.clone(), &config.name, status);
    let mut agent = Agent {
        logs: LogStreams::new(config.log_caps, Arc::clone(&runtimes), publisher.logs()),
        publisher,
        observed: Observed::new(&config.name, config.runtimes.clone()),
        snapshot: None,
        runtimes,
        ops: JoinSet::new(),
        listings: JoinSet::new(),
        listed_once: false,
        list_due: Some(Instant::now()),
        list_seq: 0,
        fresh: BTreeMap::new(),
        retry_at: None,
        sampler: Sampler::default(),
        connects: 0,
        config,
    };
    let mut watcher = EventWatcher::spawn(cli.clone(), &agent.config.name, EVENTS_RETRY);
    let mut resync = tokio::time::interval(agent.config.resync_interval);
    let mut resources = tokio::time::interval(agent.config.resource_interval);
    let far = || Instant::now() + Duration::from_secs(3_600);

    loop {
        let list_due = agent.list_due.filter(|_| agent.listings.is_empty());
        let logs_due = agent.logs.next_deadline();
        tokio::select! {
            () = &mut shutdown => break,
            event = incoming.recv() => match event {
                Some(event) => agent.on_session_event(event).await,
                None => {
                    tracing::error!("the MQTT session ended");
                    break;
                }
            },
            Some(done) = agent.ops.join_next() => match done {
                Ok(outcome) => agent.on_op_done(outcome),
                Err(error) => tracing::error!(%error, "a runtime operation panicked"),
            },
            Some(done) = agent.listings.join_next() => match done {
                Ok(listing) => agent.on_listing(listing),
                Err(error) => tracing::error!(%error, "a podman listing panicked"),
            },
            () = agent.logs.join_next(), if agent.logs.is_busy() => {}
            () = sleep_until(logs_due.unwrap_or_else(|| far().into())), if logs_due.is_some() => {
                agent.logs.expire();
            }
            Some(event) = statuses.next() => agent.on_statuses(event),
            item = watcher.next() => match item {
                Some(WatchItem::Event(event)) => {
                    tracing::debug!(container = %event.name, status = %event.status, "podman event");
                    agent.on_container_event(&event);
                    agent.schedule_listing(Instant::now() + EVENT_DEBOUNCE);
                }
                Some(WatchItem::ResyncNeeded) => agent.schedule_listing(Instant::now()),
                None => {
                    tracing::warn!("the podman events watcher ended; restarting it");
                    watcher = EventWatcher::spawn(cli.clone(), &agent.config.name, EVENTS_RETRY);
                    agent.schedule_listing(Instant::now());
                }
            },
            () = sleep_until(list_due.unwrap_or_else(far).into()), if list_due.is_some() => {
                agent.start_listing();
            }
            _ = resync.tick() => agent.schedule_listing(Instant::now()),
            () = sleep_until(agent.retry_at.unwrap_or_else(far).into()), if agent.retry_at.is_some() => {
                agent.retry_at = None;
            }
            _ = resources.tick() => agent.sample_resources().await,
        }
        agent.reconcile().await;
    }

    tracing::info!("shutting down: workloads keep running");
    drop(watcher);
    statuses.close().await;
    agent.ops.abort_all();
    agent.listings.abort_all();
    agent.logs.shutdown().await;
    agent.publisher.shutdown().await;
    Ok(())
}

fn connect_options(config: &AgentConfig) -> Result<ConnectOptions> {
    let mut options = ConnectOptions::from_url(&config.broker, &config.client_id())
        .with_context(|| format!("broker URL `{}`", config.broker))?;
    options.topics = config.topics.clone();
    options.keep_alive = config.keep_alive;
    options.username.clone_from(&config.username);
    options.password.clone_from(&config.password);
    if let Some(ca) = &config.ca_pem {
        options.tls = Some(TlsFiles {
            ca: ca.clone(),
            cert: config.crt_pem.clone(),
            key: config.key_pem.clone(),
        });
    }
    Ok(options)
}

/// Connects, retrying while the broker is unreachable (it may start after the agent).
async fn connect(
    options: ConnectOptions,
    birth: ank_bus::Birth,
) -> Result<(Session, ank_bus::Incoming)> {
    let mut delay = Duration::from_millis(200);
    loop {
        match Session::connect(options.clone(), Some(birth.clone())).await {
            Ok(connected) => return Ok(connected),
            Err(error @ BusError::Unreachable { .. }) => {
                tracing::warn!(%error, "retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(CONNECT_RETRY_MAX);
            }
            Err(error) => return Err(error).context("connecting to the broker"),
        }
    }
}

/// One full `podman ps` of every enabled runtime.
struct Listing {
    seq: u64,
    by_runtime: Vec<(String, Result<Vec<ObservedInstance>, String>)>,
}

struct Agent {
    config: AgentConfig,
    publisher: Publisher,
    observed: Observed,
    snapshot: Option<AgentSnapshot>,
    runtimes: Arc<Runtimes>,
    ops: JoinSet<OpOutcome>,
    listings: JoinSet<Listing>,
    /// Log streams, with their leases and caps (`log_streams.rs`).
    logs: LogStreams,
    /// Whether podman was listed successfully once; the planner waits for it (adoption).
    listed_once: bool,
    /// When the next listing should start.
    list_due: Option<Instant>,
    /// Numbers listings, so an older listing never overwrites a fresher look at an instance.
    list_seq: u64,
    /// Instance → the listing number after which an operation looked at it.
    fresh: BTreeMap<String, u64>,
    retry_at: Option<Instant>,
    sampler: Sampler,
    connects: u64,
}

impl Agent {
    async fn on_session_event(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::Connected { .. } => {
                self.connects += 1;
                if self.connects > 1 {
                    // A broker that restarted may have lost our retained states: say them again.
                    let reports: Vec<_> = self.observed.reported.values().cloned().collect();
                    for report in reports {
                        self.publisher.workload_state(&report).await;
                    }
                }
            }
            SessionEvent::Disconnected { reason } => {
                tracing::warn!(%reason, "disconnected from the broker; reconnecting");
            }
            SessionEvent::Message(message) => self.on_message(message),
        }
    }

    fn on_message(&mut self, message: Message) {
        let Some(topic) = self.config.topics.parse(&message.topic) else {
            return;
        };
        match topic {
            Topic::AgentDesired { agent } if agent == self.config.name => {
                self.on_snapshot(&message.payload)
            }
            Topic::WorkloadState { agent, workload } => {
                let state = if message.payload.is_empty() {
                    None
                } else {
                    match serde_json::from_slice::<WorkloadStatePayload>(&message.payload) {
                        Ok(p) => Some(PeerState {
                            instance: p.instance_id,
                            state: p.state,
                        }),
                        Err(error) => {
                            tracing::warn!(topic = %message.topic, %error, "unreadable state ignored");
                            return;
                        }
                    }
                };
                self.observed.set_peer_state(&workload, &agent, state);
            }
            Topic::LogRequests { agent } if agent == self.config.name => {
                match serde_json::from_slice::<LogRequest>(&message.payload) {
                    Ok(request) => {
                        let instances = &self.observed.instances;
                        self.logs.on_request(request, |id| {
                            instances.get(id).map(RuntimeInstance::target)
                        });
                    }
                    Err(error) => tracing::warn!(%error, "unreadable log request ignored"),
                }
            }
            _ => {}
        }
    }

    /// Keeps the set of agents that are not online (their workloads' states count as
    /// `AgentDisconnected` for dependencies).
    fn on_statuses(&mut self, event: WatchEvent) {
        let messages = match event {
            WatchEvent::Snapshot(messages) => {
                self.observed.offline_agents.clear();
                messages
            }
            WatchEvent::Update(message) => vec![message],
        };
        for message in messages {
            let Some(Topic::AgentStatus { agent }) = self.config.topics.parse(&message.topic)
            else {
                continue;
            };
            if agent == self.config.name {
                continue;
            }
            let online = serde_json::from_slice::<AgentStatus>(&message.payload)
                .is_ok_and(|s| s.state == Liveness::Online);
            if online || message.payload.is_empty() {
                self.observed.offline_agents.remove(&agent);
            } else {
                self.observed.offline_agents.insert(agent);
            }
        }
    }

    fn on_snapshot(&mut self, payload: &[u8]) {
        if payload.is_empty() {
            tracing::warn!("the desired snapshot was cleared; keeping the workloads as they are");
            return;
        }
        let snapshot: AgentSnapshot = match serde_json::from_slice(payload) {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::warn!(%error, "unreadable snapshot ignored; workloads keep running");
                return;
            }
        };
        if let Err(problem) = validate_snapshot(&snapshot, &self.config.name) {
            tracing::warn!(%problem, "invalid snapshot ignored; workloads keep running");
            return;
        }
        tracing::info!(
            generation = snapshot.generation,
            workloads = snapshot.workloads.len(),
            "snapshot"
        );
        self.observed.remember_snapshot(&snapshot);
        self.snapshot = Some(snapshot);
    }

    fn schedule_listing(&mut self, at: Instant) {
        self.list_due = Some(self.list_due.map_or(at, |due| due.min(at)));
    }

    fn start_listing(&mut self) {
        self.list_due = None;
        self.list_seq += 1;
        let seq = self.list_seq;
        let runtimes = Arc::clone(&self.runtimes);
        let extra: Vec<InstanceTarget> = self
            .observed
            .instances
            .values()
            .filter(|i| !i.general_options.is_empty())
            .map(RuntimeInstance::target)
            .collect();
        let enabled = self.config.runtimes.clone();
        self.listings.spawn(async move {
            let mut by_runtime = Vec::new();
            for runtime in enabled {
                let found = runtimes.list(&runtime, &extra).await;
                by_runtime.push((runtime, found));
            }
            Listing { seq, by_runtime }
        });
    }

    fn on_listing(&mut self, listing: Listing) {
        let mut complete = true;
        for (runtime, found) in listing.by_runtime {
            let found = match found {
                Ok(found) => found,
                Err(error) => {
                    tracing::warn!(%runtime, %error, "listing failed; keeping the last view");
                    if !self.listed_once {
                        self.observed.listing_error = Some(format!("{runtime}: {error}"));
                    }
                    complete = false;
                    continue;
                }
            };
            let fresh: BTreeMap<String, RuntimeInstance> = found
                .iter()
                .map(|i| {
                    (
                        i.instance.clone(),
                        RuntimeInstance::from_observed(i, &runtime),
                    )
                })
                .collect();
            let names: BTreeSet<String> = self
                .observed
                .instances
                .iter()
                .filter(|(_, i)| i.runtime == runtime)
                .map(|(name, _)| name.clone())
                .chain(fresh.keys().cloned())
                .collect();
            for name in names {
                // An operation looked at this instance after the listing started, or is busy
                // with it: its view is newer.
                let newer = self.fresh.get(&name).is_some_and(|seq| *seq >= listing.seq);
                let busy = self
                    .observed
                    .instances
                    .get(&name)
                    .or(fresh.get(&name))
                    .map(RuntimeInstance::workload_key)
                    .and_then(|w| self.observed.books.get(&w))
                    .is_some_and(|b| b.in_flight.is_some());
                if newer || busy {
                    continue;
                }
                match fresh.get(&name) {
                    Some(instance) => {
                        self.observed.instances.insert(name, instance.clone());
                    }
                    None => {
                        self.observed.instances.remove(&name);
                    }
                }
            }
        }
        self.fresh.retain(|_, seq| *seq >= listing.seq);
        if complete {
            self.listed_once = true;
            self.observed.listing_error = None;
        } else if !self.listed_once {
            self.schedule_listing(Instant::now() + Duration::from_secs(1));
        }
    }

    /// The fast path for a container that exited: its `died` event carries the exit code, so
    /// the state is reported at once, provisionally; the listing scheduled anyway confirms it.
    fn on_container_event(&mut self, event: &ContainerEvent) {
        if event.status != "died" {
            return;
        }
        let (Some(instance), Some(code)) = (event.instance(), event.exit_code) else {
            return;
        };
        let Some(current) = self.observed.instances.get_mut(instance) else {
            return;
        };
        let busy = self
            .observed
            .books
            .get(&current.workload_key())
            .is_some_and(|b| b.in_flight.is_some());
        if busy {
            // The operation under way (a delete, a restart) looks at the instance itself.
            return;
        }
        let now_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if current.record_exit(&event.id, code, now_unix) {
            // A listing that started before this event must not overwrite it with `running`.
            self.fresh.insert(instance.to_owned(), self.list_seq);
        }
    }

    fn on_op_done(&mut self, outcome: OpOutcome) {
        for refreshed in &outcome.refreshed {
            self.fresh.insert(refreshed.instance.clone(), self.list_seq);
            self.observed.set_instance(
                &refreshed.instance,
                &refreshed.runtime,
                refreshed.found.as_ref(),
            );
        }
        execute::finish(
            &mut self.observed,
            &outcome,
            Instant::now(),
            rand::random::<f64>(),
        );
    }

    async fn reconcile(&mut self) {
        if !self.listed_once && self.observed.listing_error.is_none() {
            return;
        }
        let Some(snapshot) = &self.snapshot else {
            return;
        };
        let generation = snapshot.generation;
        let actions = plan(snapshot, &self.observed, Instant::now());
        for action in actions {
            match action {
                Action::Report(report) => {
                    self.publisher.workload_state(&report).await;
                    self.observed.record_report(report);
                }
                Action::RetryAt(at) => {
                    self.retry_at = Some(self.retry_at.map_or(at, |t| t.min(at)));
                }
                action => {
                    tracing::debug!(?action, "acting");
                    if let Some(op) = execute::begin(&self.runtimes, &mut self.observed, action) {
                        self.ops.spawn(op);
                    }
                }
            }
        }
        // Books made by this round's actions learn their delete conditions now, so a workload
        // removed by the next snapshot still waits for its dependents.
        if let Some(snapshot) = &self.snapshot {
            self.observed.remember_snapshot(snapshot);
        }
        if self.publisher.status().observed_generation != Some(generation) {
            self.publisher
                .update_status(|s| s.observed_generation = Some(generation))
                .await;
        }
        // The `Removed` memory of topics whose echo already cleared stays small: drop the rest.
        let agent = &self.config.name;
        let peers = &self.observed.peer_states;
        self.observed.reported.retain(|name, report| {
            report.state != ExecutionState::Removed
                || peers
                    .get(name)
                    .is_some_and(|by_agent| by_agent.contains_key(agent))
        });
    }

    async fn sample_resources(&mut self) {
        let Some(now) = self.sampler.sample() else {
            return;
        };
        if changed_noticeably(self.publisher.status().resources.as_ref(), &now) {
            self.publisher
                .update_status(|s| s.resources = Some(now))
                .await;
        }
    }
}

/// Checks what serde cannot: every workload is this agent's and named as its key.
fn validate_snapshot(snapshot: &AgentSnapshot, agent: &str) -> Result<(), String> {
    for (name, workload) in &snapshot.workloads {
        let id = &workload.instance_id;
        if id.workload != *name || id.agent != agent {
            return Err(format!(
                "workload `{name}` has the instance id `{id}` of another workload or agent"
            ));
        }
    }
    Ok(())
}
