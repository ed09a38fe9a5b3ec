//! MQTT 3.1.1 packets written by hand, byte by byte, so tests can send what no client library
//! would: wrong flags, bad lengths, invalid UTF-8, client-sent acks.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The variable-length "remaining length" encoding.
pub fn remaining_length(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            return out;
        }
    }
}

/// A length-prefixed string or binary field.
pub fn field(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// A packet from its first byte and body.
pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    out.extend(remaining_length(body.len()));
    out.extend_from_slice(body);
    out
}

/// A will for [`connect`].
pub struct Will<'a> {
    pub topic: &'a [u8],
    pub payload: &'a [u8],
    pub qos: u8,
    pub retain: bool,
}

/// CONNECT (MQTT 3.1.1, clean session, keep-alive 30 s).
pub fn connect(client_id: &[u8], will: Option<&Will<'_>>, login: Option<(&str, &str)>) -> Vec<u8> {
    let mut flags = 0x02u8;
    if let Some(w) = will {
        flags |= 0x04 | (w.qos << 3) | if w.retain { 0x20 } else { 0 };
    }
    if login.is_some() {
        flags |= 0xC0;
    }
    let mut body = field(b"MQTT");
    body.extend([4, flags, 0, 30]);
    body.extend(field(client_id));
    if let Some(w) = will {
        body.extend(field(w.topic));
        body.extend(field(w.payload));
    }
    if let Some((user, password)) = login {
        body.extend(field(user.as_bytes()));
        body.extend(field(password.as_bytes()));
    }
    packet(0x10, &body)
}

/// PUBLISH with an arbitrary topic (raw bytes) and QoS bits.
pub fn publish(topic: &[u8], payload: &[u8], qos: u8, retain: bool, packet_id: u16) -> Vec<u8> {
    let first = 0x30 | (qos << 1) | u8::from(retain);
    let mut body = field(topic);
    if qos > 0 {
        body.extend(packet_id.to_be_bytes());
    }
    body.extend_from_slice(payload);
    packet(first, &body)
}

/// SUBSCRIBE with one filter.
pub fn subscribe(packet_id: u16, filter: &[u8], qos: u8) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    body.extend(field(filter));
    body.push(qos);
    packet(0x82, &body)
}

/// Opens a TCP connection, sends CONNECT and checks for a successful CONNACK.
pub async fn connected(addr: SocketAddr, client_id: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("tcp connect");
    stream.set_nodelay(true).ok();
    stream
        .write_all(&connect(client_id, None, None))
        .await
        .expect("send CONNECT");
    let connack = read_packet(&mut stream, Duration::from_secs(10))
        .await
        .expect("CONNACK");
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00], "CONNACK accepted");
    stream
}

/// Reads one whole packet (first byte, length bytes and body); `None` on close or timeout.
pub async fn read_packet(stream: &mut TcpStream, timeout: Duration) -> Option<Vec<u8>> {
    tokio::time::timeout(timeout, async {
        let mut out = vec![stream.read_u8().await.ok()?];
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let b = stream.read_u8().await.ok()?;
            out.push(b);
            len |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0; len];
        stream.read_exact(&mut body).await.ok()?;
        out.extend(body);
        Some(out)
    })
    .await
    .ok()
    .flatten()
}

/// Reads until the broker closes the connection or `timeout` passes; true when it closed.
pub async fn closed_within(stream: &mut TcpStream, timeout: Duration) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(timeout, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}
