//! Under mutual TLS the identity is the certificate's, never a user name the client picks, and
//! with TLS configured the plain listener is off unless asked for (issue 13). Real certificates
//! from a throwaway CA; real MQTT clients (rumqttc with rustls).

use std::net::SocketAddr;
use std::path::Path;

use ank_broker::{BrokerConfig, BrokerHandle, TlsConfig};
use ank_schemas::Topics;
use ank_system_tests::certs::Ca;
use rumqttc::{MqttOptions, TlsConfiguration, Transport};

use crate::harness::{connect, options, options_as, Client};

/// A CA with a server certificate and client certificates for `controller`, `agent-node1` and
/// the CLI user `alice`, each naming its identity (CN and SAN).
fn certificates(dir: &Path) -> Ca {
    let ca = Ca::new(dir, "ca").expect("a CA");
    ca.issue_server("server").expect("server certificate");
    for identity in ["controller", "agent-node1", "alice"] {
        ca.issue_client(identity).expect("client certificate");
    }
    ca
}

/// A broker with mutual TLS and the ACL generated for the three identities.
async fn mtls_broker(dir: &Path, ca: &Ca, extra: impl FnOnce(&mut BrokerConfig)) -> BrokerHandle {
    let acl = ank_broker::acl_for_users(&Topics::default(), ["controller", "agent-node1", "alice"])
        .expect("acl");
    let acl_file = dir.join("acl");
    std::fs::write(&acl_file, acl.to_mosquitto()).expect("write acl");
    let mut config = BrokerConfig {
        tls: Some(TlsConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            cert_file: dir.join("server.pem"),
            key_file: dir.join("server.key"),
            ca_file: Some(ca.cert()),
            require_client_cert: true,
        }),
        acl_file: Some(acl_file),
        ..BrokerConfig::for_tests()
    };
    extra(&mut config);
    ank_broker::start(config).await.expect("the broker starts")
}

/// Options for the TLS listener with `cert`'s certificate (none for `None`).
fn tls_options(dir: &Path, addr: SocketAddr, id: &str, cert: Option<&str>) -> MqttOptions {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let read = |name: String| std::fs::read(dir.join(name)).expect("read a PEM");
    let mut o = options(addr, id);
    o.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
        ca: read("ca.pem".into()),
        alpn: None,
        client_auth: cert.map(|c| (read(format!("{c}.pem")), read(format!("{c}.key")))),
    }));
    o
}

fn with_user(mut o: MqttOptions, user: &str) -> MqttOptions {
    o.set_credentials(user, "");
    o
}

async fn refused(o: MqttOptions, what: &str) {
    let result: Result<Client, String> = connect(o).await;
    assert!(result.is_err(), "{what}: accepted");
}

#[tokio::test]
async fn issue_13_a_cli_users_certificate_with_user_name_controller_cannot_act_as_the_controller() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = certificates(dir.path());
    let broker = mtls_broker(dir.path(), &ca, |_| {}).await;
    let tls = broker.tls_addr().expect("a TLS listener");
    let d = dir.path();

    // Before: the ACL saw the claimed user name, so alice's certificate + `controller` could
    // write agents' desired snapshots. Now the certificate must name the user.
    refused(
        with_user(
            tls_options(d, tls, "controller", Some("alice")),
            "controller",
        ),
        "alice's certificate as controller",
    )
    .await;
    refused(
        with_user(
            tls_options(d, tls, "agent-node1", Some("alice")),
            "agent-node1",
        ),
        "alice's certificate as the agent",
    )
    .await;
    // Without a user name, the certificate's one name is the identity; the client id follows.
    refused(
        tls_options(d, tls, "controller", Some("alice")),
        "alice's certificate with the controller's client id",
    )
    .await;
    refused(tls_options(d, tls, "nobody", None), "no certificate").await;

    let _alice = connect(tls_options(d, tls, "alice.cli-1", Some("alice")))
        .await
        .expect("alice's certificate is alice");
    let _alice_named = connect(with_user(
        tls_options(d, tls, "alice.cli-2", Some("alice")),
        "alice",
    ))
    .await
    .expect("alice's certificate with user name alice");
    let _controller = connect(with_user(
        tls_options(d, tls, "controller", Some("controller")),
        "controller",
    ))
    .await
    .expect("the controller's certificate is the controller");
    let _agent = connect(tls_options(d, tls, "agent-node1", Some("agent-node1")))
        .await
        .expect("the agent's certificate names the agent");
    broker.stop().await;
}

#[tokio::test]
async fn issue_13_with_tls_the_plain_listener_is_off_unless_asked_for() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = certificates(dir.path());
    let d = dir.path();
    let broker = mtls_broker(d, &ca, |_| {}).await;
    assert_eq!(broker.plain_addr(), None, "no plain listener for clients");
    // mqtt5's own port is loopback only and refuses every client but the in-process one.
    let inner = broker.mqtt_addr();
    refused(options(inner, "anon"), "no credentials on the inner port").await;
    refused(
        options_as(inner, "controller", "controller", "guess"),
        "a guessed password on the inner port",
    )
    .await;
    let (user, password) = broker.internal_login();
    let _controller = connect(options_as(inner, "controller", user, password))
        .await
        .expect("the in-process login");
    broker.stop().await;

    // Asked for, the plain listener needs a password file, and then requires a login.
    let error = ank_broker::start(BrokerConfig {
        plain_with_tls: true,
        ..mtls_config(d, &ca)
    })
    .await
    .expect_err("a plain listener beside TLS without passwords");
    assert!(error.to_string().contains("--passwd"), "{error}");
    let passwd = d.join("passwd");
    ank_broker::set_password(&passwd, "alice", "alice-pw").expect("passwd");
    let broker = ank_broker::start(BrokerConfig {
        plain_with_tls: true,
        passwd_file: Some(passwd),
        ..mtls_config(d, &ca)
    })
    .await
    .expect("plain beside TLS with passwords");
    let plain = broker.plain_addr().expect("the plain listener, asked for");
    refused(
        options(plain, "anon"),
        "no credentials on the plain listener",
    )
    .await;
    let _alice = connect(options_as(plain, "alice", "alice", "alice-pw"))
        .await
        .expect("a password login on the plain listener");
    broker.stop().await;
}

fn mtls_config(dir: &Path, ca: &Ca) -> BrokerConfig {
    BrokerConfig {
        tls: Some(TlsConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            cert_file: dir.join("server.pem"),
            key_file: dir.join("server.key"),
            ca_file: Some(ca.cert()),
            require_client_cert: true,
        }),
        ..BrokerConfig::for_tests()
    }
}
