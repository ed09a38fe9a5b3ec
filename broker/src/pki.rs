//! A certificate authority for ankmq's mutual TLS (issue 13): one CA, a server certificate for
//! the broker's addresses, and client certificates that name an identity.
//!
//! `ank-broker setup` (setup.rs) and the TLS tests issue their certificates here, so what the
//! tests prove is what users deploy. A client certificate names its identity twice: as subject
//! CN, which Mosquitto's `use_identity_as_username` reads, and as subjectAltName DNS entry, which
//! the embedded broker's TLS front reads (tls_front.rs). Keys are ECDSA P-256 (rcgen's default,
//! read by rustls and OpenSSL alike). Returns PEM text and writes nothing: files are setup.rs's.

use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A name cannot go into a certificate (not a valid DNS name or IP address).
    #[error("`{name}` cannot be a certificate name: {source}")]
    Name {
        /// The name as given.
        name: String,
        /// What rcgen said.
        #[source]
        source: rcgen::Error,
    },
    /// Key generation or signing failed.
    #[error("cannot make the certificate `{what}`")]
    Sign {
        /// Which certificate.
        what: String,
        /// What rcgen said.
        #[source]
        source: rcgen::Error,
    },
}

/// A certificate and its private key, as PEM text.
#[derive(Debug, Clone)]
pub struct IssuedPem {
    /// The certificate (`-----BEGIN CERTIFICATE-----`).
    pub cert: String,
    /// Its private key, PKCS#8, unencrypted: store it 0600.
    pub key: String,
}

/// A self-signed CA that signs server and client certificates.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    pem: IssuedPem,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

/// The validity window: from a day ago (clocks of ECUs drift) for `valid_for`.
fn validity(params: &mut CertificateParams, valid_for: Duration) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + valid_for;
}

fn sign_error(what: &str) -> impl FnOnce(rcgen::Error) -> PkiError + '_ {
    move |source| PkiError::Sign {
        what: what.to_owned(),
        source,
    }
}

impl CertificateAuthority {
    /// A new CA whose subject CN is `common_name`, valid for `valid_for`.
    pub fn generate(common_name: &str, valid_for: Duration) -> Result<Self, PkiError> {
        let key = KeyPair::generate().map_err(sign_error(common_name))?;
        let mut params = CertificateParams::default();
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, common_name);
        params.distinguished_name = subject;
        // pathlen 0: it signs end-entity certificates only.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, valid_for);
        let cert = params.self_signed(&key).map_err(sign_error(common_name))?;
        let pem = IssuedPem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        };
        Ok(Self {
            issuer: Issuer::new(params, key),
            pem,
        })
    }

    /// The CA's certificate and key.
    pub fn pem(&self) -> &IssuedPem {
        &self.pem
    }

    /// A server certificate for `names` (DNS names or IP addresses, e.g. `127.0.0.1`,
    /// `localhost`), CN the first name.
    pub fn issue_server(
        &self,
        names: &[String],
        valid_for: Duration,
    ) -> Result<IssuedPem, PkiError> {
        let first = names.first().map(String::as_str).unwrap_or("ank-broker");
        let mut params = params_for(names)?;
        params.distinguished_name.push(DnType::CommonName, first);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, first, valid_for)
    }

    /// A client certificate proving `identity` (`controller`, `agent-<name>`, a CLI user,
    /// `viewer`): CN and subjectAltName DNS are both `identity`.
    pub fn issue_client(&self, identity: &str, valid_for: Duration) -> Result<IssuedPem, PkiError> {
        let mut params = params_for(&[identity.to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, identity);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, identity, valid_for)
    }

    fn sign(
        &self,
        mut params: CertificateParams,
        what: &str,
        valid_for: Duration,
    ) -> Result<IssuedPem, PkiError> {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, valid_for);
        let key = KeyPair::generate().map_err(sign_error(what))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(sign_error(what))?;
        Ok(IssuedPem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }
}

fn params_for(names: &[String]) -> Result<CertificateParams, PkiError> {
    for name in names {
        CertificateParams::new(vec![name.clone()]).map_err(|source| PkiError::Name {
            name: name.clone(),
            source,
        })?;
    }
    let mut params = CertificateParams::new(names.to_vec()).map_err(|source| PkiError::Name {
        name: names.join(","),
        source,
    })?;
    params.distinguished_name = DistinguishedName::new();
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn a_client_certificate_names_its_identity_as_the_tls_front_reads_it() {
        let ca = CertificateAuthority::generate("ank-test-ca", DAY).expect("CA");
        let issued = ca.issue_client("agent-node1", DAY).expect("client");
        let der = CertificateDer::from_pem_slice(issued.cert.as_bytes()).expect("PEM");
        assert_eq!(
            crate::tls_front::certificate_names(&der),
            vec!["agent-node1".to_owned()]
        );
        assert!(issued.key.contains("PRIVATE KEY"));
    }

    #[test]
    fn a_name_that_cannot_be_in_a_certificate_is_refused_naming_it() {
        let ca = CertificateAuthority::generate("ank-test-ca", DAY).expect("CA");
        let error = ca.issue_client("nämé", DAY).expect_err("refused");
        assert!(error.to_string().contains("`nämé`"), "{error}");
    }
}
