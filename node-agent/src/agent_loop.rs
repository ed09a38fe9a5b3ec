//! The select loop: one task owns all of the agent's state and waits on every input at once —
//! the MQTT session, other agents' statuses, podman events, finished operations and listings,
//! log streams and timers. Each input is handed to the part that owns it (`inbox.rs` decodes
//! bus input, `runner.rs` holds the workloads, `log_streams.rs` the log streams), then the
//! planner runs once and its reports are published. A new input source (a control interface, a
//! health check) joins the `select!` in [`run_loop`] as one more arm and feeds one of those
//! parts; nothing else needs to change.
//!
//! On shutdown the agent publishes `offline` and leaves every workload running.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use tokio::time::sleep_until;

use ank_bus::{Incoming, Session, SessionEvent, Watch, WatchEvent};

use crate::boot::Boot;
use crate::config::AgentConfig;
use crate::control_interface::{BusBackend, ControlInterfaces};
use crate::inbox::{self, Inbound};
use crate::log_streams::LogStreams;
use crate::observed::RuntimeInstance;
use crate::publish::Publisher;
use crate::reported_ends::{self, EndsRecord};
use crate::resources::{changed_noticeably, Sampler};
use crate::runner::Runner;
use crate::runtime::{EventWatcher, PodmanCli, WatchItem};

/// How long the event stream waits before it is restarted after it died.
pub const EVENTS_RETRY: Duration = Duration::from_secs(1);

/// What the loop owns besides the workloads: the bus side.
pub struct Agent {
    /// The agent's settings.
    pub config: AgentConfig,
    /// For subscriptions; publishing goes through `publisher`.
    pub session: Session,
    /// (agent, workload) of every other agent's state topic subscribed because a condition of
    /// ours names that instance: the only other states the agent believes (issue 13).
    pub watched_peers: BTreeSet<(String, String)>,
    /// The only publisher.
    pub publisher: Publisher,
    /// Log streams, with their leases and caps.
    pub logs: LogStreams,
    /// Control-interface sessions, following the snapshot (issue 15).
    pub control: ControlInterfaces<BusBackend>,
    /// The workloads, operations and listings.
    pub runner: Runner,
    /// CPU and memory for the status.
    pub sampler: Sampler,
    /// How often the session connected (a reconnect republishes our states).
    pub connects: u64,
    /// The boot to record once the runner settled after start (`boot.rs`); `None` after.
    pub boot: Option<Boot>,
    /// The ends the agent reported, kept in its folder once it settled (`reported_ends.rs`).
    pub ends_record: EndsRecord,
}

/// Runs the loop until `shutdown` completes or the session ends.
pub async fn run_loop(
    mut agent: Agent,
    mut incoming: Incoming,
    mut statuses: Watch,
    cli: PodmanCli,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut watcher = EventWatcher::spawn(cli.clone(), &agent.config.name, EVENTS_RETRY);
    let mut resync = tokio::time::interval(agent.config.resync_interval);
    let mut resources = tokio::time::interval(agent.config.resource_interval);
    let far = || Instant::now() + Duration::from_secs(3_600);

    loop {
        let list_due = agent.runner.listing_due();
        let logs_due = agent.logs.next_deadline();
        let retry_at = agent.runner.retry_at;
        tokio::select! {
            () = &mut shutdown => break,
            event = incoming.recv() => match event {
                Some(event) => agent.on_session_event(event).await,
                None => {
                    tracing::error!("the MQTT session ended");
                    break;
                }
            },
            Some(started) = agent.runner.started.recv() => agent.runner.on_create_started(started),
            Some(done) = agent.runner.ops.join_next() => match done {
                Ok(outcome) => agent.runner.on_op_done(outcome),
                Err(error) => tracing::error!(%error, "a runtime operation panicked"),
            },
            Some(done) = agent.runner.listings.join_next() => match done {
                Ok(listing) => agent.runner.on_listing(listing),
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
                    agent.runner.on_container_event(&event);
                }
                Some(WatchItem::ResyncNeeded) => agent.runner.lister.schedule(Instant::now()),
                None => {
                    tracing::warn!("the podman events watcher ended; restarting it");
                    watcher = EventWatcher::spawn(cli.clone(), &agent.config.name, EVENTS_RETRY);
                    agent.runner.lister.schedule(Instant::now());
                }
            },
            () = sleep_until(list_due.unwrap_or_else(far).into()), if list_due.is_some() => {
                agent.runner.start_listing();
            }
            _ = resync.tick() => agent.runner.lister.schedule(Instant::now()),
            () = sleep_until(retry_at.unwrap_or_else(far).into()), if retry_at.is_some() => {
                agent.runner.retry_at = None;
            }
            _ = resources.tick() => agent.sample_resources().await,
        }
        agent.reconcile().await;
        agent.record_boot();
        agent.record_ends();
    }

    tracing::info!("shutting down: workloads keep running");
    drop(watcher);
    statuses.close().await;
    agent.runner.ops.abort_all();
    agent.runner.listings.abort_all();
    agent.logs.shutdown().await;
    agent.publisher.shutdown().await;
}

impl Agent {
    async fn on_session_event(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::Connected { .. } => {
                self.connects += 1;
                if self.connects > 1 {
                    // A broker that restarted may have lost our retained states: say them again.
                    let observed = &self.runner.observed;
                    let reports: Vec<_> = observed.reported.values().cloned().collect();
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
            SessionEvent::Message(message) if self.is_own_log_stream(&message.topic) => {
                // Control interface (issue 15): the lines a workload's LogsRequest asked for.
                self.control.on_log_event(&message.payload);
            }
            SessionEvent::Message(message) if self.is_own_events(&message.topic) => {
                // Control interface (issue 15): the controller's events for subscriptions.
                self.control.on_event(&message.payload);
            }
            SessionEvent::Message(message) => {
                let decoded = inbox::decode(
                    &self.config.topics,
                    &self.config.name,
                    &self.watched_peers,
                    &message,
                );
                match decoded {
                    Some(Inbound::Snapshot(snapshot)) => {
                        self.control.on_snapshot(&snapshot);
                        self.runner.on_snapshot(snapshot);
                    }
                    Some(Inbound::PeerState {
                        agent,
                        workload,
                        state,
                    }) => self
                        .runner
                        .observed
                        .set_peer_state(&workload, &agent, state),
                    Some(Inbound::LogRequest(request)) => {
                        let instances = &self.runner.observed.instances;
                        self.logs.on_request(request, |id| {
                            instances.get(id).map(RuntimeInstance::target)
                        });
                    }
                    Some(Inbound::Tags(tags)) => self.on_tags(tags).await,
                    None => {}
                }
            }
        }
    }

    /// Takes the tags the controller set for this run (Ankaios §9: they replace the configured
    /// ones until the agent restarts); tags meant for an earlier run are ignored.
    async fn on_tags(&mut self, tags: ank_schemas::AgentTags) {
        if tags.epoch != self.publisher.status().epoch {
            tracing::debug!(
                epoch = tags.epoch,
                "tags of another run of this agent ignored"
            );
            return;
        }
        tracing::info!(count = tags.tags.len(), "tags set by the controller");
        self.publisher.update_status(|s| s.tags = tags.tags).await;
    }

    /// Whether `topic` is `{p}/agents/<this agent>/events`.
    fn is_own_events(&self, topic: &str) -> bool {
        matches!(
            self.config.topics.parse(topic),
            Some(ank_schemas::Topic::AgentEvents { agent }) if agent == self.config.name
        )
    }

    /// Whether `topic` is the log stream addressed to this agent's own client id.
    fn is_own_log_stream(&self, topic: &str) -> bool {
        matches!(
            self.config.topics.parse(topic),
            Some(ank_schemas::Topic::LogStream { client_id, .. })
                if client_id.as_str() == self.config.client_id()
        )
    }

    /// Keeps the set of agents that are not online (their workloads' states count as
    /// `AgentDisconnected` for dependencies).
    fn on_statuses(&mut self, event: WatchEvent) {
        let change = inbox::statuses(&self.config.topics, &self.config.name, event);
        let offline = &mut self.runner.observed.offline_agents;
        if change.reset {
            offline.clear();
        }
        for agent in change.online {
            offline.remove(&agent);
        }
        offline.extend(change.offline);
    }

    /// Subscribes to the state topic of every instance a condition of ours names (in the
    /// snapshot, or in the book of a workload that is leaving), and drops the others with what
    /// they said: memory and traffic stay proportional to our own snapshot, and no other
    /// participant's state is ever heard (issue 13).
    async fn watch_dependencies(&mut self) {
        let runner = &self.runner;
        let from_snapshot = runner
            .snapshot
            .iter()
            .flat_map(|s| s.workloads.values())
            .flat_map(|w| w.desired.expected_instances.iter());
        let from_books = runner
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
            self.runner.observed.set_peer_state(workload, agent, None);
        }
        self.watched_peers = wanted;
    }

    async fn reconcile(&mut self) {
        self.watch_dependencies().await;
        let Some(reports) = self.runner.plan(Instant::now()) else {
            return;
        };
        for report in &reports {
            self.publisher.workload_state(report).await;
        }
        let generation = self.runner.generation();
        if generation.is_some() && self.publisher.status().observed_generation != generation {
            self.publisher
                .update_status(|s| s.observed_generation = generation)
                .await;
        }
        self.runner.prune();
    }

    /// Records the boot once what was found at start has been adopted or replaced; from then
    /// on an ended instance counts as ours again.
    fn record_boot(&mut self) {
        if !self.runner.settled() {
            return;
        }
        let Some(boot) = self.boot.take() else {
            return;
        };
        if let Err(error) = boot.record() {
            tracing::warn!(%error, "cannot record the boot id; the next start counts as a reboot");
        }
        self.runner.observed.rebooted = false;
        self.runner.observed.reported_ends = None;
    }

    /// Keeps the reported ends in the agent's folder once it settled (before, the record of
    /// the last run is still what decides adoption, and a kill -9 then must not lose it).
    fn record_ends(&mut self) {
        if self.boot.is_some() {
            return;
        }
        let ends = reported_ends::reported_now(&self.runner.observed);
        if let Err(error) = self.ends_record.update(ends) {
            ank_bus::warn_limited!(
                "reported ends",
                %error,
                "cannot record the reported ends; after a restart ended workloads run again",
            );
        }
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
