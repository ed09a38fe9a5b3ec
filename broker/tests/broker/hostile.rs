//! Hostile clients: malformed and out-of-place packets, awkward client ids, resets, the
//! connection limit and random bytes. After each, the offending connection may be gone, but the
//! broker must serve a reconnect with the same client id and three new clients.

use crate::harness::{assert_healthy, broker, client, connect, options, unique, WAIT};
use crate::wire::{self, field, packet};
use ank_broker::{BrokerConfig, Limits};
use ank_testkit::eventually;
use rand::{Rng, SeedableRng};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// How long a hostile connection gets to misbehave before the health check.
const LINGER: Duration = Duration::from_millis(150);

/// (name, bytes sent after a successful CONNECT).
fn after_connect_cases() -> Vec<(&'static str, Vec<u8>)> {
    let big = vec![b'x'; 1024 * 1024 + 1];
    vec![
        ("client-sent CONNACK", vec![0x20, 0x02, 0x00, 0x00]),
        ("client-sent SUBACK", vec![0x90, 0x03, 0x00, 0x01, 0x00]),
        ("client-sent UNSUBACK", vec![0xB0, 0x02, 0x00, 0x01]),
        ("client-sent PINGRESP", vec![0xD0, 0x00]),
        (
            "PUBACK for an unknown packet id",
            vec![0x40, 0x02, 0x12, 0x34],
        ),
        (
            "PUBREC for an unknown packet id",
            vec![0x50, 0x02, 0x12, 0x34],
        ),
        (
            "PUBREL for an unknown packet id",
            vec![0x62, 0x02, 0x12, 0x34],
        ),
        (
            "PUBCOMP for an unknown packet id",
            vec![0x70, 0x02, 0x12, 0x34],
        ),
        (
            "PUBLISH with QoS 3",
            wire::publish(b"a/b", b"x", 3, false, 1),
        ),
        (
            "PUBLISH to a topic with +",
            wire::publish(b"a/+/b", b"x", 0, false, 0),
        ),
        (
            "PUBLISH to a topic with #",
            wire::publish(b"a/#", b"x", 1, true, 1),
        ),
        (
            "PUBLISH to a topic with NUL",
            wire::publish(b"a/\0/b", b"x", 1, false, 1),
        ),
        (
            "PUBLISH with an invalid UTF-8 topic",
            wire::publish(&[b'a', 0xff, 0xfe], b"x", 1, true, 1),
        ),
        (
            "PUBLISH with an empty topic",
            wire::publish(b"", b"x", 1, false, 1),
        ),
        (
            "QoS 1 PUBLISH with packet id 0",
            wire::publish(b"a/b", b"x", 1, false, 0),
        ),
        (
            "PUBLISH to °C/cabin",
            wire::publish("°C/cabin".as_bytes(), b"21", 1, false, 1),
        ),
        (
            "retained PUBLISH to °C/cabin",
            wire::publish("°C/cabin".as_bytes(), b"21", 1, true, 2),
        ),
        (
            "retained PUBLISH to état/ecu1",
            wire::publish("état/ecu1".as_bytes(), b"ok", 0, true, 0),
        ),
        (
            "topic length beyond the packet",
            packet(0x30, &[0x00, 0x40, b'a', b'b']),
        ),
        ("truncated PUBLISH (length 100, 10 bytes sent)", {
            let mut p = vec![0x30, 100];
            p.extend_from_slice(&[0, 3, b'a', b'/', b'b', 1, 2, 3, 4, 5]);
            p
        }),
        (
            "5-byte remaining length",
            vec![0x30, 0xff, 0xff, 0xff, 0xff, 0x7f],
        ),
        (
            "remaining length of 256 MiB announced",
            vec![0x30, 0xff, 0xff, 0xff, 0x7f, 0x00],
        ),
        ("a second CONNECT", wire::connect(b"second", None, None)),
        ("reserved packet type 0", vec![0x00, 0x00]),
        ("reserved packet type 15", vec![0xF0, 0x00]),
        (
            "oversized PUBLISH (1 MiB + 1 payload)",
            wire::publish(b"a/big", &big, 1, true, 1),
        ),
        ("SUBSCRIBE without filters", vec![0x82, 0x02, 0x00, 0x01]),
        ("SUBSCRIBE with QoS 3", wire::subscribe(1, b"a/b", 3)),
        ("SUBSCRIBE with packet id 0", wire::subscribe(0, b"a/b", 1)),
        ("SUBSCRIBE with wrong fixed-header flags", {
            let mut p = wire::subscribe(1, b"a/b", 1);
            p[0] = 0x80;
            p
        }),
        ("SUBSCRIBE to a/#/b", wire::subscribe(1, b"a/#/b", 1)),
        (
            "SUBSCRIBE to a malformed $share",
            wire::subscribe(1, b"$share/g", 1),
        ),
        (
            "SUBSCRIBE with invalid UTF-8",
            wire::subscribe(1, &[0xc3, 0x28], 1),
        ),
        ("UNSUBSCRIBE without filters", vec![0xA2, 0x02, 0x00, 0x01]),
        ("PINGREQ with a body", vec![0xC0, 0x01, 0x00]),
        ("DISCONNECT with a body", vec![0xE0, 0x01, 0x00]),
        (
            "client-sent AUTH (MQTT 5 only)",
            vec![0xF0, 0x02, 0x00, 0x00],
        ),
        ("zero-length SUBSCRIBE", vec![0x82, 0x00]),
    ]
}

/// (name, bytes sent instead of a proper CONNECT).
fn instead_of_connect_cases() -> Vec<(&'static str, Vec<u8>)> {
    let mut bad_name = wire::connect(b"x", None, None);
    bad_name[4..8].copy_from_slice(b"MQTX");
    let mut bad_level = wire::connect(b"x", None, None);
    bad_level[8] = 9;
    let mut reserved_flag = wire::connect(b"x", None, None);
    reserved_flag[9] |= 0x01;
    let will = wire::Will {
        topic: "°C/cabin".as_bytes(),
        payload: b"lost",
        qos: 1,
        retain: true,
    };
    vec![
        (
            "PUBLISH before CONNECT",
            wire::publish(b"a/b", b"x", 1, false, 1),
        ),
        ("protocol name MQTX", bad_name),
        ("protocol level 9", bad_level),
        ("reserved CONNECT flag", reserved_flag),
        (
            "CONNECT with a °C/cabin will, then killed",
            wire::connect(b"will-victim", Some(&will), None),
        ),
        (
            "CONNECT with an invalid UTF-8 client id",
            wire::connect(&[0xff, 0xfe], None, None),
        ),
        (
            "CONNECT cut short",
            wire::connect(b"short", None, None)[..8].to_vec(),
        ),
        ("CONNECT with a password but no username", {
            let mut body = field(b"MQTT");
            body.extend([4, 0x42, 0, 30]);
            body.extend(field(b"pw-only"));
            body.extend(field(b"secret"));
            packet(0x10, &body)
        }),
    ]
}

async fn send_and_linger(addr: std::net::SocketAddr, connect_first: Option<&[u8]>, bytes: &[u8]) {
    let mut stream = match connect_first {
        Some(id) => wire::connected(addr, id).await,
        None => TcpStream::connect(addr).await.expect("tcp connect"),
    };
    // The broker may close while we write (e.g. the oversized publish): that is allowed.
    let _ = stream.write_all(bytes).await;
    let _ = wire::closed_within(&mut stream, LINGER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_out_of_place_packets_leave_the_broker_serving() {
    let broker = broker().await;
    let addr = broker.mqtt_addr();
    let mut count = 0;
    for (name, bytes) in after_connect_cases() {
        let id = unique("hostile");
        send_and_linger(addr, Some(id.as_bytes()), &bytes).await;
        assert_healthy(addr, &id, name).await;
        count += 1;
    }
    for (name, bytes) in instead_of_connect_cases() {
        send_and_linger(addr, None, &bytes).await;
        assert_healthy(addr, "will-victim", name).await;
        count += 1;
    }
    eprintln!("{count} hostile packets, broker healthy after each");
    assert!(count >= 30);
    broker.stop().await;
}

#[tokio::test]
async fn client_ids_with_mqtt_special_characters_connecting_twice_leave_the_broker_serving() {
    let broker = broker().await;
    let addr = broker.mqtt_addr();
    let mut open = Vec::new();
    for id in ["vehicle/ecu1", "a+b", "a#b", "$SYS", "$share/x", "°C/cabin"] {
        // Twice, the second taking over (or being refused). Either is fine; a dead listener is not.
        for attempt in 0..2 {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(&wire::connect(id.as_bytes(), None, None))
                .await
                .unwrap();
            let answer = wire::read_packet(&mut stream, WAIT).await;
            eprintln!("client id {id:?} attempt {attempt}: CONNACK {answer:?}");
            open.push(stream); // keep the first one open while the second arrives
        }
        assert_healthy(addr, &unique("after-special-id"), id).await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn connect_then_tcp_reset_then_the_same_client_id_works() {
    let broker = broker().await;
    let addr = broker.mqtt_addr();
    for round in 0..5 {
        let stream = TcpStream::connect(addr).await.unwrap();
        // Linger 0 makes the close an RST, which is the point; with 0 it cannot block.
        #[allow(deprecated)]
        stream.set_linger(Some(Duration::ZERO)).unwrap();
        let mut stream = stream;
        stream
            .write_all(&wire::connect(b"reset-victim", None, None))
            .await
            .unwrap();
        // Reset before reading the CONNACK: closing with linger 0 sends RST.
        drop(stream);
        assert_healthy(addr, "reset-victim", &format!("reset round {round}")).await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn reaching_the_connection_limit_then_retrying_leaves_the_broker_serving() {
    let broker = ank_broker::start(BrokerConfig {
        limits: Limits {
            max_connections: 8,
            ..Limits::default()
        },
        ..BrokerConfig::for_tests()
    })
    .await
    .unwrap();
    let addr = broker.mqtt_addr();
    let mut held = Vec::new();
    for i in 0..8 {
        held.push(client(addr, &format!("holder-{i}")).await);
    }
    for retry in 0..5 {
        let refused = connect(options(addr, "one-too-many")).await;
        assert!(
            refused.is_err(),
            "retry {retry}: connection 9 of 8 accepted"
        );
    }
    drop(held);
    // The broker notices the closed holders asynchronously.
    eventually("the slots freed (a new connection accepted)", WAIT, || {
        connect(options(addr, "probe"))
    })
    .await;
    assert_healthy(addr, "one-too-many", "connection limit").await;
    broker.stop().await;
}

/// A few thousand random packets after CONNECT, from a seeded generator (the seed is printed on
/// failure). Each packet is a random first byte, a random (often lying) remaining length and
/// random body bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_packets_leave_the_broker_serving() {
    const SEEDS: u64 = 3000;
    const PARALLEL: u64 = 16;
    let broker = broker().await;
    let addr = broker.mqtt_addr();
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..PARALLEL {
        tasks.spawn(async move {
            let mut seed = lane;
            while seed < SEEDS {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                let mut bytes = Vec::new();
                for _ in 0..rng.random_range(1..4) {
                    let first: u8 = rng.random();
                    let len = rng.random_range(0..300usize);
                    let declared = if rng.random_bool(0.2) {
                        rng.random_range(0..100_000)
                    } else {
                        len
                    };
                    bytes.push(first);
                    bytes.extend(wire::remaining_length(declared));
                    bytes.extend((0..len).map(|_| rng.random::<u8>()));
                }
                let id = format!("fuzz-{seed}");
                let mut stream = wire::connected(addr, id.as_bytes()).await;
                let _ = stream.write_all(&bytes).await;
                let _ = wire::closed_within(&mut stream, Duration::from_millis(5)).await;
                seed += PARALLEL;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("fuzz lane");
    }
    assert_healthy(addr, "fuzz-0", &format!("{SEEDS} random packets")).await;
    broker.stop().await;
}
