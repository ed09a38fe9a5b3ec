//! The agent's log streams as tasks: one per stream (`log_pump.rs`), told to stop through a
//! oneshot, so each stream publishes its own `stopped` after its last line. Who may stream what
//! until when is decided by [`Leases`] (`log_leases.rs`); this module only starts, stops and
//! reaps the tasks the leases call for. It never looks at the snapshot: logs are read-only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ank_schemas::{ClientId, LogEvent, LogOp, LogRequest, RefusalReason, StopReason};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::dispatch::Runtimes;
use crate::log_leases::{Leases, Opened, RequestKey};
pub use crate::log_leases::{StreamCaps, DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_CLIENT};
use crate::log_pump::{self, StreamJob};
use crate::observed::InstanceTarget;
use crate::publish::LogPublisher;
use crate::runtime::LogOptions;

/// How long the agent waits at shutdown for streams to publish their `stopped`.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

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
