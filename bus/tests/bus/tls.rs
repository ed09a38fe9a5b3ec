use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ank_bus::{BusError, ConnectOptions, Session, SessionEvent, TlsFiles};
use ank_system_tests::mosquitto::{free_port, Mosquitto};

use crate::harness::{flush, next_event};

/// A throwaway CA and a server certificate for 127.0.0.1, made with the `openssl` CLI.
fn make_certs(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl CLI is installed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=ank-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").expect("write ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
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
        ca: dir.join("ca.pem"),
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
        ca: dir.join("server.pem"),
        cert: None,
        key: None,
    });
    let error = Session::connect(opts.clone(), None)
        .await
        .expect_err("wrong CA");
    assert!(matches!(error, BusError::Unreachable { .. }), "{error:?}");

    // mqtts without a CA, and a missing CA file, are configuration errors.
    opts.tls = None;
    let error = Session::connect(opts.clone(), None)
        .await
        .expect_err("no CA");
    assert!(matches!(error, BusError::TlsConfig(_)), "{error:?}");
    opts.tls = Some(TlsFiles {
        ca: dir.join("missing.pem"),
        cert: None,
        key: None,
    });
    let error = Session::connect(opts, None).await.expect_err("missing CA");
    assert!(matches!(error, BusError::TlsFile { .. }), "{error:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
