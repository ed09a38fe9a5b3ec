//! ank-bus against real brokers: every scenario runs once on a private Mosquitto and once on the
//! embedded broker (`ank-broker`), each started by the test on a free loopback port.

/// Brokers to test against, and the options and helpers the areas share.
mod harness;

/// Retained birth on connect, retained will on a crash, offline and no will on a clean shutdown.
mod birth_will;
/// Session sockets have TCP_NODELAY set (issue 17).
mod nodelay;
/// Resubscribe, re-birth and queued publishes across a broker restart; unreachable brokers.
mod reconnect;
/// Publishes a broker would close the connection over are refused locally (issue 14).
mod refused;
/// Request/response: concurrent requests matched by id, garbage replies, timeouts.
mod request;
/// Reading retained state completely (2,000 topics) and watching it live.
mod retained;
/// `mqtts://` with a private CA, against Mosquitto's TLS listener.
mod tls;
