//! A passive MQTT subscriber that stamps every message with its arrival time, so that a
//! measurement can split a latency into the hops it can see on the bus (request sent, snapshot
//! published, response sent, state published).
//!
//! A task reads the session at once and stamps there: stamping when the measurement gets round to
//! a message would add the measurement's own delays.

use std::time::{Duration, Instant, SystemTime};

use ank_bus::{ConnectOptions, Session, SessionEvent};
use ank_schemas::Topics;
use anyhow::{bail, Context, Result};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A message and when it arrived.
#[derive(Debug, Clone)]
pub struct Stamped {
    /// Arrival, monotonic (for durations within the harness).
    pub at: Instant,
    /// Arrival, wall clock (to compare with times other processes record, e.g. podman's).
    pub wall: SystemTime,
    /// The topic.
    pub topic: String,
    /// The payload.
    pub payload: Vec<u8>,
}

/// A subscriber whose subscriptions are live once [`Tap::open`] returns.
pub struct Tap {
    session: Session,
    rx: mpsc::UnboundedReceiver<Stamped>,
    task: JoinHandle<()>,
}

impl Tap {
    /// Connects as `client_id`, subscribes to `filters` and waits until the broker has them: it
    /// publishes a marker to its own sync topic and waits for it to come back (a broker handles one
    /// connection's packets in order). Retained messages matching the filters arrive first.
    pub async fn open(
        url: &str,
        topics: &Topics,
        client_id: &str,
        filters: &[String],
    ) -> Result<Tap> {
        let mut opts = ConnectOptions::from_url(url, client_id)?;
        opts.topics = topics.clone();
        let (session, mut incoming) = Session::connect(opts, None)
            .await
            .with_context(|| format!("connecting the tap {client_id} to {url}"))?;
        let sync = topics.sync(session.client());
        for filter in filters.iter().chain(std::iter::once(&sync)) {
            session.subscribe(filter).await?;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(event) = incoming.recv().await {
                if let SessionEvent::Message(m) = event {
                    let stamped = Stamped {
                        at: Instant::now(),
                        wall: SystemTime::now(),
                        topic: m.topic,
                        payload: m.payload,
                    };
                    if tx.send(stamped).is_err() {
                        break;
                    }
                }
            }
        });
        let mut tap = Tap { session, rx, task };
        tap.session.publish(&sync, b"ready".to_vec(), false).await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        if tap.wait_for(deadline, |m| m.topic == sync).await.is_none() {
            bail!("the tap's subscriptions were not confirmed within 10 s");
        }
        Ok(tap)
    }

    /// The next message, or `None` at `deadline`.
    pub async fn next(&mut self, deadline: Instant) -> Option<Stamped> {
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::timeout(left, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Messages until one satisfies `pred` (returned) or `deadline` passes (`None`); the others
    /// are dropped.
    pub async fn wait_for(
        &mut self,
        deadline: Instant,
        mut pred: impl FnMut(&Stamped) -> bool,
    ) -> Option<Stamped> {
        while let Some(m) = self.next(deadline).await {
            if pred(&m) {
                return Some(m);
            }
        }
        None
    }

    /// Every message already received, without waiting.
    pub fn drain(&mut self) -> Vec<Stamped> {
        let mut out = Vec::new();
        while let Ok(m) = self.rx.try_recv() {
            out.push(m);
        }
        out
    }

    /// Disconnects.
    pub async fn close(self) {
        self.session.shutdown(None).await;
        self.task.abort();
    }
}
