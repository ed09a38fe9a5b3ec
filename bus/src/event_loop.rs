//! The task that owns the MQTT connection: first connect, reconnects with jittered delays, and
//! after every CONNACK the replay of subscriptions, unacknowledged publishes and the birth.
//!
//! rumqttc neither resubscribes after a reconnect nor keeps queued publishes when the new session
//! is clean (it clears them on CONNACK, see reference/mqtt-brokers.md), so this file does both.
//! It must never block on its own request channel: replays go into the event loop's `pending`
//! queue, which rumqttc sends before anything from the channel.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet,
    Publish, QoS, Request, Subscribe, SubscribeFilter, TlsConfiguration, Transport,
};
use tokio::sync::mpsc::UnboundedSender;

use crate::backoff::Backoff;
use crate::birth::Birth;
use crate::error::BusError;
use crate::options::{check_client_id, ConnectOptions};
use crate::session::{lock, Message, SessionEvent, Shared};

/// Requests a caller may queue before `publish().await` waits for the connection to catch up.
const REQUEST_CHANNEL_CAPACITY: usize = 256;
/// How long a clean stop waits for the broker to close the connection after our DISCONNECT.
const DISCONNECT_LINGER: Duration = Duration::from_secs(1);
/// Filters per SUBSCRIBE packet (replayed or [`crate::Session::subscribe_all`]), to stay far below any broker's packet limit.
pub(crate) const FILTERS_PER_SUBSCRIBE: usize = 64;

/// Opens the connection and waits for its first CONNACK, with the birth queued as the first
/// request. Never retries: the caller learns at once that the broker is wrong or down.
pub(crate) async fn first_connect(
    opts: &ConnectOptions,
    birth: Option<&Birth>,
) -> Result<(AsyncClient, EventLoop), BusError> {
    check_client_id(&opts.client_id)?;
    let mqtt = mqtt_options(opts, birth)?;
    let (client, mut eventloop) = AsyncClient::new(mqtt, REQUEST_CHANNEL_CAPACITY);
    let timeout_secs = opts.connect_timeout.as_secs_f64().ceil().max(1.0) as u64;
    eventloop
        .network_options
        .set_connection_timeout(timeout_secs);
    // Requests and replies are small packets: without this, Nagle's algorithm held each one
    // back waiting for the previous ACK, about 55 ms per request (issue 17).
    eventloop.network_options.set_tcp_nodelay(true);

    let unreachable = |source: Box<dyn std::error::Error + Send + Sync>| BusError::Unreachable {
        url: opts.url(),
        source,
    };
    match tokio::time::timeout(opts.connect_timeout, eventloop.poll()).await {
        Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {}
        Ok(Ok(other)) => {
            return Err(unreachable(
                format!("expected CONNACK, got {other:?}").into(),
            ))
        }
        Ok(Err(ConnectionError::ConnectionRefused(code))) => {
            return Err(BusError::Rejected {
                url: opts.url(),
                reason: format!("{code:?}"),
            })
        }
        Ok(Err(error)) => {
            return Err(match tls_refusal(&error) {
                Some(TlsRefusal::OfOurCertificate(reason)) => BusError::ClientCertificateRefused {
                    url: opts.url(),
                    reason,
                },
                Some(TlsRefusal::OfTheBrokers(reason)) => BusError::BrokerCertificateRefused {
                    url: opts.url(),
                    reason,
                },
                None => unreachable(Box::new(error)),
            })
        }
        Err(_) => {
            return Err(unreachable(
                format!("no CONNACK within {:?}", opts.connect_timeout).into(),
            ))
        }
    }
    if let Some(birth) = birth {
        eventloop
            .pending
            .push_back(Request::Publish(retained_qos1(&birth.topic, &birth.online)));
    }
    tracing::debug!(url = %opts.url(), client_id = %opts.client_id, "connected");
    Ok((client, eventloop))
}

/// Which side of a TLS handshake refused the other's certificate.
enum TlsRefusal {
    /// The broker sent a fatal alert: it refused this client (its certificate, or its lack).
    OfOurCertificate(String),
    /// The broker's certificate did not verify here.
    OfTheBrokers(String),
}

/// Finds a rustls error in `error`'s source chain (rumqttc wraps it directly, or inside the
/// `io::Error` of a read when TLS 1.3 delivers the broker's alert after the handshake).
fn tls_refusal(error: &ConnectionError) -> Option<TlsRefusal> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = next {
        let rustls_error = current.downcast_ref::<rustls::Error>().or_else(|| {
            current
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        match rustls_error {
            Some(rustls::Error::AlertReceived(alert)) => {
                return Some(TlsRefusal::OfOurCertificate(format!(
                    "the broker sent the TLS alert {alert:?}"
                )))
            }
            Some(e @ rustls::Error::InvalidCertificate(_)) => {
                return Some(TlsRefusal::OfTheBrokers(e.to_string()))
            }
            _ => {}
        }
        next = current.source();
    }
    None
}

/// Runs the connection until shutdown (a DISCONNECT was sent) or a stop signal.
pub(crate) async fn run(
    mut eventloop: EventLoop,
    shared: Arc<Shared>,
    events: UnboundedSender<SessionEvent>,
) {
    let url = shared.opts.url();
    let mut backoff = Backoff::new(shared.opts.reconnect_min, shared.opts.reconnect_max);
    // Publishes that were queued or unacknowledged when the connection broke.
    let mut carried: VecDeque<Request> = VecDeque::new();
    loop {
        let event = tokio::select! {
            _ = shared.stop.notified() => break,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff.reset();
                replay(&mut eventloop, &shared, &mut carried);
                shared.connected.store(true, Ordering::SeqCst);
                // Rate-limited: a peer can force a reconnect loop (a retained message above
                // `max_packet_size` on a broker without that limit), see docs/limits.md.
                crate::info_limited!(
                    "broker reconnected",
                    %url,
                    client_id = %shared.opts.client_id,
                    "reconnected to the MQTT broker",
                );
                let _ = events.send(SessionEvent::Connected {
                    session_present: ack.session_present,
                });
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => route(&shared, &events, publish),
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                if shared.shutting_down.load(Ordering::SeqCst) {
                    wait_for_the_broker_to_close(&mut eventloop).await;
                    break;
                }
            }
            Ok(_) => {}
            Err(error) => {
                carried.extend(salvage(&mut eventloop.pending));
                if shared.shutting_down.load(Ordering::SeqCst) {
                    break;
                }
                if shared.connected.swap(false, Ordering::SeqCst) {
                    crate::info_limited!(
                        "broker lost",
                        %url,
                        %error,
                        "lost the MQTT broker; reconnecting",
                    );
                    let _ = events.send(SessionEvent::Disconnected {
                        reason: error.to_string(),
                    });
                } else {
                    tracing::debug!(%url, %error, "reconnect failed");
                }
                let delay = backoff.next_delay(&mut rand::rng());
                tokio::select! {
                    _ = shared.stop.notified() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    shared.connected.store(false, Ordering::SeqCst);
    shared.replies.close();
    tracing::debug!(%url, client_id = %shared.opts.client_id, "session ended");
}

/// After our DISCONNECT, lets the broker close the connection first. Closing it ourselves at
/// once lost the clean stop on both brokers (7 of 15 stops on the embedded one, 5 of 15 on
/// Mosquitto ended with the will published): the broker was still writing to us (the echo of
/// our own `offline` birth, a PUBACK), the write hit a closed socket, the reset made it drop the
/// DISCONNECT unread, and it fired the will.
async fn wait_for_the_broker_to_close(eventloop: &mut EventLoop) {
    let deadline = tokio::time::Instant::now() + DISCONNECT_LINGER;
    while let Ok(Ok(_)) = tokio::time::timeout_at(deadline, eventloop.poll()).await {}
}

/// After a CONNACK: subscriptions first (so that nothing published after is missed), then the
/// carried publishes, then the birth last, so that a carried older birth cannot overwrite it.
fn replay(eventloop: &mut EventLoop, shared: &Shared, carried: &mut VecDeque<Request>) {
    let filters: Vec<String> = lock(&shared.subscriptions).iter().cloned().collect();
    for chunk in filters.chunks(FILTERS_PER_SUBSCRIBE) {
        let filters = chunk
            .iter()
            .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
        eventloop
            .pending
            .push_back(Request::Subscribe(Subscribe::new_many(filters)));
    }
    eventloop.pending.extend(carried.drain(..));
    if let Some(birth) = lock(&shared.birth).as_ref() {
        eventloop
            .pending
            .push_back(Request::Publish(retained_qos1(&birth.topic, &birth.online)));
    }
}

/// Keeps the publishes of a broken connection, as fresh packets (packet id 0, so the new session
/// numbers them). Acks, pings and subscriptions are dropped: they belong to the old connection,
/// and subscriptions are replayed from the remembered set.
fn salvage(pending: &mut VecDeque<Request>) -> Vec<Request> {
    pending
        .drain(..)
        .filter_map(|request| match request {
            Request::Publish(mut publish) => {
                publish.pkid = 0;
                publish.dup = false;
                Some(Request::Publish(publish))
            }
            _ => None,
        })
        .collect()
}

/// Replies go to the request router; everything else to the session's events.
fn route(shared: &Shared, events: &UnboundedSender<SessionEvent>, publish: Publish) {
    if shared.replies.is_reply_topic(&publish.topic) {
        shared.replies.deliver(&publish.payload);
        return;
    }
    let _ = events.send(SessionEvent::Message(Message {
        topic: publish.topic,
        payload: publish.payload.to_vec(),
        retain: publish.retain,
    }));
}

fn retained_qos1(topic: &str, payload: &[u8]) -> Publish {
    let mut publish = Publish::new(topic, QoS::AtLeastOnce, payload.to_vec());
    publish.retain = true;
    publish
}

fn mqtt_options(opts: &ConnectOptions, birth: Option<&Birth>) -> Result<MqttOptions, BusError> {
    let mut mqtt = MqttOptions::new(opts.client_id.clone(), opts.host.clone(), opts.port);
    // rumqttc panics on sub-second keep-alives; round up to whole seconds.
    let keep_alive = Duration::from_secs(opts.keep_alive.as_secs_f64().ceil().max(1.0) as u64);
    mqtt.set_keep_alive(keep_alive)
        .set_clean_session(true)
        .set_max_packet_size(opts.max_packet_size, opts.max_packet_size)
        .set_request_channel_capacity(REQUEST_CHANNEL_CAPACITY);
    if let Some(username) = &opts.username {
        mqtt.set_credentials(username.clone(), opts.password.clone().unwrap_or_default());
    }
    if let Some(birth) = birth {
        mqtt.set_last_will(LastWill::new(
            birth.topic.clone(),
            birth.will.clone(),
            QoS::AtLeastOnce,
            true,
        ));
    }
    match (opts.secure, &opts.tls) {
        (false, None) => {}
        (false, Some(_)) => {
            return Err(BusError::TlsConfig(
                "TLS files were given for a plain mqtt:// broker; use mqtts://",
            ))
        }
        (true, None) => {
            return Err(BusError::TlsConfig(
                "mqtts:// needs the CA file that signed the broker's certificate",
            ))
        }
        (true, Some(tls)) => {
            let client_auth = match (&tls.cert, &tls.key) {
                (Some(cert), Some(key)) => Some((cert.read()?, key.read_private_key()?)),
                (None, None) => None,
                _ => {
                    return Err(BusError::TlsConfig(
                        "a client certificate and its key go together",
                    ))
                }
            };
            // rumqttc builds its rustls config from the process-wide provider; ring is the one
            // this workspace already builds. An error means one is installed already: fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
            mqtt.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
                ca: tls.ca.read()?,
                alpn: None,
                client_auth,
            }));
        }
    }
    Ok(mqtt)
}
