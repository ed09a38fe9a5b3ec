//! How to reach the broker: parsed from a URL, completed by flags (TLS files, credentials).
//!
//! Only `mqtt://` and `mqtts://` are accepted: one spelling per transport, so a typo fails here
//! with a clear message instead of as a connection error later. Nothing here touches the network.

use std::path::PathBuf;
use std::time::Duration;

use ank_schemas::topics::Topics;

use crate::error::BusError;

/// The default port of `mqtt://`.
pub const MQTT_PORT: u16 = 1883;
/// The default port of `mqtts://`.
pub const MQTTS_PORT: u16 = 8883;
/// The default [`ConnectOptions::publish_limit`]: the embedded broker's default packet limit
/// (1 MiB). A client of a broker that takes more raises it; the controller sets its
/// `--max-message-size`.
pub const DEFAULT_PUBLISH_LIMIT: usize = 1024 * 1024;

/// One PEM document: a file, or its text inline (Ankaios' `*_pem_content` config keys).
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    /// A PEM file, read when the session connects.
    File(PathBuf),
    /// The PEM text itself.
    Inline(String),
}

impl std::fmt::Debug for Pem {
    // Inline PEM may be a private key: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pem::File(path) => write!(f, "File({})", path.display()),
            Pem::Inline(_) => f.write_str("Inline(..)"),
        }
    }
}

impl From<PathBuf> for Pem {
    fn from(path: PathBuf) -> Self {
        Pem::File(path)
    }
}

impl Pem {
    /// The PEM bytes; a file is read now.
    pub fn read(&self) -> Result<Vec<u8>, BusError> {
        match self {
            Pem::File(path) => std::fs::read(path).map_err(|source| BusError::TlsFile {
                path: path.clone(),
                source,
            }),
            Pem::Inline(text) => Ok(text.as_bytes().to_vec()),
        }
    }

    /// The bytes of a private key: as [`Pem::read`], but a file that group or others may
    /// access is refused, as ssh does (issue 13). The mode is taken from the opened file, so
    /// it is the file that is read.
    pub fn read_private_key(&self) -> Result<Vec<u8>, BusError> {
        let Pem::File(path) = self else {
            return self.read();
        };
        use std::io::Read;
        use std::os::unix::fs::PermissionsExt;
        let io = |source| BusError::TlsFile {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let mode = file.metadata().map_err(io)?.permissions().mode();
        ank_schemas::check_private_key_mode(&path.display().to_string(), mode)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        Ok(bytes)
    }
}

impl TlsFiles {
    /// The identity the client certificate proves: the first DNS name of its subjectAltName,
    /// which the embedded broker takes as the login (and Mosquitto with
    /// `use_identity_as_username` its CN, which `ank-broker setup` makes the same). `None`
    /// without a client certificate. A program derives its user name and client id from it, so
    /// `ank` needs no `--username` under mutual TLS (issue 13).
    pub fn certificate_identity(&self) -> Result<Option<String>, BusError> {
        let Some(cert) = &self.cert else {
            return Ok(None);
        };
        let bad = |reason: String| BusError::TlsIdentity {
            cert: format!("{cert:?}"),
            reason,
        };
        let pem = cert.read()?;
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
            .next()
            .ok_or_else(|| bad("no certificate in it".into()))?
            .map_err(|e| bad(e.to_string()))?;
        let parsed = webpki::EndEntityCert::try_from(&der).map_err(|e| bad(format!("{e:?}")))?;
        let name = parsed.valid_dns_names().next().map(str::to_owned);
        match name {
            Some(name) if ank_schemas::is_valid_name(&name) => Ok(Some(name)),
            Some(name) => Err(bad(format!(
                "its first subjectAltName DNS name `{}` is not an identity ([A-Za-z0-9_-], at most 63); give --username",
                crate::log_limit::excerpt(&name)
            ))),
            None => Err(bad(
                "it names no identity (no subjectAltName DNS name); give --username".into(),
            )),
        }
    }
}

/// PEM material for a TLS connection (`mqtts://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA that signed the broker's certificate. Required: vehicle brokers use private CAs,
    /// and silently trusting the system store would hide a misconfiguration.
    pub ca: Pem,
    /// The client certificate, for brokers that authenticate clients by certificate.
    pub cert: Option<Pem>,
    /// The client certificate's private key; given exactly when `cert` is.
    pub key: Option<Pem>,
}

/// Everything needed to open a session. Build it with [`ConnectOptions::from_url`], then set
/// fields for what a URL does not carry.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Host name or IP address of the broker (IPv6 in brackets).
    pub host: String,
    /// TCP port of the broker.
    pub port: u16,
    /// `true` for `mqtts://`: the connection must use TLS with [`ConnectOptions::tls`].
    pub secure: bool,
    /// TLS files; required when `secure`, refused otherwise.
    pub tls: Option<TlsFiles>,
    /// MQTT user name, if the broker wants one.
    pub username: Option<String>,
    /// MQTT password; sent only with a user name.
    pub password: Option<String>,
    /// The MQTT client id, also the name of this client's reply and sync topics, hence
    /// restricted to 1..=63 characters of `[A-Za-z0-9_-]`.
    pub client_id: String,
    /// The topic tree (prefix) this client lives in: reply and sync topics are built from it.
    pub topics: Topics,
    /// MQTT keep-alive. A silently dead client's will fires after about 1.5 times this.
    pub keep_alive: Duration,
    /// How long [`crate::Session::connect`] waits for the first CONNACK, and each later attempt
    /// for its own.
    pub connect_timeout: Duration,
    /// How long a retained read waits for its end marker.
    pub read_timeout: Duration,
    /// Largest MQTT packet sent or accepted. rumqttc's default (10 KiB) is too small for a
    /// desired-state snapshot.
    pub max_packet_size: usize,
    /// The largest packet the broker accepts from this client, when lower than
    /// `max_packet_size`: [`crate::Session::publish`] refuses a larger publish instead of letting
    /// the broker close the connection over it. Incoming packets keep `max_packet_size`, so a
    /// large retained message from someone else cannot cut this client off. Default
    /// [`DEFAULT_PUBLISH_LIMIT`]; `None` means `max_packet_size`.
    pub publish_limit: Option<usize>,
    /// Shortest reconnect delay (the first retry waits between this and twice this).
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
}

impl ConnectOptions {
    /// Options for `mqtt://host[:port]` (default port 1883) or `mqtts://host[:port]` (8883),
    /// optionally with `user:password@` before the host. Everything else keeps its default:
    /// prefix `ank/v1`, keep-alive 10 s, connect timeout 5 s, read timeout 10 s, packets up to
    /// 16 MiB received and 1 MiB published, reconnect delays between 100 ms and 5 s.
    pub fn from_url(url: &str, client_id: &str) -> Result<Self, BusError> {
        let invalid = |reason| BusError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|_| invalid("not a URL (mqtt://host:port)"))?;
        let (secure, default_port) = match parsed.scheme() {
            "mqtt" => (false, MQTT_PORT),
            "mqtts" => (true, MQTTS_PORT),
            _ => return Err(invalid("the scheme must be mqtt:// or mqtts://")),
        };
        let host = match parsed.host_str() {
            Some(host) if !host.is_empty() => host.to_owned(),
            _ => return Err(invalid("no host")),
        };
        if !matches!(parsed.path(), "" | "/") {
            return Err(invalid("a broker URL has no path"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid("a broker URL has no query or fragment"));
        }
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let username = (!parsed.username().is_empty()).then(|| decode(parsed.username()));
        let password = parsed.password().map(decode);
        if password.is_some() && username.is_none() {
            return Err(invalid("a password needs a user name"));
        }
        check_client_id(client_id)?;
        Ok(Self {
            host,
            port: parsed.port().unwrap_or(default_port),
            secure,
            tls: None,
            username,
            password,
            client_id: client_id.to_owned(),
            topics: Topics::default(),
            keep_alive: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            max_packet_size: 16 * 1024 * 1024,
            publish_limit: Some(DEFAULT_PUBLISH_LIMIT),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
        })
    }

    /// The largest PUBLISH packet this client sends: `publish_limit`, at most `max_packet_size`.
    pub fn publish_packet_limit(&self) -> usize {
        self.publish_limit
            .map_or(self.max_packet_size, |l| l.min(self.max_packet_size))
    }

    /// The broker as a URL, for messages (never contains the credentials).
    pub fn url(&self) -> String {
        let scheme = if self.secure { "mqtts" } else { "mqtt" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

/// Client ids name topics (`{p}/responses/{id}`), so they follow the topic name rules.
pub(crate) fn check_client_id(client_id: &str) -> Result<(), BusError> {
    ank_schemas::ClientId::new(client_id)
        .map(drop)
        .map_err(|e| BusError::InvalidClientId(e.shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_url_accepts_the_documented_forms() {
        // (url, host, port, secure, username, password)
        type Case<'a> = (
            &'a str,
            &'a str,
            u16,
            bool,
            Option<&'a str>,
            Option<&'a str>,
        );
        let cases: &[Case] = &[
            ("mqtt://localhost", "localhost", 1883, false, None, None),
            ("mqtt://localhost/", "localhost", 1883, false, None, None),
            (
                "mqtt://127.0.0.1:1884",
                "127.0.0.1",
                1884,
                false,
                None,
                None,
            ),
            (
                "mqtts://broker.example",
                "broker.example",
                8883,
                true,
                None,
                None,
            ),
            (
                "mqtts://broker.example:443",
                "broker.example",
                443,
                true,
                None,
                None,
            ),
            ("mqtt://[::1]:1883", "[::1]", 1883, false, None, None),
            (
                "mqtt://ecu:s3cret@host:1",
                "host",
                1,
                false,
                Some("ecu"),
                Some("s3cret"),
            ),
            ("mqtt://ecu@host", "host", 1883, false, Some("ecu"), None),
            (
                "mqtt://a%40b:p%3Aw@host",
                "host",
                1883,
                false,
                Some("a@b"),
                Some("p:w"),
            ),
        ];
        for &(url, host, port, secure, user, pass) in cases {
            let opts = ConnectOptions::from_url(url, "cli-1").expect(url);
            assert_eq!(opts.host, host, "{url}");
            assert_eq!(opts.port, port, "{url}");
            assert_eq!(opts.secure, secure, "{url}");
            assert_eq!(opts.username.as_deref(), user, "{url}");
            assert_eq!(opts.password.as_deref(), pass, "{url}");
            assert_eq!(opts.client_id, "cli-1");
            assert!(
                !opts.url().contains('@'),
                "{url}: credentials leak into messages"
            );
        }
    }

    #[test]
    fn from_url_refuses_what_it_cannot_honour() {
        let cases = [
            ("", "not a URL"),
            ("localhost:1883", "scheme"),
            ("tcp://localhost:1883", "scheme"),
            ("http://localhost", "scheme"),
            ("ws://localhost", "scheme"),
            ("mqtt://", "no host"),
            ("mqtt://host:99999", "not a URL"),
            ("mqtt://host/ank", "no path"),
            ("mqtt://host?client_id=x", "no query"),
            ("mqtt://host#x", "no query"),
            ("mqtt://:pw@host", "needs a user name"),
        ];
        for (url, reason) in cases {
            match ConnectOptions::from_url(url, "cli-1") {
                Err(BusError::InvalidUrl { reason: got, .. }) => {
                    assert!(got.contains(reason), "{url}: {got}")
                }
                other => panic!("{url}: expected InvalidUrl, got {other:?}"),
            }
        }
    }

    #[test]
    fn client_ids_must_be_topic_names() {
        for good in ["a", "cli-1", "agent_A", "alice.r1", &"x".repeat(127)] {
            assert!(ConnectOptions::from_url("mqtt://h", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a/b",
            "a+b",
            "a#",
            "é",
            "a b",
            "a.b.c",
            &"x".repeat(128),
        ] {
            assert!(
                matches!(
                    ConnectOptions::from_url("mqtt://h", bad),
                    Err(BusError::InvalidClientId(_))
                ),
                "{bad}"
            );
        }
    }
}
