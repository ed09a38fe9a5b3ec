//! Shared test harness: brokers on port 0 and rumqttc clients whose events arrive on a channel.
#![allow(dead_code)]

use ank_broker::{BrokerConfig, BrokerHandle};
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, EventLoop, LastWill, MqttOptions, Packet, Publish, QoS,
    SubscribeReasonCode,
};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Default deadline for anything that should happen "at once" on loopback.
pub const WAIT: Duration = Duration::from_secs(10);

/// Broker logs in test output when `RUST_LOG` is set (e.g. `RUST_LOG=mqtt5=debug`).
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// Starts an in-memory broker on 127.0.0.1:0.
pub async fn broker() -> BrokerHandle {
    init_tracing();
    ank_broker::start(BrokerConfig::for_tests())
        .await
        .expect("broker starts")
}

/// A unique name for this test process, so clients never collide by accident.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// What a client saw.
#[derive(Debug)]
pub enum Seen {
    Publish(Publish),
    SubAck(Vec<SubscribeReasonCode>),
    PubAck(u16),
    Error(String),
}

/// A connected rumqttc client; events are forwarded to `events` by a task it owns.
pub struct Client {
    pub client: AsyncClient,
    pub events: mpsc::UnboundedReceiver<Seen>,
    /// Publishes that arrived while waiting for an ack, kept for `next_publish`.
    stash: std::collections::VecDeque<Publish>,
    task: JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Options for a client of `addr` with id `id`: clean session, 30 s keep-alive.
pub fn options(addr: SocketAddr, id: &str) -> MqttOptions {
    let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(30));
    o.set_clean_session(true);
    o.set_max_packet_size(4 * 1024 * 1024, 4 * 1024 * 1024);
    o.set_inflight(100);
    o
}

/// Options with credentials.
pub fn options_as(addr: SocketAddr, id: &str, user: &str, password: &str) -> MqttOptions {
    let mut o = options(addr, id);
    o.set_credentials(user, password);
    o
}

/// Options with a retained QoS 1 will.
pub fn options_with_will(addr: SocketAddr, id: &str, topic: &str, payload: &str) -> MqttOptions {
    let mut o = options(addr, id);
    o.set_last_will(LastWill::new(topic, payload, QoS::AtLeastOnce, true));
    o
}

/// Connects and waits for a successful CONNACK; the error names the refusal.
pub async fn connect(options: MqttOptions) -> Result<Client, String> {
    let (client, mut eventloop) = AsyncClient::new(options, 50_000);
    let connack = tokio::time::timeout(WAIT, eventloop.poll())
        .await
        .map_err(|_| "no CONNACK in time".to_string())?;
    match connack {
        Ok(Event::Incoming(Packet::ConnAck(ack))) if ack.code == ConnectReturnCode::Success => {}
        Ok(other) => return Err(format!("unexpected first event {other:?}")),
        Err(e) => return Err(e.to_string()),
    }
    let (tx, events) = mpsc::unbounded_channel();
    let task = tokio::spawn(forward(eventloop, tx));
    Ok(Client {
        client,
        events,
        stash: Default::default(),
        task,
    })
}

/// Connects to the plain listener as `id`, panicking on refusal.
pub async fn client(addr: SocketAddr, id: &str) -> Client {
    connect(options(addr, id))
        .await
        .unwrap_or_else(|e| panic!("{id} connects: {e}"))
}

async fn forward(mut eventloop: EventLoop, tx: mpsc::UnboundedSender<Seen>) {
    loop {
        let seen = match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(p))) => Seen::Publish(p),
            Ok(Event::Incoming(Packet::SubAck(s))) => Seen::SubAck(s.return_codes),
            Ok(Event::Incoming(Packet::PubAck(a))) => Seen::PubAck(a.pkid),
            Ok(_) => continue,
            Err(e) => {
                let _ = tx.send(Seen::Error(e.to_string()));
                return;
            }
        };
        if tx.send(seen).is_err() {
            return;
        }
    }
}

impl Client {
    /// Publishes at QoS 1 and waits for the PUBACK.
    pub async fn publish(&mut self, topic: &str, payload: &[u8], retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.to_vec())
            .await
            .expect("publish queued");
        self.wait_for(|s| matches!(s, Seen::PubAck(_)), "PUBACK")
            .await;
    }

    /// Subscribes at QoS 1 and returns the SUBACK's reason codes.
    pub async fn subscribe(&mut self, filter: &str) -> Vec<SubscribeReasonCode> {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribe queued");
        match self
            .wait_for(|s| matches!(s, Seen::SubAck(_)), "SUBACK")
            .await
        {
            Seen::SubAck(codes) => codes,
            _ => unreachable!(),
        }
    }

    /// Subscribes and asserts the subscription was granted.
    pub async fn subscribe_ok(&mut self, filter: &str) {
        let codes = self.subscribe(filter).await;
        assert!(
            matches!(codes.as_slice(), [SubscribeReasonCode::Success(_)]),
            "subscribe {filter}: {codes:?}"
        );
    }

    /// The next PUBLISH within `timeout`, skipping acks.
    pub async fn next_publish(&mut self, timeout: Duration) -> Option<Publish> {
        if let Some(p) = self.stash.pop_front() {
            return Some(p);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(Seen::Publish(p))) => return Some(p),
                Ok(Some(Seen::Error(e))) => panic!("connection failed: {e}"),
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Publishes a marker on `sync_topic` (which this client must be subscribed to) and returns
    /// every publish seen before the marker comes back: with one connection, that is everything
    /// the broker had queued for us earlier, so "nothing arrived" is a fact, not a timeout guess.
    pub async fn drain_until_marker(&mut self, sync_topic: &str) -> Vec<Publish> {
        let marker = unique("marker");
        self.client
            .publish(
                sync_topic,
                QoS::AtLeastOnce,
                false,
                marker.clone().into_bytes(),
            )
            .await
            .expect("marker queued");
        let mut seen = Vec::new();
        loop {
            let p = self
                .next_publish(WAIT)
                .await
                .unwrap_or_else(|| panic!("marker on {sync_topic} never came back"));
            if p.topic == sync_topic && p.payload.as_ref() == marker.as_bytes() {
                return seen;
            }
            if p.topic != sync_topic {
                seen.push(p);
            }
        }
    }

    async fn wait_for(&mut self, pick: impl Fn(&Seen) -> bool, what: &str) -> Seen {
        loop {
            match tokio::time::timeout(WAIT, self.events.recv()).await {
                Ok(Some(seen)) if pick(&seen) => return seen,
                Ok(Some(Seen::Error(e))) => panic!("connection failed waiting for {what}: {e}"),
                Ok(Some(Seen::Publish(p))) => self.stash.push_back(p),
                Ok(Some(_)) => continue,
                Ok(None) => panic!("event loop ended waiting for {what}"),
                Err(_) => panic!("no {what} within {WAIT:?}"),
            }
        }
    }
}

/// The health check after a hostile client: a reconnect with `victim_id` and three new
/// clients all connect and receive a retained message published by one of them.
pub async fn assert_healthy(addr: SocketAddr, victim_id: &str, context: &str) {
    let topic = unique("health/retained");
    let mut clients = Vec::new();
    clients.push(
        connect(options(addr, victim_id))
            .await
            .unwrap_or_else(|e| panic!("after {context}: reconnect as {victim_id} refused: {e}")),
    );
    for _ in 0..3 {
        let id = unique("healthy");
        clients.push(
            connect(options(addr, &id))
                .await
                .unwrap_or_else(|e| panic!("after {context}: new client refused: {e}")),
        );
    }
    clients[0].publish(&topic, b"alive", true).await;
    for (i, c) in clients.iter_mut().enumerate() {
        c.subscribe_ok(&topic).await;
        let p = c
            .next_publish(WAIT)
            .await
            .unwrap_or_else(|| panic!("after {context}: client {i} got no retained message"));
        assert_eq!(p.payload.as_ref(), b"alive", "after {context}");
        assert!(p.retain, "after {context}: retain flag");
    }
    // Clear it, so thousands of checks do not pile up retained messages.
    clients[0].publish(&topic, b"", true).await;
    for c in &clients {
        let _ = c.client.disconnect().await;
    }
}

/// VmRSS of this process in KiB, from /proc/self/status.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}
