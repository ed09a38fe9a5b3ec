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
use crate::control_interface::{BusBackend, ControlInterfaces};
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
            .iter()
            .any(|r| r == "podman")
            .then(|| PodmanRuntime::new(cli.clone(), &config.name)),
        kube: config
            .runtimes
            .iter()
            .any(|r| r == "podman-kube")
            .then(|| PodmanKubeRuntime::new(cli.clone(), &config.name)),
        io_folder,
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
    // Control interface (issue 15): one FIFO server per instance with allow rules.
    let control = ControlInterfaces::new(
        config.io_folder(),
        BusBackend::new(
            session.clone(),
            topics.clone(),
            &config.name,
            ank_schemas::ClientId::new(&config.client_id()).context("the agent's client id")?,
        ),
    );
    let own_logs = ank_schemas::ClientId::new(&config.client_id())
        .map(|own| topics.log_streams_to(&own))
        .context("the agent's client id")?;
    session
        .subscribe(&own_logs)
        .await
        .with_context(|| format!("subscribing to {own_logs}"))?;
    let mut agent = Agent {
        control,
        session,
        watched_peers: BTreeSet::new(),
        logs: LogStreams::new(config.log_caps, Arc::clone(&runtimes), publisher.logs()),
        publisher,
        observed: Observed::new(&config.name, config.runtimes.clone()),
        snapshot: None,
        runtimes,
        ops: JoinSet::new(),
        listings: JoinSet::new(),
        listed_once: false,
        listing_failing_since: None,
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
            // A certificate refused either way may be fixed on the broker's side (a new CA, a
            // renewed certificate): keep trying, saying why, as for an unreachable broker.
            Err(
                error @ (BusError::Unreachable { .. }
                | BusError::ClientCertificateRefused { .. }
                | BusError::BrokerCertificateRefused { .. }),
            ) => {
                tracing::warn!(%error, "retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(CONNECT_RETRY_MAX);
            }
            Err(error) => return Err(error).context("connecting to the broker"),
        }
    }
}

/// How long the runtime may stay unlistable, from the start of the first failed listing, before
/// the agent reports its workloads `Failed(Unknown)`: a podman that fails once while starting up
/// must not end `ank apply` with exit 3 a moment before it recovers (issue 14). A hung podman is
/// killed after [`crate::runtime::ps::LISTING_TIMEOUT`], past this grace, so it is reported at
/// once.
const LISTING_GRACE: Duration = Duration::from_secs(5);

/// Whether listings failing in a row since `failing_since` are a lasting failure at `now`.
fn listing_failure_lasts(failing_since: Instant, now: Instant) -> bool {
    now.saturating_duration_since(failing_since) >= LISTING_GRACE
}

/// One full `podman ps` of every enabled runtime.
struct Listing {
    seq: u64,
    /// When it was started: a failure counts from there.
    started: Instant,
    by_runtime: Vec<(String, Result<Vec<ObservedInstance>, String>)>,
}

struct Agent {
    config: AgentConfig,
    /// Control-interface sessions, following the snapshot (issue 15).
    control: ControlInterfaces<BusBackend>,
    /// For subscriptions; publishing goes through `publisher`.
    session: Session,
    /// (agent, workload) of every other agent's state topic subscribed because a condition of
    /// ours names that instance: the only other states the agent believes (issue 13).
    watched_peers: BTreeSet<(String, String)>,
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
    /// When the listings that failed in a row began; `None` after a complete one.
    listing_failing_since: Option<Instant>,
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
                ank_bus::warn_limited!(
                    "broker lost",
                    %reason,
                    "disconnected from the broker; reconnecting",
                );
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
                if agent != self.config.name
                    && !self
                        .watched_peers
                        .contains(&(agent.clone(), workload.clone()))
                {
                    // Unsubscribed a moment ago, or a broker that ignores our filters.
                    tracing::debug!(%agent, %workload, "state of a workload no condition names ignored");
                    return;
                }
                let state = if message.payload.is_empty() {
                    None
                } else {
                    match serde_json::from_slice::<WorkloadStatePayload>(&message.payload) {
                        Ok(p) => Some(PeerState {
                            instance: p.instance_id,
                            state: p.state,
                        }),
                        Err(error) => {
                            ank_bus::warn_limited!(
                                "peer state",
                                topic = %ank_bus::excerpt(&message.topic),
                                error = %ank_bus::excerpt(&error),
                                "unreadable state ignored",
                            );
                            return;
                        }
                    }
                };
                self.observed.set_peer_state(&workload, &agent, state);
            }
            // Control interface (issue 15): logs for a workload's LogsRequest.
            Topic::LogStream { client_id, .. } if client_id.as_str() == self.config.client_id() => {
                self.control.on_log_event(&message.payload)
            }
            Topic::LogRequests { agent } if agent == self.config.name => {
                match serde_json::from_slice::<LogRequest>(&message.payload) {
                    Ok(request) => {
                        let instances = &self.observed.instances;
                        self.logs.on_request(request, |id| {
                            instances.get(id).map(RuntimeInstance::target)
                        });
                    }
                    Err(error) => {
                        ank_bus::warn_limited!(
                            "log request",
                            error = %ank_bus::excerpt(&error),
                            "unreadable log request ignored",
                        )
                    }
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
            // A fresh snapshot follows the reconnect.
            WatchEvent::Disconnected { .. } => return,
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
            ank_bus::warn_limited!(
                "snapshot",
                "the desired snapshot was cleared; keeping the workloads as they are"
            );
            return;
        }
        let snapshot: AgentSnapshot = match serde_json::from_slice(payload) {
            Ok(snapshot) => snapshot,
            Err(error) => {
                ank_bus::warn_limited!(
                    "snapshot",
                    error = %ank_bus::excerpt(&error),
                    "unreadable snapshot ignored; workloads keep running",
                );
                return;
            }
        };
        if let Err(problem) = validate_snapshot(&snapshot, &self.config.name) {
            ank_bus::warn_limited!(
                "snapshot",
                problem = %ank_bus::excerpt(&problem),
                "invalid snapshot ignored; workloads keep running",
            );
            return;
        }
        tracing::info!(
            generation = snapshot.generation,
            workloads = snapshot.workloads.len(),
            "snapshot"
        );
        self.observed.remember_snapshot(&snapshot);
        self.control.on_snapshot(&snapshot);
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
        let started = Instant::now();
        self.listings.spawn(async move {
            let mut by_runtime = Vec::new();
            for runtime in enabled {
                let found = runtimes.list(&runtime, &extra).await;
                by_runtime.push((runtime, found));
            }
            Listing {
                seq,
                started,
                by_runtime,
            }
        });
    }

    fn on_listing(&mut self, listing: Listing) {
        let mut complete = true;
        for (runtime, found) in listing.by_runtime {
            let found = match found {
                Ok(found) => found,
                Err(error) => {
                    tracing::warn!(%runtime, %error, "listing failed; keeping the last view");
                    let since = *self.listing_failing_since.get_or_insert(listing.started);
                    if !self.listed_once && listing_failure_lasts(since, Instant::now()) {
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
            self.listing_failing_since = None;
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

    /// Subscribes to the state topic of every instance a condition of ours names (in the
    /// snapshot, or in the book of a workload that is leaving), and drops the others with what
    /// they said: memory and traffic stay proportional to our own snapshot, and no other
    /// participant's state is ever heard (issue 13).
    async fn watch_dependencies(&mut self) {
        let from_snapshot = self
            .snapshot
            .iter()
            .flat_map(|s| s.workloads.values())
            .flat_map(|w| w.expected_instances.iter());
        let from_books = self
            .observed
            .books
            .values()
            .flat_map(|b| b.expected_instances.iter());
        let wanted: BTreeSet<(String, String)> = from_snapshot
            .chain(from_books)
            .filter(|(_, id)| id.agent != self.config.name)
            .map(|(name, id)| (id.agent.clone(), name.clone()))
            .collect();
        if wanted == self.watched_peers {
            return;
        }
        for (agent, workload) in wanted.difference(&self.watched_peers) {
            let topic = self.config.topics.workload_state(agent, workload);
            if let Err(error) = self.session.subscribe(&topic).await {
                tracing::warn!(%topic, %error, "cannot watch a dependency's state");
            }
        }
        for (agent, workload) in self.watched_peers.difference(&wanted) {
            let topic = self.config.topics.workload_state(agent, workload);
            if let Err(error) = self.session.unsubscribe(&topic).await {
                tracing::debug!(%topic, %error, "unsubscribe failed");
            }
            self.observed.set_peer_state(workload, agent, None);
        }
        self.watched_peers = wanted;
    }

    async fn reconcile(&mut self) {
        self.watch_dependencies().await;
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
