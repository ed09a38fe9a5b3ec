//! Start and stop: the port is free when `stop()` returns, bind errors are clear.

use crate::harness::{client, WAIT};
use ank_broker::{BrokerConfig, BrokerError};
use std::time::{Duration, Instant};

#[tokio::test]
async fn stop_frees_the_port_and_a_new_broker_binds_it_at_once_twenty_times() {
    let first = ank_broker::start(BrokerConfig::for_tests()).await.unwrap();
    let addr = first.mqtt_addr();
    assert_ne!(addr.port(), 0, "port 0 is reported as the bound port");
    first.stop().await;

    let mut slowest = Duration::ZERO;
    for round in 0..20 {
        let broker = ank_broker::start(BrokerConfig {
            listen: addr,
            ..BrokerConfig::for_tests()
        })
        .await
        .unwrap_or_else(|e| panic!("round {round}: rebinding {addr} failed: {e}"));
        assert_eq!(broker.mqtt_addr(), addr);
        // A connected client must not keep the port (or the broker) alive.
        let mut c = client(addr, &format!("round-{round}")).await;
        c.publish("t/lifecycle", b"x", false).await;
        let started = Instant::now();
        broker.stop().await;
        slowest = slowest.max(started.elapsed());
        assert!(
            std::net::TcpListener::bind(addr).is_ok(),
            "round {round}: port still bound after stop()"
        );
    }
    eprintln!("slowest stop() with one connected client: {slowest:?}");
    assert!(slowest < WAIT);
}

#[tokio::test]
async fn a_taken_port_is_a_bind_error_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = ank_broker::start(BrokerConfig {
        listen: addr,
        ..BrokerConfig::for_tests()
    })
    .await
    .expect_err("the port is taken");
    assert!(
        matches!(
            err,
            BrokerError::Bind {
                listener: "mqtt",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn a_missing_auth_file_is_an_error_naming_the_file() {
    for config in [
        BrokerConfig {
            passwd_file: Some("/nonexistent/passwd".into()),
            ..BrokerConfig::for_tests()
        },
        BrokerConfig {
            acl_file: Some("/nonexistent/acl".into()),
            ..BrokerConfig::for_tests()
        },
    ] {
        let err = ank_broker::start(config).await.expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/"), "{err}");
    }
}
