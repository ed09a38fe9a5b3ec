//! Reading retained state completely, once ([`Session::read_retained`]) or as a live view
//! ([`Session::watch_retained`]).
//!
//! MQTT has no "end of retained messages" signal, so the reader subscribes (QoS 1), then publishes
//! a marker to its private `{p}/sync/{clientId}` topic, subscribed too. A broker handles one
//! client's packets in order, so when the marker comes back every retained message matched by the
//! earlier SUBSCRIBE has been delivered.
//!
//! Each read or watch runs on its **own MQTT connection** (client id `{identity}.r{random}`), not
//! on the caller's session. MQTT re-delivers retained messages to every matching subscription of a
//! client, and a 3.1.1 message does not say which subscription it came from; on a shared
//! connection, a reader's snapshot and the session's own subscriptions would see each other's
//! retained copies. A separate connection costs one TCP handshake per read and keeps both clean.
//!
//! A caller whose session exists only for the read, or whose own subscriptions never overlap the
//! filters (the one-shot `ank` commands: their only other subscription is their reply topic),
//! saves that handshake with [`Session::connect_with_watch`] and [`Session::read_retained_once`]:
//! one connection carries the watch and, for the former, the caller's requests (issue 17).
//!
//! Brokers do not store empty retained payloads (an empty retained publish clears the topic), so
//! cleared topics never appear in a snapshot; a live update with an empty payload means "removed".

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::BusError;
use crate::options::ConnectOptions;
use crate::session::{Incoming, Message, Session, SessionEvent};
use crate::topic_match::topic_matches;

/// What a [`Watch`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// Every retained message of the filters, sorted by topic: first after the watch starts, and
    /// again after every reconnect. Replace the whole view with it (topics missing from it are
    /// gone).
    Snapshot(Vec<Message>),
    /// A change after the last snapshot. An empty payload means the topic was cleared.
    Update(Message),
    /// The watch's connection to the broker broke; it reconnects by itself and then delivers a
    /// fresh [`WatchEvent::Snapshot`]. Until then the view may be stale: say so (issue 14).
    Disconnected {
        /// What broke, as the MQTT client reported it.
        reason: String,
    },
}

/// A live view of retained topics on a dedicated connection. Dropping it drops that connection;
/// [`Watch::close`] disconnects cleanly.
#[derive(Debug)]
pub struct Watch {
    events: mpsc::UnboundedReceiver<WatchEvent>,
    session: Option<Session>,
    task: Option<JoinHandle<()>>,
}

impl Watch {
    /// The next snapshot or update; `None` when the watch has ended.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        self.events.recv().await
    }

    /// The next snapshot or update if one has already arrived, without waiting: lets a reader
    /// apply a burst of updates before it recomputes anything.
    pub fn try_next(&mut self) -> Option<WatchEvent> {
        self.events.try_recv().ok()
    }

    /// Ends the watch and its connection with a clean DISCONNECT.
    pub async fn close(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(session) = self.session.take() {
            session.shutdown(None).await;
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Session {
    /// Every retained message currently stored for `filters` (MQTT filters, wildcards allowed),
    /// deduplicated and sorted by topic; waits at most `read_timeout` of the options for the end
    /// marker. Runs on a short-lived connection of its own (see the module docs).
    pub async fn read_retained(&self, filters: &[String]) -> Result<Vec<Message>, BusError> {
        let watch = self.watch_retained(filters).await?;
        first_snapshot(watch, self.shared.opts.read_timeout).await
    }

    /// A live view of `filters`: a [`WatchEvent::Snapshot`] once every retained message has
    /// arrived, then [`WatchEvent::Update`]s, and a fresh snapshot after every reconnect. Runs on
    /// a connection of its own that lives as long as the [`Watch`].
    pub async fn watch_retained(&self, filters: &[String]) -> Result<Watch, BusError> {
        let mut opts = self.shared.opts.clone();
        // Another connection of the same identity (`<identity>.r<random>`), so a broker that
        // binds client ids to logins accepts it (issue 13).
        let identity = opts
            .client_id
            .split_once('.')
            .map_or(opts.client_id.as_str(), |(identity, _)| identity);
        opts.client_id = format!("{identity}.r{:08x}", rand::random::<u32>());
        let (_, watch) = Session::connect_with_watch(opts, filters).await?;
        Ok(watch)
    }

    /// Connects a session whose event stream feeds a [`Watch`] of `filters`: one connection for
    /// both. The session still sends requests and receives their replies (those never reach the
    /// event stream); it must not subscribe to anything overlapping `filters` (see the module
    /// docs). [`Watch::close`] ends the session too.
    pub async fn connect_with_watch(
        opts: ConnectOptions,
        filters: &[String],
    ) -> Result<(Session, Watch), BusError> {
        let client_id = ank_schemas::ClientId::new(&opts.client_id)
            .map_err(|e| BusError::InvalidClientId(e.shown))?;
        let sync = opts.topics.sync(&client_id);
        let (session, mut incoming) = Session::connect(opts, None).await?;
        // The connect's own `Connected` is always the first event; the first round starts below.
        let _ = incoming.try_recv();
        // The sync topic first: the marker is published only after the whole packet.
        let all: Vec<String> = std::iter::once(sync.clone())
            .chain(filters.iter().cloned())
            .collect();
        session.subscribe_all(&all).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let round = Round {
            session: session.clone(),
            sync,
            filters: filters.to_vec(),
            marker: None,
            collected: BTreeMap::new(),
        };
        let task = tokio::spawn(round.run(incoming, tx));
        let watch = Watch {
            events: rx,
            session: Some(session.clone()),
            task: Some(task),
        };
        Ok((session, watch))
    }

    /// [`Session::read_retained`] for a caller without a session: connects with `opts`, reads,
    /// disconnects. One connection instead of two (the one-shot `ank get`).
    pub async fn read_retained_once(
        opts: ConnectOptions,
        filters: &[String],
    ) -> Result<Vec<Message>, BusError> {
        let after = opts.read_timeout;
        let (_, watch) = Session::connect_with_watch(opts, filters).await?;
        first_snapshot(watch, after).await
    }
}

/// The watch's first snapshot, waiting at most `after`; closes the watch (and its connection).
async fn first_snapshot(mut watch: Watch, after: Duration) -> Result<Vec<Message>, BusError> {
    let snapshot = tokio::time::timeout(after, async {
        loop {
            match watch.next().await {
                Some(WatchEvent::Snapshot(snapshot)) => return Ok(snapshot),
                Some(WatchEvent::Update(_) | WatchEvent::Disconnected { .. }) => {}
                None => return Err(BusError::Closed),
            }
        }
    })
    .await;
    watch.close().await;
    snapshot.unwrap_or(Err(BusError::Timeout { after }))
}

/// The reader's state: collecting a snapshot until `marker` returns, live otherwise.
struct Round {
    session: Session,
    sync: String,
    filters: Vec<String>,
    /// The marker of the snapshot being collected; `None` while live.
    marker: Option<String>,
    collected: BTreeMap<String, Message>,
}

impl Round {
    async fn run(mut self, mut incoming: Incoming, tx: mpsc::UnboundedSender<WatchEvent>) {
        self.start().await;
        while let Some(event) = incoming.recv().await {
            let out = match event {
                SessionEvent::Connected { .. } => {
                    // Subscriptions were replayed before this event: re-read everything.
                    self.start().await;
                    None
                }
                SessionEvent::Disconnected { reason } => Some(WatchEvent::Disconnected { reason }),
                SessionEvent::Message(message) => self.on_message(message),
            };
            if let Some(out) = out {
                if tx.send(out).is_err() {
                    return;
                }
            }
        }
    }

    async fn start(&mut self) {
        let marker = format!("{:016x}", rand::random::<u64>());
        self.collected.clear();
        self.marker = Some(marker.clone());
        if let Err(error) = self
            .session
            .publish(&self.sync, marker.into_bytes(), false)
            .await
        {
            tracing::warn!(%error, "retained reader: marker not sent");
        }
    }

    fn on_message(&mut self, message: Message) -> Option<WatchEvent> {
        if message.topic == self.sync {
            // A marker of an earlier round (lost connection) is stale: wait for the current one.
            if self.marker.as_deref().map(str::as_bytes) == Some(&message.payload[..]) {
                self.marker = None;
                let snapshot = std::mem::take(&mut self.collected).into_values().collect();
                return Some(WatchEvent::Snapshot(snapshot));
            }
            return None;
        }
        if !self
            .filters
            .iter()
            .any(|f| topic_matches(f, &message.topic))
        {
            return None;
        }
        if self.marker.is_none() {
            return Some(WatchEvent::Update(message));
        }
        // Overlapping filters deliver a topic twice; a live change may overtake: last one wins.
        if message.payload.is_empty() {
            self.collected.remove(&message.topic);
        } else {
            self.collected.insert(message.topic.clone(), message);
        }
        None
    }
}
