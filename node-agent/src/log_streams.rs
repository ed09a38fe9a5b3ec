//! The agent's log streams: who asked for which, until when, and how many there may be.
//!
//! Issue 14 point 4: `follow` streams used to outlive their requesters, one `podman logs -f`
//! each, forever. Here every stream belongs to a request keyed by (client id, request id) and
//! ends when the requester stops renewing its lease ([`LOG_LEASE`]), cancels it, or podman's
//! output ends; a stream without `follow` ends after [`NON_FOLLOW_MAX_DURATION`] at the latest.
//! Caps on streams per agent and per client refuse a request as a whole, touching nothing else.
//!
//! The rules ([`admission`], [`lease_end`], [`Leases`]) are plain bookkeeping over
//! `tokio::time::Instant`, unit-tested with a paused clock. [`LogStreams`] adds the tasks: one
//! per stream (`log_pump.rs`), told to stop through a oneshot, so each stream publishes its own
//! `stopped` after its last line. It never looks at the snapshot: logs are read-only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ank_schemas::{ClientId, LogEvent, LogOp, LogRequest, RefusalReason, StopReason, LOG_LEASE};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::dispatch::Runtimes;
use crate::log_pump::{self, StreamJob};
use crate::observed::InstanceTarget;
use crate::publish::LogPublisher;
use crate::runtime::LogOptions;

/// The default cap on concurrent streams (podman processes) of one agent.
pub const DEFAULT_MAX_STREAMS: usize = 32;
/// The default cap on concurrent streams of one client on one agent.
pub const DEFAULT_MAX_STREAMS_PER_CLIENT: usize = 8;
/// The longest a stream without `follow` may run: its podman is killed after this.
pub const NON_FOLLOW_MAX_DURATION: Duration = Duration::from_secs(120);
/// How long the agent waits at shutdown for streams to publish their `stopped`.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The caps on log streams of one agent (agent config: `--max-log-streams…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamCaps {
    /// Concurrent streams of the agent, all clients together.
    pub per_agent: usize,
    /// Concurrent streams of one client.
    pub per_client: usize,
}

impl Default for StreamCaps {
    fn default() -> Self {
        Self {
            per_agent: DEFAULT_MAX_STREAMS,
            per_client: DEFAULT_MAX_STREAMS_PER_CLIENT,
        }
    }
}

/// A request's key: (client id, request id). Only the same client id reaches its requests.
pub type RequestKey = (ClientId, String);

/// Whether `wanted` more streams fit beside `total` running ones, `of_client` of them the
/// requester's. Refusals say which cap and its value.
pub fn admission(
    caps: StreamCaps,
    total: usize,
    of_client: usize,
    wanted: usize,
) -> Result<(), (RefusalReason, String)> {
    if total + wanted > caps.per_agent {
        return Err((
            RefusalReason::AgentLimit,
            format!(
                "the agent streams {total} of at most {} logs; {wanted} more do not fit",
                caps.per_agent
            ),
        ));
    }
    if of_client + wanted > caps.per_client {
        return Err((
            RefusalReason::ClientLimit,
            format!(
                "this client has {of_client} of at most {} log streams on the agent; {wanted} more do not fit",
                caps.per_client
            ),
        ));
    }
    Ok(())
}

/// When a stream opened or renewed at `now` ends unless renewed: a lease for `follow`, a hard
/// bound otherwise.
pub fn lease_end(follow: bool, now: Instant) -> Instant {
    now + if follow {
        LOG_LEASE
    } else {
        NON_FOLLOW_MAX_DURATION
    }
}

/// One open request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lease {
    follow: bool,
    until: Instant,
    /// Instances whose stream still runs.
    running: Vec<String>,
    /// Told to stop (cancel, expiry, shutdown): no renewal revives it.
    stopping: bool,
}

/// What [`Leases::open`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// The request is new: start its streams.
    New,
    /// It was open already (a redelivery): start nothing.
    AlreadyOpen,
}

/// The bookkeeping of open requests: counts, leases, expiry. No tasks, no I/O.
#[derive(Debug, Default)]
pub struct Leases {
    caps: StreamCaps,
    open: BTreeMap<RequestKey, Lease>,
}

impl Leases {
    /// No request open yet.
    pub fn new(caps: StreamCaps) -> Self {
        Self {
            caps,
            open: BTreeMap::new(),
        }
    }

    /// Streams running now, all clients.
    pub fn total(&self) -> usize {
        self.open.values().map(|l| l.running.len()).sum()
    }

    /// Streams running now for `client`.
    pub fn of_client(&self, client: &ClientId) -> usize {
        self.open
            .iter()
            .filter(|((c, _), _)| c == client)
            .map(|(_, l)| l.running.len())
            .sum()
    }

    /// Opens `key` with one stream per instance, or says why not. A key that is open already
    /// changes nothing: QoS 1 may deliver the same request twice.
    pub fn open(
        &mut self,
        key: &RequestKey,
        follow: bool,
        instances: Vec<String>,
        now: Instant,
    ) -> Result<Opened, (RefusalReason, String)> {
        if self.open.contains_key(key) {
            return Ok(Opened::AlreadyOpen);
        }
        admission(
            self.caps,
            self.total(),
            self.of_client(&key.0),
            instances.len(),
        )?;
        self.open.insert(
            key.clone(),
            Lease {
                follow,
                until: lease_end(follow, now),
                running: instances,
                stopping: false,
            },
        );
        Ok(Opened::New)
    }

    /// Extends a `follow` request's lease from `now`; false if there is none to extend.
    pub fn renew(&mut self, key: &RequestKey, now: Instant) -> bool {
        match self.open.get_mut(key) {
            Some(lease) if lease.follow && !lease.stopping => {
                lease.until = lease_end(true, now);
                true
            }
            _ => false,
        }
    }

    /// Marks `key` as stopping and returns its running instances (empty if it is not open or
    /// already stopping).
    pub fn stop(&mut self, key: &RequestKey) -> Vec<String> {
        match self.open.get_mut(key) {
            Some(lease) if !lease.stopping => {
                lease.stopping = true;
                lease.running.clone()
            }
            _ => Vec::new(),
        }
    }

    /// The requests whose lease ended by `now`, with the reason to give and their running
    /// instances; they are marked stopping, as by [`Leases::stop`].
    pub fn expire(&mut self, now: Instant) -> Vec<(RequestKey, StopReason, Vec<String>)> {
        self.open
            .iter_mut()
            .filter(|(_, l)| !l.stopping && l.until <= now)
            .map(|(k, l)| {
                l.stopping = true;
                let reason = if l.follow {
                    StopReason::LeaseExpired
                } else {
                    StopReason::Limit
                };
                (k.clone(), reason, l.running.clone())
            })
            .collect()
    }

    /// The next time [`Leases::expire`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.open
            .values()
            .filter(|l| !l.stopping)
            .map(|l| l.until)
            .min()
    }

    /// One stream ended; the request closes with its last stream.
    pub fn finished(&mut self, key: &RequestKey, instance: &str) {
        if let Some(lease) = self.open.get_mut(key) {
            lease.running.retain(|i| i != instance);
            if lease.running.is_empty() {
                self.open.remove(key);
            }
        }
    }

    /// Every open request.
    pub fn keys(&self) -> Vec<RequestKey> {
        self.open.keys().cloned().collect()
    }
}

/// What a stream task reports when it ended.
#[derive(Debug)]
pub struct StreamDone {
    key: RequestKey,
    instance: String,
}

/// The owner of the agent's log streams: [`Leases`] plus one task per stream.
pub struct LogStreams {
    leases: Leases,
    stops: BTreeMap<(RequestKey, String), oneshot::Sender<StopReason>>,
    tasks: JoinSet<Option<StreamDone>>,
    runtimes: Arc<Runtimes>,
    publisher: LogPublisher,
}

impl LogStreams {
    /// No stream yet; streams read through `runtimes` and publish through `publisher`.
    pub fn new(caps: StreamCaps, runtimes: Arc<Runtimes>, publisher: LogPublisher) -> Self {
        Self {
            leases: Leases::new(caps),
            stops: BTreeMap::new(),
            tasks: JoinSet::new(),
            runtimes,
            publisher,
        }
    }

    /// Acts on one message of the request topic. `target` finds a local instance by id.
    pub fn on_request(
        &mut self,
        request: LogRequest,
        target: impl Fn(&str) -> Option<InstanceTarget>,
    ) {
        if let Err(error) = request.validate() {
            // The client id is valid (it decoded): there is a topic to answer on.
            self.refuse(&request, RefusalReason::Invalid, error.to_string());
            return;
        }
        let key = (request.client_id.clone(), request.id.clone());
        match request.op {
            LogOp::Renew => {
                if !self.leases.renew(&key, Instant::now()) {
                    tracing::debug!(client = %key.0, id = %key.1, "renewal of no open stream");
                }
            }
            LogOp::Cancel => self.stop(&key, StopReason::Cancelled),
            LogOp::Open => self.open(request, key, target),
        }
    }

    fn open(
        &mut self,
        request: LogRequest,
        key: RequestKey,
        target: impl Fn(&str) -> Option<InstanceTarget>,
    ) {
        let mut instances: Vec<String> = request
            .instance_ids
            .iter()
            .map(ToString::to_string)
            .collect();
        instances.sort();
        instances.dedup();
        match self
            .leases
            .open(&key, request.follow, instances, Instant::now())
        {
            Ok(Opened::New) => {}
            Ok(Opened::AlreadyOpen) => {
                tracing::debug!(client = %key.0, id = %key.1, "log request delivered again");
                return;
            }
            Err((reason, message)) => {
                tracing::info!(client = %key.0, id = %key.1, %message, "log request refused");
                self.refuse(&request, reason, message);
                return;
            }
        }
        let accepted = LogEvent::Accepted {
            request_id: key.1.clone(),
            instance_ids: request.instance_ids.clone(),
        };
        self.announce(&key.0, accepted);
        let options = LogOptions {
            follow: request.follow,
            since: request.since.clone(),
            until: request.until.clone(),
            tail: request.tail.and_then(|t| u64::try_from(t).ok()),
        };
        for id in &request.instance_ids {
            let instance = id.to_string();
            if self.stops.contains_key(&(key.clone(), instance.clone())) {
                continue; // named twice: one stream
            }
            let (stop_tx, stop_rx) = oneshot::channel();
            self.stops.insert((key.clone(), instance.clone()), stop_tx);
            let job = StreamJob {
                runtimes: Arc::clone(&self.runtimes),
                publisher: self.publisher.clone(),
                client: key.0.clone(),
                request_id: key.1.clone(),
                instance_id: id.clone(),
                target: target(&instance),
                options: options.clone(),
            };
            let key = key.clone();
            self.tasks.spawn(async move {
                log_pump::run(job, stop_rx).await;
                Some(StreamDone { key, instance })
            });
        }
    }

    fn refuse(&mut self, request: &LogRequest, reason: RefusalReason, message: String) {
        let event = LogEvent::Refused {
            request_id: request.id.chars().take(64).collect(),
            reason,
            message,
        };
        self.announce(&request.client_id, event);
    }

    /// Publishes one event about a whole request, from a task (publishing waits).
    fn announce(&mut self, client: &ClientId, event: LogEvent) {
        let publisher = self.publisher.clone();
        let client = client.clone();
        self.tasks.spawn(async move {
            publisher.event(&client, &event).await;
            None
        });
    }

    fn stop(&mut self, key: &RequestKey, reason: StopReason) {
        let instances = self.leases.stop(key);
        self.tell(key, instances, reason);
    }

    /// Tells the tasks of `instances` of `key` to stop with `reason`.
    fn tell(&mut self, key: &RequestKey, instances: Vec<String>, reason: StopReason) {
        for instance in instances {
            if let Some(tx) = self.stops.remove(&(key.clone(), instance)) {
                // The task may have ended on its own meanwhile; then there is nothing to stop.
                let _ = tx.send(reason);
            }
        }
    }

    /// Ends every stream whose lease ran out by now.
    pub fn expire(&mut self) {
        for (key, reason, instances) in self.leases.expire(Instant::now()) {
            tracing::info!(client = %key.0, id = %key.1, ?reason, "log stream ends");
            self.tell(&key, instances, reason);
        }
    }

    /// When [`LogStreams::expire`] should run next.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.leases.next_deadline()
    }

    /// Whether any task runs (guards [`LogStreams::join_next`] in a `select!`).
    pub fn is_busy(&self) -> bool {
        !self.tasks.is_empty()
    }

    /// Waits for the next task to end and books it.
    pub async fn join_next(&mut self) {
        match self.tasks.join_next().await {
            Some(Ok(Some(done))) => {
                self.stops
                    .remove(&(done.key.clone(), done.instance.clone()));
                self.leases.finished(&done.key, &done.instance);
            }
            Some(Ok(None)) | None => {}
            Some(Err(error)) => tracing::error!(%error, "a log stream task panicked"),
        }
    }

    /// Stops every stream (reason `shutdown`) and gives them a moment to say so.
    pub async fn shutdown(&mut self) {
        for key in self.leases.keys() {
            self.stop(&key, StopReason::Shutdown);
        }
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while self.tasks.join_next().await.is_some() {}
        });
        if drained.await.is_err() {
            self.tasks.abort_all();
        }
    }
}

#[cfg(test)]
#[path = "log_streams_tests.rs"]
mod tests;
