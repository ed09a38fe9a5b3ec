use std::path::Path;
use std::time::Duration;

use ank_bus::{BusError, ConnectOptions, Session, SessionEvent, TlsFiles};
use ank_system_tests::certs::Ca;
use ank_system_tests::mosquitto::{free_port, Mosquitto};

use crate::harness::{flush, next_event};

/// Throwaway certificates in `dir` (`ank_system_tests::certs`): a CA (`ca`) with a server
/// certificate for 127.0.0.1 (`server`) and a client certificate (`client`), and a CA the broker
/// does not know (`other-ca`) with a client certificate of its own (`stranger`). Each as
/// `<name>.pem` and `<name>.key`.
fn make_certs(dir: &Path) {
    let ca = Ca::new(dir, "ca").expect("a CA");
    let other = Ca::new(dir, "other-ca").expect("another CA");
    ca.issue_server("server").expect("server certificate");
    ca.issue_client("client").expect("client certificate");
    other
        .issue_client("stranger")
        .expect("stranger certificate");
    // Mosquitto started as root drops to its own user, which must read the (throwaway) key.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod key");
}

#[tokio::test]
async fn mqtts_connects_with_a_private_ca_and_refuses_a_wrong_one() {
    let dir = std::env::temp_dir().join(format!("ank-bus-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    make_certs(&dir);
    let port = free_port().expect("port");
    let _broker = Mosquitto::start_with(
        port,
        &format!(
            "cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key",
            dir.display()
        ),
    )
    .expect("mosquitto with TLS");

    let url = format!("mqtts://127.0.0.1:{port}");
    let mut opts = ConnectOptions::from_url(&url, "tls-client").expect("url");
    opts.connect_timeout = Duration::from_secs(3);
    opts.tls = Some(TlsFiles {
        ca: dir.join("ca.pem").into(),
        cert: None,
        key: None,
    });
    let (session, mut events) = Session::connect(opts.clone(), None)
        .await
        .expect("TLS connect");
    next_event(&mut events, Duration::from_secs(1), "Connected", |e| {
        matches!(e, SessionEvent::Connected { .. }).then_some(())
    })
    .await;
    flush(&session, &mut events).await;
    session.shutdown(None).await;

    // The server certificate does not verify against itself as a CA: refused, not hung.
    opts.tls = Some(TlsFiles {
        ca: dir.join("server.pem").into(),
        cert: None,
        key: None,
    });
    let error = Session::connect(opts.clone(), None)
        .await
        .expect_err("wrong CA");
    assert!(
        matches!(error, BusError::BrokerCertificateRefused { .. }),
        "{error:?}"
    );

    // mqtts without a CA, and a missing CA file, are configuration errors.
    opts.tls = None;
    let error = Session::connect(opts.clone(), None)
        .await
        .expect_err("no CA");
    assert!(matches!(error, BusError::TlsConfig(_)), "{error:?}");
    opts.tls = Some(TlsFiles {
        ca: dir.join("missing.pem").into(),
        cert: None,
        key: None,
    });
    let error = Session::connect(opts, None).await.expect_err("missing CA");
    assert!(matches!(error, BusError::TlsFile { .. }), "{error:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn issue_14_a_refused_client_certificate_is_reported_as_refused_not_unreachable() {
    let dir = std::env::temp_dir().join(format!("ank-bus-tls-cc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    make_certs(&dir);
    let port = free_port().expect("port");
    let _broker = Mosquitto::start_with(
        port,
        &format!(
            "cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\n\
             require_certificate true",
            dir.display()
        ),
    )
    .expect("mosquitto with client certificates");
    let url = format!("mqtts://127.0.0.1:{port}");
    let mut opts = ConnectOptions::from_url(&url, "tls-cc-client").expect("url");
    opts.connect_timeout = Duration::from_secs(3);
    let with = |cert: Option<&str>| TlsFiles {
        ca: dir.join("ca.pem").into(),
        cert: cert.map(|c| dir.join(format!("{c}.pem")).into()),
        key: cert.map(|c| dir.join(format!("{c}.key")).into()),
    };

    opts.tls = Some(with(Some("client")));
    let (session, _events) = Session::connect(opts.clone(), None)
        .await
        .expect("a certificate signed by the broker's CA is accepted");
    session.shutdown(None).await;

    for (cert, what) in [(None, "no certificate"), (Some("stranger"), "another CA's")] {
        opts.tls = Some(with(cert));
        let error = Session::connect(opts.clone(), None).await.expect_err(what);
        assert!(
            matches!(error, BusError::ClientCertificateRefused { .. }),
            "{what}: {error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("refused this client's TLS certificate"),
            "{error}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
