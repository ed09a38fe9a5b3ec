//! The dashboard's HTTP server (issue 18): it serves the built page and nothing else, tells the
//! page where the WebSocket listener is, and names the build command when the page is missing.

use ank_broker::{BrokerConfig, DashboardConfig};
use std::net::SocketAddr;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One raw HTTP/1.1 request; returns (status code, body). Raw so that paths reach the server
/// exactly as written, `..` and all.
async fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn broker_serving(dir: &Path) -> ank_broker::BrokerHandle {
    ank_broker::start(BrokerConfig {
        dashboard: Some(DashboardConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            dir: dir.to_owned(),
            topic_prefix: "vehicles/VIN1/ank/v1".into(),
        }),
        ..BrokerConfig::for_tests()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn issue_18_the_dashboard_page_is_served_with_the_websocket_listener_it_needs() {
    let root = tempfile::tempdir().unwrap();
    let dist = root.path().join("dist");
    std::fs::create_dir(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>ankmq</title>",
    )
    .unwrap();
    std::fs::write(dist.join("app.js"), "console.log('ankmq')").unwrap();
    let broker = broker_serving(&dist).await;
    let http = broker.dashboard_addr().expect("a dashboard address");
    let ws = broker.ws_addr().expect("the WebSocket listener is on");
    assert_ne!(ws.port(), 0);

    assert_eq!(
        get(http, "/").await,
        (200, "<!doctype html><title>ankmq</title>".into())
    );
    assert_eq!(
        get(http, "/app.js").await,
        (200, "console.log('ankmq')".into())
    );
    let (status, settings) = get(http, "/dashboard.json?x=1").await;
    assert_eq!(status, 200);
    let settings: serde_json::Value = serde_json::from_str(&settings).unwrap();
    assert_eq!(settings["wsPort"], ws.port());
    assert_eq!(settings["wsPath"], "/mqtt");
    assert_eq!(settings["topicPrefix"], "vehicles/VIN1/ank/v1");
    assert_eq!(settings["login"], false);
    broker.stop().await;
}

#[tokio::test]
async fn issue_18_the_dashboard_serves_no_file_outside_the_built_page() {
    let root = tempfile::tempdir().unwrap();
    let dist = root.path().join("dist");
    std::fs::create_dir_all(dist.join("sub")).unwrap();
    std::fs::write(dist.join("index.html"), "page").unwrap();
    std::fs::write(dist.join("sub").join("inner.js"), "inner").unwrap();
    std::fs::write(dist.join(".env.js"), "hidden").unwrap();
    std::fs::write(dist.join("notes.txt"), "notes").unwrap();
    std::fs::write(root.path().join("secret.js"), "SECRET").unwrap();
    std::os::unix::fs::symlink(root.path().join("secret.js"), dist.join("link.js")).unwrap();
    let broker = broker_serving(&dist).await;
    let http = broker.dashboard_addr().unwrap();
    for target in [
        "/../secret.js",
        "/%2e%2e/secret.js",
        "/..%2fsecret.js",
        "//secret.js",
        "/sub/../../secret.js",
        "/link.js",
        "/sub/inner.js",
        "/.env.js",
        "/notes.txt",
        "/index.html/",
        "/etc/passwd",
        "http://localhost/../secret.js",
    ] {
        let (status, body) = get(http, target).await;
        assert!(
            status == 404 || status == 400,
            "{target}: {status} {body:?}"
        );
        assert!(!body.contains("SECRET"), "{target}: {body:?}");
    }
    assert_eq!(get(http, "/index.html").await, (200, "page".into()));
    broker.stop().await;
}

#[tokio::test]
async fn issue_18_an_unbuilt_dashboard_names_the_build_command() {
    let root = tempfile::tempdir().unwrap();
    let broker = broker_serving(&root.path().join("dist")).await;
    let http = broker.dashboard_addr().unwrap();
    let (status, body) = get(http, "/").await;
    assert_eq!(status, 503);
    assert!(body.contains("scripts/dashboard.sh"), "{body}");
    assert!(body.contains("dist"), "{body}");
    // The broker itself serves.
    let mut reader = crate::harness::client(broker.mqtt_addr(), "reader").await;
    reader.subscribe_ok("x/#").await;
    broker.stop().await;
}
