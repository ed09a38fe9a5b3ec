//! One MQTT session: the handle callers clone, and the stream of what arrives.
//!
//! The handle only queues requests; the owned event-loop task (`event_loop.rs`) talks to the
//! broker, reconnects and replays subscriptions and the birth. Payloads are bytes: what they mean
//! is the caller's business.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ank_schemas::ClientId;
use rumqttc::{AsyncClient, ClientError, QoS, SubscribeFilter};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use crate::birth::Birth;
use crate::error::BusError;
use crate::event_loop;
use crate::options::ConnectOptions;
use crate::packet::{check_publish, shown, MAX_TOPIC_BYTES};
use crate::request::Replies;

/// How long [`Session::shutdown`] waits for the offline birth and DISCONNECT to be written before
/// it drops the connection anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A message received on a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic it was published to.
    pub topic: String,
    /// The payload, as published. Empty on a retained topic means "cleared".
    pub payload: Vec<u8>,
    /// Set when the broker sent it from its retained store (on subscribe), not live.
    pub retain: bool,
}

/// What a session reports, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A CONNACK arrived (also for the first connect). The subscriptions and the birth have been
    /// queued again before any other request, and retained messages will be re-delivered: rebuild
    /// views from them, and republish state that must survive a broker restart.
    Connected {
        /// Whether the broker kept a session (never, today: sessions are clean).
        session_present: bool,
    },
    /// A message on one of the session's subscriptions (replies to [`Session::request`] are not
    /// reported here).
    Message(Message),
    /// The connection was lost; the session reconnects on its own with jittered delays.
    /// Publishes queued or unacknowledged at that moment are sent again after the reconnect.
    Disconnected {
        /// Why, as reported by the MQTT client.
        reason: String,
    },
}

/// The receiving end of a session. Dropping it is fine: events are then discarded.
///
/// Unbounded on purpose: blocking the event loop on a slow reader would stop keep-alives and get
/// the client disconnected. Read it promptly.
#[derive(Debug)]
pub struct Incoming {
    rx: mpsc::UnboundedReceiver<SessionEvent>,
}

impl Incoming {
    /// The next event; `None` once the session has ended.
    pub async fn recv(&mut self) -> Option<SessionEvent> {
        self.rx.recv().await
    }

    /// Whether no event is waiting right now (the consumer is keeping up).
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// The next event if one is already there.
    pub fn try_recv(&mut self) -> Option<SessionEvent> {
        self.rx.try_recv().ok()
    }
}

/// State shared by the handles and the event-loop task. The `std` mutexes guard short critical
/// sections without `.await`.
pub(crate) struct Shared {
    pub(crate) client: AsyncClient,
    pub(crate) opts: ConnectOptions,
    /// `opts.client_id`, validated once at connect: it names this client's reply and sync topics.
    pub(crate) client_id: ClientId,
    /// Every filter subscribed so far, replayed after every CONNACK.
    pub(crate) subscriptions: Mutex<BTreeSet<String>>,
    pub(crate) birth: Mutex<Option<Birth>>,
    pub(crate) replies: Replies,
    pub(crate) connected: AtomicBool,
    pub(crate) shutting_down: AtomicBool,
    /// Ends the event loop at once (wherever it is waiting), without a DISCONNECT.
    pub(crate) stop: Notify,
}

/// Owns the event-loop task: when the last [`Session`] clone goes away without
/// [`Session::shutdown`], the task is aborted, which drops the TCP connection without DISCONNECT,
/// exactly like a crash (the broker fires the will).
struct TaskGuard {
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if let Ok(mut task) = self.task.lock() {
            if let Some(task) = task.take() {
                task.abort();
            }
        }
    }
}

/// A cheap-to-clone handle on one MQTT session (MQTT 3.1.1, clean session, QoS 1).
#[derive(Clone)]
pub struct Session {
    pub(crate) shared: Arc<Shared>,
    guard: Arc<TaskGuard>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("url", &self.shared.opts.url())
            .field("client_id", &self.shared.opts.client_id)
            .finish()
    }
}

impl Session {
    /// Connects, waiting at most `opts.connect_timeout` for the first CONNACK; then spawns the
    /// event loop that keeps the session alive. With a `birth`, its `will` is registered as the
    /// retained last will and its `online` payload is published retained after every CONNACK.
    ///
    /// Fails with [`BusError::Unreachable`] (network, TLS, timeout) or [`BusError::Rejected`]
    /// (the broker said no); it never retries the first connect, so a wrong URL fails fast.
    pub async fn connect(
        opts: ConnectOptions,
        birth: Option<Birth>,
    ) -> Result<(Session, Incoming), BusError> {
        // `client_id` is a public field: check it again, it becomes a topic level.
        let client_id =
            ClientId::new(&opts.client_id).map_err(|e| BusError::InvalidClientId(e.shown))?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (client, eventloop) = event_loop::first_connect(&opts, birth.as_ref()).await?;
        let shared = Arc::new(Shared {
            client,
            replies: Replies::new(opts.topics.responses(&client_id)),
            client_id,
            opts,
            subscriptions: Mutex::new(BTreeSet::new()),
            birth: Mutex::new(birth),
            connected: AtomicBool::new(true),
            shutting_down: AtomicBool::new(false),
            stop: Notify::new(),
        });
        // Sessions are clean, so the broker never has one to resume.
        let _ = events_tx.send(SessionEvent::Connected {
            session_present: false,
        });
        let task = tokio::spawn(event_loop::run(eventloop, shared.clone(), events_tx));
        let session = Session {
            shared,
            guard: Arc::new(TaskGuard {
                task: Mutex::new(Some(task)),
            }),
        };
        Ok((session, Incoming { rx: events_rx }))
    }

    /// The options this session was opened with.
    pub fn options(&self) -> &ConnectOptions {
        &self.shared.opts
    }

    /// The MQTT client id of this session.
    pub fn client_id(&self) -> &str {
        self.shared.client_id.as_str()
    }

    /// The MQTT client id of this session, as the validated type topics are built from.
    pub fn client(&self) -> &ClientId {
        &self.shared.client_id
    }

    /// Whether the session is connected right now.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Subscribes to `filter` with QoS 1 and remembers it: it is subscribed again after every
    /// reconnect. Returns once queued; the broker handles it before anything this session queues
    /// later (MQTT keeps a connection's packets in order).
    pub async fn subscribe(&self, filter: &str) -> Result<(), BusError> {
        if !valid_filter(filter) {
            return Err(BusError::InvalidTopic(shown(filter)));
        }
        lock(&self.shared.subscriptions).insert(filter.to_owned());
        self.shared
            .client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .map_err(closed)
    }

    /// [`Session::subscribe`] of several filters in as few SUBSCRIBE packets as possible (at most 64
    /// filters each), in order: a broker answers each packet on its own, so a reader
    /// of six filters waits for one SUBACK instead of six (issue 17, `ank get`). Nothing is sent
    /// if any filter is invalid.
    pub async fn subscribe_all(&self, filters: &[String]) -> Result<(), BusError> {
        if let Some(bad) = filters.iter().find(|f| !valid_filter(f)) {
            return Err(BusError::InvalidTopic(shown(bad)));
        }
        lock(&self.shared.subscriptions).extend(filters.iter().cloned());
        for chunk in filters.chunks(event_loop::FILTERS_PER_SUBSCRIBE) {
            let filters = chunk
                .iter()
                .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
            self.shared
                .client
                .subscribe_many(filters)
                .await
                .map_err(closed)?;
        }
        Ok(())
    }

    /// Unsubscribes from `filter` and forgets it (it is not subscribed again after a reconnect).
    /// Messages already on their way may still arrive.
    pub async fn unsubscribe(&self, filter: &str) -> Result<(), BusError> {
        lock(&self.shared.subscriptions).remove(filter);
        self.shared.client.unsubscribe(filter).await.map_err(closed)
    }

    /// Publishes `payload` to `topic` with QoS 1. Returns once queued in the session, in order with
    /// this session's other requests, not when the broker acknowledged it. A publish queued while
    /// the connection is down, or unacknowledged when it broke, is sent after the reconnect (at
    /// least once: a duplicate is possible); it is lost only if the process ends first.
    ///
    /// A publish the broker would answer by closing the connection is refused here and never
    /// sent ([`BusError::InvalidTopic`], [`BusError::TooLarge`] over
    /// [`ConnectOptions::publish_packet_limit`]), so
    /// one bad topic or payload cannot cost the session (issue 14).
    pub async fn publish(
        &self,
        topic: &str,
        payload: Vec<u8>,
        retain: bool,
    ) -> Result<(), BusError> {
        check_publish(
            topic,
            payload.len(),
            self.shared.opts.publish_packet_limit(),
        )?;
        self.shared
            .client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .map_err(closed)
    }

    /// Replaces the `online` payload of the birth (e.g. an agent's status changed) and publishes it
    /// now, retained; later reconnects republish this one. Does nothing for a session without a
    /// birth.
    pub async fn set_birth(&self, online: Vec<u8>) {
        let topic = {
            let mut birth = lock(&self.shared.birth);
            match birth.as_mut() {
                Some(birth) => {
                    birth.online.clone_from(&online);
                    birth.topic.clone()
                }
                None => {
                    tracing::warn!("set_birth on a session without a birth: ignored");
                    return;
                }
            }
        };
        if self.publish(&topic, online, true).await.is_err() {
            tracing::warn!(%topic, "birth not published: the session is closed");
        }
    }

    /// Ends the session cleanly: publishes `offline` (retained) on the birth topic if given, sends
    /// DISCONNECT so that the broker does not fire the will, and waits for the event loop to end.
    /// When the connection is down, or the grace period passes, the connection is just dropped.
    pub async fn shutdown(self, offline: Option<Vec<u8>>) {
        let shared = &self.shared;
        shared.shutting_down.store(true, Ordering::SeqCst);
        let mut clean = false;
        if shared.connected.load(Ordering::SeqCst) {
            let birth_topic = lock(&shared.birth).as_ref().map(|b| b.topic.clone());
            let queued = match (offline, birth_topic) {
                (Some(offline), Some(topic)) => shared
                    .client
                    .try_publish(topic, QoS::AtLeastOnce, true, offline)
                    .is_ok(),
                (Some(_), None) => {
                    tracing::warn!("shutdown with an offline payload but no birth topic");
                    true
                }
                (None, _) => true,
            };
            clean = queued && shared.client.try_disconnect().is_ok();
        }
        if !clean {
            shared.stop.notify_one();
        }
        let task = lock(&self.guard.task).take();
        if let Some(mut task) = task {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                tracing::warn!(
                    "the MQTT session did not end within {SHUTDOWN_GRACE:?}: dropping it"
                );
                shared.stop.notify_one();
                let _ = task.await;
            }
        }
    }

    /// Drops the connection without DISCONNECT and ends the session, as a crash would: the broker
    /// publishes the will. For tests and for a process that must go down at once.
    pub fn abort(self) {
        if let Some(task) = lock(&self.guard.task).take() {
            task.abort();
        }
    }
}

/// Locks a mutex, recovering it if a panicking thread poisoned it (the data stay consistent: every
/// critical section is a single insert, clone or replace).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn closed(_: ClientError) -> BusError {
    BusError::Closed
}

/// A subscription filter: non-empty, short enough to encode, no NUL, `#` only as a whole last
/// level, `+` only as a whole level.
fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > MAX_TOPIC_BYTES || filter.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, level)| match *level {
        "#" => i == levels.len() - 1,
        "+" => true,
        other => !other.contains(['+', '#']),
    })
}

#[cfg(test)]
mod tests {
    use super::valid_filter;

    #[test]
    fn filters_follow_the_mqtt_rules() {
        for good in [
            "a",
            "a/b",
            "a/+",
            "+",
            "#",
            "a/#",
            "+/+/c",
            "ank/v1/agents/+/status",
        ] {
            assert!(valid_filter(good), "{good}");
        }
        for bad in ["", "a/#/b", "a#", "a/b+", "#/a", "a+/b", "a/\0"] {
            assert!(!valid_filter(bad), "{bad}");
        }
    }
}
