//! The TLS listener: a certificate made with the openssl CLI, a handshake and an MQTT
//! CONNECT/CONNACK through `openssl s_client` (rumqttc is built without TLS in this workspace).

use crate::wire;
use ank_broker::{BrokerConfig, TlsConfig};
use std::io::{Read, Write};
use std::process::{Command, Stdio};

#[tokio::test]
async fn mqtt_over_tls_is_served_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("broker.crt"), dir.path().join("broker.key"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=ank-broker"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("the openssl CLI is needed for this test");
    assert!(made.success(), "openssl req failed");

    let broker = ank_broker::start(BrokerConfig {
        tls: Some(TlsConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert_file: cert.clone(),
            key_file: key,
            ca_file: None,
            require_client_cert: false,
        }),
        ..BrokerConfig::for_tests()
    })
    .await
    .unwrap();
    let tls_addr = broker.tls_addr().expect("a TLS address");

    let connack = tokio::task::spawn_blocking(move || {
        let mut s_client = Command::new("openssl")
            .args(["s_client", "-quiet", "-verify_return_error", "-connect"])
            .arg(tls_addr.to_string())
            .arg("-CAfile")
            .arg(&cert)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_client");
        let mut stdin = s_client.stdin.take().unwrap();
        stdin
            .write_all(&wire::connect(b"tls-client", None, None))
            .unwrap();
        stdin.flush().unwrap();
        let mut connack = [0u8; 4];
        let read = s_client.stdout.take().unwrap().read_exact(&mut connack);
        let _ = s_client.kill();
        let _ = s_client.wait();
        read.map(|()| connack)
    })
    .await
    .unwrap()
    .expect("CONNACK over TLS");
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);
    broker.stop().await;
}
