//! The WebSocket listener (for dashboards): MQTT over a hand-made WebSocket handshake reaches
//! TCP clients of the same broker.

use crate::harness::{client, WAIT};
use crate::wire;
use ank_broker::BrokerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One masked binary frame, as a client must send it (RFC 6455 §5.3).
fn client_frame(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126, "short frames only");
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![0x82, 0x80 | payload.len() as u8];
    out.extend(mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Reads one unmasked server frame with a short payload.
async fn server_frame(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await.expect("frame header");
    assert_eq!(head[0], 0x82, "binary frame");
    let mut payload = vec![0; usize::from(head[1] & 0x7f)];
    stream
        .read_exact(&mut payload)
        .await
        .expect("frame payload");
    payload
}

#[tokio::test]
async fn mqtt_over_websocket_reaches_tcp_clients() {
    let broker = ank_broker::start(BrokerConfig {
        ws_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..BrokerConfig::for_tests()
    })
    .await
    .unwrap();
    let ws_addr = broker.ws_addr().expect("a WebSocket address");
    assert_ne!(ws_addr.port(), 0);
    let mut tcp_reader = client(broker.mqtt_addr(), "tcp-reader").await;
    tcp_reader.subscribe_ok("dash/#").await;

    let mut ws = TcpStream::connect(ws_addr).await.unwrap();
    ws.write_all(
        b"GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Protocol: mqtt\r\n\r\n",
    )
    .await
    .unwrap();
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\n") {
        response.push(ws.read_u8().await.expect("handshake response"));
    }
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 101"), "{response}");

    ws.write_all(&client_frame(&wire::connect(b"dashboard", None, None)))
        .await
        .unwrap();
    assert_eq!(
        server_frame(&mut ws).await,
        [0x20, 0x02, 0x00, 0x00],
        "CONNACK"
    );
    ws.write_all(&client_frame(&wire::publish(
        b"dash/hello",
        b"from-ws",
        1,
        false,
        7,
    )))
    .await
    .unwrap();
    assert_eq!(
        server_frame(&mut ws).await,
        [0x40, 0x02, 0x00, 0x07],
        "PUBACK"
    );

    let p = tcp_reader
        .next_publish(WAIT)
        .await
        .expect("publish over WebSocket arrives");
    assert_eq!(
        (p.topic.as_str(), p.payload.as_ref()),
        ("dash/hello", b"from-ws".as_slice())
    );
    broker.stop().await;
}
