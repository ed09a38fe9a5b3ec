//! Throwaway X.509 certificates for TLS tests, issued by the same code as `ank-broker setup`
//! (`ank_broker::CertificateAuthority`), so the tests use what users deploy: a CA, and
//! certificates it signs with the names a test needs. One helper for every crate's TLS tests
//! (bus, broker, system).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ank_broker::{CertificateAuthority, IssuedPem};
use anyhow::{Context, Result};

/// Certificates in tests live a day.
const VALID_FOR: Duration = Duration::from_secs(86_400);

/// A CA in a directory; [`Ca::issue_server`] and [`Ca::issue_client`] sign certificates with it.
pub struct Ca {
    dir: PathBuf,
    name: String,
    ca: CertificateAuthority,
}

/// A certificate and its key, as PEM files.
pub struct Issued {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, unencrypted, mode 0600).
    pub key: PathBuf,
}

impl Ca {
    /// A new self-signed CA `<name>.pem`/`<name>.key` in `dir`.
    pub fn new(dir: &Path, name: &str) -> Result<Self> {
        let ca = CertificateAuthority::generate(&format!("ank-{name}"), VALID_FOR)?;
        let ca = Self {
            dir: dir.to_owned(),
            name: name.to_owned(),
            ca,
        };
        ca.write(name, ca.ca.pem())?;
        Ok(ca)
    }

    /// The CA certificate (PEM).
    pub fn cert(&self) -> PathBuf {
        self.dir.join(format!("{}.pem", self.name))
    }

    fn write(&self, name: &str, issued: &IssuedPem) -> Result<Issued> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let (cert, key) = (
            self.dir.join(format!("{name}.pem")),
            self.dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert, &issued.cert)
            .with_context(|| format!("writing {}", cert.display()))?;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&key)
            .and_then(|mut file| file.write_all(issued.key.as_bytes()))
            .with_context(|| format!("writing {}", key.display()))?;
        Ok(Issued { cert, key })
    }

    /// A server certificate `<name>.pem`/`<name>.key` for 127.0.0.1.
    pub fn issue_server(&self, name: &str) -> Result<Issued> {
        let issued = self.ca.issue_server(&["127.0.0.1".to_owned()], VALID_FOR)?;
        self.write(name, &issued)
    }

    /// A client certificate `<identity>.pem`/`<identity>.key` naming `identity` as CN and as
    /// subjectAltName DNS entry, as both the embedded broker (SAN) and Mosquitto's
    /// `use_identity_as_username` (CN) read it.
    pub fn issue_client(&self, identity: &str) -> Result<Issued> {
        let issued = self.ca.issue_client(identity, VALID_FOR)?;
        self.write(identity, &issued)
    }
}
