//! Throwaway X.509 certificates for TLS tests, made with the `openssl` CLI: a CA, and
//! certificates it signs with the names a test needs. One helper for every crate's TLS tests
//! (bus, broker, system) instead of spelled-out openssl calls.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// A CA in a directory; [`Ca::issue`] signs certificates with it.
pub struct Ca {
    dir: PathBuf,
    name: String,
}

/// A certificate and its key, as PEM files.
pub struct Issued {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, unencrypted).
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("the openssl CLI is installed (scripts/test-env.sh)")?;
    if !out.status.success() {
        bail!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

impl Ca {
    /// A new self-signed CA `<name>.pem`/`<name>.key` in `dir`.
    pub fn new(dir: &Path, name: &str) -> Result<Self> {
        let subject = format!("/CN=ank-{name}");
        let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
        openssl(
            dir,
            &[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", &subject,
                "-keyout", &key, "-out", &pem,
            ],
        )?;
        Ok(Self {
            dir: dir.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The CA certificate (PEM).
    pub fn cert(&self) -> PathBuf {
        self.dir.join(format!("{}.pem", self.name))
    }

    /// Signs `<name>.pem`/`<name>.key` with subject CN `cn` and the X.509 v3 `extensions`
    /// (e.g. `subjectAltName=DNS:alice` and `extendedKeyUsage=clientAuth`, one per line).
    pub fn issue(&self, name: &str, cn: &str, extensions: &str) -> Result<Issued> {
        let ext = format!("{name}.ext");
        std::fs::write(self.dir.join(&ext), extensions).context("writing the extension file")?;
        let (subject, key, csr, pem) = (
            format!("/CN={cn}"),
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        openssl(
            &self.dir,
            &[
                "req", "-newkey", "rsa:2048", "-nodes", "-subj", &subject, "-keyout", &key, "-out",
                &csr,
            ],
        )?;
        let (ca_pem, ca_key) = (format!("{}.pem", self.name), format!("{}.key", self.name));
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                &ext,
                "-out",
                &pem,
            ],
        )?;
        Ok(Issued {
            cert: self.dir.join(pem),
            key: self.dir.join(key),
        })
    }

    /// A server certificate for 127.0.0.1.
    pub fn issue_server(&self, name: &str) -> Result<Issued> {
        self.issue(name, name, "subjectAltName=IP:127.0.0.1\n")
    }

    /// A client certificate naming `identity` as CN and as subjectAltName DNS entry, as both the
    /// embedded broker (SAN) and Mosquitto's `use_identity_as_username` (CN) read it.
    pub fn issue_client(&self, identity: &str) -> Result<Issued> {
        self.issue(
            identity,
            identity,
            &format!("subjectAltName=DNS:{identity}\nextendedKeyUsage=clientAuth\n"),
        )
    }
}
