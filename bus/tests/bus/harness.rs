use std::net::SocketAddr;
use std::time::Duration;

use ank_broker::{BrokerConfig, BrokerHandle};
use ank_bus::{Birth, ConnectOptions, Incoming, Message, Session, SessionEvent};
use ank_system_tests::mosquitto::Mosquitto;

/// Runs an async scenario `fn(TestBroker)` once per broker, as `<scenario>::mosquitto` and
/// `<scenario>::embedded`.
macro_rules! on_every_broker {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mosquitto() {
                let broker = $crate::harness::TestBroker::mosquitto().await;
                super::$scenario(broker).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                let broker = $crate::harness::TestBroker::embedded().await;
                super::$scenario(broker).await;
            }
        }
    )*};
}
pub(crate) use on_every_broker;

/// A broker owned by one test.
pub enum TestBroker {
    /// A Mosquitto child process.
    Mosquitto(Mosquitto),
    /// The embedded broker, in this process; `None` while stopped. Boxed: the handle is large.
    Embedded(Option<Box<BrokerHandle>>, SocketAddr),
}

impl TestBroker {
    pub async fn mosquitto() -> Self {
        Self::Mosquitto(Mosquitto::start().expect("mosquitto starts"))
    }

    pub async fn embedded() -> Self {
        let handle = ank_broker::start(BrokerConfig::for_tests())
            .await
            .expect("embedded broker starts");
        let addr = handle.mqtt_addr();
        Self::Embedded(Some(Box::new(handle)), addr)
    }

    pub fn url(&self) -> String {
        match self {
            Self::Mosquitto(m) => m.url(),
            Self::Embedded(_, addr) => format!("mqtt://{addr}"),
        }
    }

    /// Stops the broker abruptly (clients see their connection drop).
    pub async fn stop(&mut self) {
        match self {
            Self::Mosquitto(m) => m.kill(),
            Self::Embedded(handle, _) => {
                if let Some(handle) = handle.take() {
                    handle.stop().await;
                }
            }
        }
    }

    /// Starts it again on the same port, with an empty retained store.
    pub async fn start_again(&mut self) {
        match self {
            Self::Mosquitto(m) => m.restart().expect("mosquitto restarts on its port"),
            Self::Embedded(handle, addr) => {
                let config = BrokerConfig {
                    listen: *addr,
                    ..BrokerConfig::for_tests()
                };
                *handle = Some(Box::new(
                    ank_broker::start(config)
                        .await
                        .expect("embedded broker restarts on its port"),
                ));
            }
        }
    }

    /// Options for a client of this broker, with short timeouts so failures show quickly.
    pub fn options(&self, client_id: &str) -> ConnectOptions {
        let mut opts = ConnectOptions::from_url(&self.url(), client_id).expect("valid url");
        opts.keep_alive = Duration::from_secs(5);
        opts.connect_timeout = Duration::from_secs(3);
        opts.read_timeout = Duration::from_secs(10);
        opts.reconnect_max = Duration::from_millis(500);
        opts
    }

    pub async fn connect(&self, client_id: &str, birth: Option<Birth>) -> (Session, Incoming) {
        Session::connect(self.options(client_id), birth)
            .await
            .expect("connects")
    }
}

/// The retained message on `topic` right now, if any.
pub async fn retained(reader: &Session, topic: &str) -> Option<Message> {
    let snapshot = reader
        .read_retained(&[topic.to_owned()])
        .await
        .expect("retained read");
    snapshot.into_iter().find(|m| m.topic == topic)
}

/// The next event matching `pick`, within `within`.
pub async fn next_event<T>(
    incoming: &mut Incoming,
    within: Duration,
    what: &str,
    mut pick: impl FnMut(SessionEvent) -> Option<T>,
) -> T {
    let found = tokio::time::timeout(within, async {
        while let Some(event) = incoming.recv().await {
            if let Some(found) = pick(event) {
                return Some(found);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(found)) => found,
        Ok(None) => panic!("session ended while waiting for {what}"),
        Err(_) => panic!("no {what} within {within:?}"),
    }
}

/// Returns once every publish `session` queued so far has been handled by the broker: the
/// session's own sync topic echoes a marker published after them (packets of one connection are
/// handled in order). `incoming` must belong to `session`.
pub async fn flush(session: &Session, incoming: &mut Incoming) {
    let sync = session.options().topics.sync(session.client());
    session.subscribe(&sync).await.expect("subscribe sync");
    let marker = format!("flush-{}", ank_bus::new_epoch()).into_bytes();
    session
        .publish(&sync, marker.clone(), false)
        .await
        .expect("publish marker");
    next_event(
        incoming,
        Duration::from_secs(30),
        "the flush marker",
        |e| match e {
            SessionEvent::Message(m) if m.topic == sync && m.payload == marker => Some(()),
            _ => None,
        },
    )
    .await
}
