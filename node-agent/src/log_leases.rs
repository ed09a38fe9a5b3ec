//! The rules of the agent's log streams, as bookkeeping without tasks or I/O: who asked for
//! which stream, until when, and how many there may be (issue 14 point 4).
//!
//! Every stream belongs to a request keyed by (client id, request id) and ends when the
//! requester stops renewing its lease ([`LOG_LEASE`]), cancels it, or podman's output ends; a
//! stream without `follow` ends after [`NON_FOLLOW_MAX_DURATION`] at the latest. Caps on streams
//! per agent and per client refuse a request as a whole, touching nothing else. Kept apart from
//! `log_streams.rs`, which runs the tasks, so the rules are unit-tested with a paused clock.

use std::collections::BTreeMap;
use std::time::Duration;

use ank_bus::{Rate, RateWindow};
use ank_schemas::{ClientId, RefusalReason, StopReason, LOG_LEASE};
use tokio::time::Instant;

/// The default cap on concurrent streams (podman processes) of one agent.
pub const DEFAULT_MAX_STREAMS: usize = 32;
/// The default cap on concurrent streams of one client on one agent.
pub const DEFAULT_MAX_STREAMS_PER_CLIENT: usize = 8;
/// The longest a stream without `follow` may run: its podman is killed after this.
pub const NON_FOLLOW_MAX_DURATION: Duration = Duration::from_secs(120);

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

/// How many streams (one `podman logs` process each) the agent starts per
/// [`STREAM_START_WINDOW`], all clients together. The caps bound how many run at once; this
/// bounds how fast a client that opens and cancels in a loop makes the agent spawn processes
/// (issue 14: every rate that outside input controls has a bound). Per agent, not per client:
/// a client id is whatever the request says.
pub const MAX_STREAM_STARTS: u32 = 64;
/// The window of [`MAX_STREAM_STARTS`].
pub const STREAM_START_WINDOW: Duration = Duration::from_secs(10);

/// The bookkeeping of open requests: counts, leases, expiry, the start rate. No tasks, no I/O.
#[derive(Debug)]
pub struct Leases {
    caps: StreamCaps,
    open: BTreeMap<RequestKey, Lease>,
    starts: RateWindow,
}

impl Default for Leases {
    fn default() -> Self {
        Self::new(StreamCaps::default())
    }
}

impl Leases {
    /// No request open yet.
    pub fn new(caps: StreamCaps) -> Self {
        Self {
            caps,
            open: BTreeMap::new(),
            starts: RateWindow::new(MAX_STREAM_STARTS, STREAM_START_WINDOW),
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
        let wanted = u32::try_from(instances.len()).unwrap_or(u32::MAX);
        if let Rate::Refused { retry_after } = self.starts.admit_many(now, wanted) {
            return Err((
                RefusalReason::RateLimit,
                format!(
                    "the agent started {MAX_STREAM_STARTS} log streams in the last {}s, its \
                     most; try again in {}s",
                    STREAM_START_WINDOW.as_secs(),
                    retry_after.as_secs().max(1)
                ),
            ));
        }
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

#[cfg(test)]
#[path = "log_leases_tests.rs"]
mod tests;
