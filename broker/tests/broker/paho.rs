//! A third-party MQTT 3.1.1 client, paho-mqtt (Python), against the embedded broker and Mosquitto
//! with the generated ACL (issue 14, point 7).
//!
//! rumqttc, our own client, tolerates the MQTT 5 PUBACK that mqtt5 0.49 sends to a 3.1.1 session
//! for a refused publish; paho does not, and drops the connection. So this test drives paho itself
//! (`paho/refused_publish.py`). The package is found through `ANK_TEST_PYTHONPATH`, which the
//! test environment (scripts/test-env.sh) exports; without it the test fails and says so.

use crate::mosquitto_parity::start_mosquitto;
use ank_broker::BrokerConfig;
use ank_schemas::Topics;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

const USERS: [&str; 4] = ["controller", "agent-a", "agent-b", "alice"];

/// The directory holding paho-mqtt, from `ANK_TEST_PYTHONPATH`.
fn paho_path() -> PathBuf {
    let dir = std::env::var_os("ANK_TEST_PYTHONPATH").unwrap_or_else(|| {
        panic!(
            "ANK_TEST_PYTHONPATH is not set: it must name a directory holding the Python package \
             paho-mqtt 2.x (`pip install --target DIR paho-mqtt==2.2.0`; scripts/test-env.sh does it)"
        )
    });
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("paho").join("mqtt").is_dir(),
        "ANK_TEST_PYTHONPATH={} holds no paho-mqtt package (paho/mqtt); install paho-mqtt==2.2.0 there",
        dir.display()
    );
    dir
}

/// Runs the paho script as `agent-a` and returns its `key=value` findings.
fn run_paho(addr: SocketAddr, password: &str) -> BTreeMap<String, String> {
    let t = Topics::default();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broker/paho/refused_publish.py");
    let output = Command::new("python3")
        .env("PYTHONPATH", paho_path())
        .arg(&script)
        .args([
            addr.ip().to_string(),
            addr.port().to_string(),
            "agent-a".into(),
            password.into(),
            "agent-a.paho".into(),
            t.agent_status("b"),
            t.agent_status("a"),
            t.all_agent_statuses(),
        ])
        .output()
        .expect("python3 runs (install python3)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the paho script failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("paho on {addr}:\n{stdout}");
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// The claims of the issue: the refused QoS 1 publish is acknowledged in 3.1.1 form, not
/// delivered, and the connection survives to publish and receive on allowed topics.
fn assert_paho_kept_its_connection(broker: &str, findings: &BTreeMap<String, String>) {
    let get = |key: &str| findings.get(key).map(String::as_str).unwrap_or("<missing>");
    for (key, expected) in [
        ("connected", "True"),
        ("subscribed", "True"),
        ("refused_acked", "True"),
        ("allowed_acked", "True"),
        ("allowed_received", "True"),
        ("refused_received", "False"),
        ("disconnects", "0"),
    ] {
        assert_eq!(get(key), expected, "{broker}: {key} ({findings:?})");
    }
}

#[tokio::test]
async fn issue_14_paho_3_1_1_client_keeps_its_connection_after_a_refused_qos1_publish_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    for user in USERS {
        ank_broker::set_password(&passwd, user, &format!("{user}-pw")).unwrap();
    }
    let acl = ank_broker::acl_for_users(&Topics::default(), USERS).unwrap();
    let acl_file = dir.path().join("acl");
    std::fs::write(&acl_file, acl.to_mosquitto()).unwrap();
    let broker = ank_broker::start(BrokerConfig {
        passwd_file: Some(passwd),
        acl_file: Some(acl_file),
        ..BrokerConfig::for_tests()
    })
    .await
    .unwrap();
    let addr = broker.mqtt_addr();
    let findings = tokio::task::spawn_blocking(move || run_paho(addr, "agent-a-pw"))
        .await
        .unwrap();
    assert_paho_kept_its_connection("embedded", &findings);
    broker.stop().await;
}

#[tokio::test]
async fn issue_14_paho_3_1_1_client_keeps_its_connection_after_a_refused_qos1_publish_mosquitto() {
    let dir = tempfile::tempdir().unwrap();
    let acl = ank_broker::acl_for_users(&Topics::default(), USERS).unwrap();
    let acl_file = dir.path().join("acl");
    std::fs::write(&acl_file, acl.to_mosquitto()).unwrap();
    // A large queue limit, not 0 (docs/broker.md: 0 drops a client after a denied publish).
    let mosquitto = start_mosquitto(dir.path(), &acl_file, 1_000_000).await;
    let addr = mosquitto.addr;
    let findings = tokio::task::spawn_blocking(move || run_paho(addr, "unused"))
        .await
        .unwrap();
    assert_paho_kept_its_connection("mosquitto", &findings);
}
