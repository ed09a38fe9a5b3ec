//! The broker's TLS listener, terminated here rather than in mqtt5, so that a client's identity
//! can come from its certificate (issue 13).
//!
//! mqtt5 0.49's own TLS listener verifies client certificates but tells the `AuthProvider`
//! nothing about them: `authenticate` sees only the CONNECT packet and the peer address (its
//! transport knows just "a certificate was provided"). So this file accepts TLS itself (rustls,
//! the CA of `--tls-ca`), reads the DNS names of the client certificate's subjectAltName, and
//! forwards the decrypted stream to mqtt5's loopback listener. Before forwarding a byte it
//! records the forwarding socket's local address with those names in [`TlsPeers`]; the
//! authorizer takes that entry at CONNECT (one CONNECT per connection) and so knows the client
//! came over TLS and which names its certificate proves. Nothing here looks at MQTT.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::config::TlsConfig;
use crate::BrokerError;

/// How long a client may take for its TLS handshake before it is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most DNS names kept from one certificate; more are ignored (a certificate is outside
/// input, even when signed by our CA).
pub(crate) const MAX_CERT_NAMES: usize = 16;
/// The most forwarded connections waiting for their CONNECT; bounded by the connection limit.
const MAX_PENDING_FACTOR: usize = 2;

/// What the TLS front knows about one forwarded connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsPeer {
    /// The DNS names of the client certificate's subjectAltName; empty without a certificate.
    pub names: Vec<String>,
    /// Whether the client presented a (verified) certificate at all.
    pub has_certificate: bool,
}

/// Forwarded connections by the local address of the forwarding socket, as mqtt5 reports the
/// client's address. A std `Mutex`: held for one map operation, never across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct TlsPeers {
    peers: Mutex<HashMap<SocketAddr, TlsPeer>>,
    max: usize,
}

impl TlsPeers {
    pub(crate) fn new(max_connections: usize) -> Self {
        Self {
            peers: Mutex::new(HashMap::new()),
            max: max_connections.saturating_mul(MAX_PENDING_FACTOR).max(1),
        }
    }

    fn insert(&self, addr: SocketAddr, peer: TlsPeer) -> bool {
        let Ok(mut peers) = self.peers.lock() else {
            return false;
        };
        if peers.len() >= self.max {
            return false;
        }
        peers.insert(addr, peer);
        true
    }

    /// The TLS peer behind `addr`, once: a connection has one CONNECT, and a later connection
    /// from the same port must not inherit it.
    pub(crate) fn take(&self, addr: &SocketAddr) -> Option<TlsPeer> {
        self.peers.lock().ok()?.remove(addr)
    }

    fn forget(&self, addr: &SocketAddr) {
        if let Ok(mut peers) = self.peers.lock() {
            peers.remove(addr);
        }
    }
}

/// A running TLS front: dropping it stops accepting and closes every forwarded connection.
#[derive(Debug)]
pub(crate) struct TlsFront {
    addr: SocketAddr,
    _tasks: JoinSet<()>,
}

impl TlsFront {
    /// The bound TLS address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Binds `config.listen` and forwards every TLS client to `inner` (mqtt5's listener).
pub(crate) async fn start(
    config: &TlsConfig,
    inner: SocketAddr,
    peers: Arc<TlsPeers>,
) -> Result<TlsFront, BrokerError> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config(config)?));
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| BrokerError::Bind {
            listener: "tls",
            addr: config.listen,
            reason: e.to_string(),
        })?;
    let addr = listener.local_addr().map_err(|e| BrokerError::Bind {
        listener: "tls",
        addr: config.listen,
        reason: e.to_string(),
    })?;
    let mut tasks = JoinSet::new();
    tasks.spawn(accept_loop(listener, acceptor, inner, peers));
    Ok(TlsFront {
        addr,
        _tasks: tasks,
    })
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    inner: SocketAddr,
    peers: Arc<TlsPeers>,
) {
    // Owned here, so they end when the front is dropped (it aborts this task).
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, from)) => {
                    connections.spawn(forward(stream, from, acceptor.clone(), inner, peers.clone()));
                }
                Err(e) => {
                    warn!("TLS listener: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn forward(
    stream: TcpStream,
    from: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    inner: SocketAddr,
    peers: Arc<TlsPeers>,
) {
    let _ = stream.set_nodelay(true);
    let mut tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            debug!(%from, "TLS handshake refused: {e}");
            return;
        }
        Err(_) => {
            debug!(%from, "TLS handshake timed out");
            return;
        }
    };
    let peer = {
        let (_, session) = tls.get_ref();
        let names = session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(certificate_names)
            .unwrap_or_default();
        TlsPeer {
            has_certificate: session.peer_certificates().is_some_and(|c| !c.is_empty()),
            names,
        }
    };
    let mut upstream = match TcpStream::connect(inner).await {
        Ok(upstream) => upstream,
        Err(e) => {
            warn!(%from, "TLS listener: cannot reach the broker at {inner}: {e}");
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    let Ok(local) = upstream.local_addr() else {
        return;
    };
    if !peers.insert(local, peer) {
        warn!(%from, "TLS listener: too many connections waiting for their CONNECT; dropped");
        return;
    }
    debug!(%from, via = %local, "TLS client forwarded");
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
    // Normally taken at CONNECT already; a client that never sent one leaves it here.
    peers.forget(&local);
}

/// The DNS names of a certificate's subjectAltName, at most [`MAX_CERT_NAMES`].
pub(crate) fn certificate_names(der: &CertificateDer<'_>) -> Vec<String> {
    match webpki::EndEntityCert::try_from(der) {
        Ok(cert) => cert
            .valid_dns_names()
            .take(MAX_CERT_NAMES)
            .map(str::to_owned)
            .collect(),
        Err(e) => {
            debug!("client certificate not parsed: {e:?}");
            Vec::new()
        }
    }
}

fn server_config(config: &TlsConfig) -> Result<rustls::ServerConfig, BrokerError> {
    let tls_error = |path: &Path, reason: String| BrokerError::Tls {
        path: path.to_owned(),
        reason,
    };
    let certs = read_certs(&config.cert_file)?;
    let key = {
        let text = read_private_key(&config.key_file)?;
        PrivateKeyDer::from_pem_slice(&text).map_err(|e| match e {
            pem::Error::NoItemsFound => {
                tls_error(&config.key_file, "no private key in the file".into())
            }
            other => tls_error(&config.key_file, other.to_string()),
        })?
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| BrokerError::Config(format!("TLS: {e}")))?;
    let builder = match &config.ca_file {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(ca)? {
                roots.add(cert).map_err(|e| tls_error(ca, e.to_string()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = if config.require_client_cert {
                verifier.build()
            } else {
                verifier.allow_unauthenticated().build()
            }
            .map_err(|e| tls_error(ca, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None if config.require_client_cert => {
            return Err(BrokerError::Config(
                "require_client_cert needs the CA of client certificates (--tls-ca)".into(),
            ))
        }
        None => builder.with_no_client_auth(),
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| tls_error(&config.cert_file, e.to_string()))
}

/// A private key file's bytes; refused, as ssh does, when group or others may access it
/// (issue 13). The mode is the opened file's.
fn read_private_key(path: &Path) -> Result<Vec<u8>, BrokerError> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let io = |e: std::io::Error| BrokerError::Tls {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mode = file.metadata().map_err(io)?.permissions().mode();
    ank_schemas::check_private_key_mode(&path.display().to_string(), mode)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes)
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, BrokerError> {
    let tls_error = |reason: String| BrokerError::Tls {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read(path).map_err(|e| tls_error(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(tls_error("no certificate in the file".into()));
    }
    Ok(certs)
}
