//! The broker's authentication and authorization: our password file plus our ACL rules,
//! plugged into mqtt5 as one `AuthProvider`.
//!
//! We replace mqtt5's own providers for two reasons: its ACL format has no `%c`, so it cannot
//! express "only your own `responses/<clientId>`" (see `acl_rules.rs`), and its password check
//! runs argon2 on the async runtime, stalling every connection for the length of a hash. Here
//! argon2 runs on tokio's blocking pool. We also do not use mqtt5's per-IP login lockout: on a
//! vehicle every local client shares 127.0.0.1, so one misconfigured client would lock out all.
//!
//! It is also the broker's event handler, for one reason: mqtt5 0.49 answers a publish that
//! `authorize_publish` refuses with an MQTT 5 PUBACK (reason code 0x87) even on an MQTT 3.1.1
//! session, which 3.1.1 clients such as paho treat as a protocol error and disconnect (issue 14,
//! docs/broker.md "Known defects"). So for 3.1.1 sessions `authorize_publish` lets the publish
//! pass and [`BrokerEventHandler::on_client_publish`] drops it as `Handled`, which mqtt5 answers
//! with a plain 3.1.1 PUBACK: ack and drop, as MQTT 3.1.1 §4.4 allows and Mosquitto does. MQTT 5
//! sessions keep the 0x87 refusal. Because a Last Will is authorized by the same
//! `authorize_publish` call, a will is checked against the ACL when the client connects, and a
//! CONNECT with a will the ACL refuses gets CONNACK "not authorized".

use crate::acl_rules::AclRules;
use crate::passwd::PasswordFile;
use crate::storage_guard::Space;
use crate::tls_front::{TlsPeer, TlsPeers};
use mqtt5::broker::auth::{AuthProvider, AuthResult};
use mqtt5::broker::events::{
    BrokerEventHandler, ClientDisconnectEvent, ClientPublishEvent, PublishAction,
};
use mqtt5::packet::connect::ConnectPacket;
use mqtt5::protocol::v5::reason_codes::ReasonCode;
use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tracing::{debug, warn};

/// The protocol level of MQTT 5 in a CONNECT packet (3.1.1 is 4).
const MQTT_5: u8 = 5;

/// Authentication (when a password file is given) and authorization (when ACL rules are given).
#[derive(Debug, Default)]
pub(crate) struct Authorizer {
    passwords: Option<Arc<PasswordFile>>,
    acl: Option<Arc<AclRules>>,
    /// Client ids of connected MQTT 5 sessions, which may be told "not authorized" in a PUBACK.
    /// A std `Mutex`: held for one set operation, never across an `.await`. Bounded by
    /// `max_mqtt5_sessions`; a client id missing from it (set full, or removed by the disconnect
    /// of a session it took over) is treated as 3.1.1, which is safe for both protocols.
    mqtt5_sessions: Mutex<HashSet<String>>,
    max_mqtt5_sessions: usize,
    /// The storage's space reserve, released before a session or retained write on a full disk.
    space: Option<Arc<Space>>,
    /// Whether clients may log in on mqtt5's listener directly (false: TLS only, issue 13).
    plain_open: bool,
    /// Connections the TLS front forwarded, with their certificate's names.
    tls_peers: Option<Arc<TlsPeers>>,
    /// The in-process login, accepted on mqtt5's listener even when it is closed to clients.
    internal_login: Option<(String, String)>,
}

impl Authorizer {
    /// `max_sessions` bounds the bookkeeping of MQTT 5 sessions (the broker's connection limit).
    pub(crate) fn new(
        passwords: Option<PasswordFile>,
        acl: Option<AclRules>,
        max_sessions: usize,
    ) -> Self {
        Self {
            passwords: passwords.map(Arc::new),
            acl: acl.map(Arc::new),
            mqtt5_sessions: Mutex::new(HashSet::new()),
            max_mqtt5_sessions: max_sessions,
            space: None,
            plain_open: true,
            tls_peers: None,
            internal_login: None,
        }
    }

    /// Which listener a client came from decides how it is authenticated: over TLS with a
    /// certificate, its identity is a name the certificate proves; directly on mqtt5's listener
    /// only while `plain_open`, or with the in-process `internal_login`.
    pub(crate) fn with_listeners(
        mut self,
        plain_open: bool,
        tls_peers: Option<Arc<TlsPeers>>,
        internal_login: (String, String),
    ) -> Self {
        self.plain_open = plain_open;
        self.tls_peers = tls_peers;
        self.internal_login = Some(internal_login);
        self
    }

    /// Also guard the storage's space (storage_guard.rs) on every CONNECT and retained publish.
    pub(crate) fn with_space(mut self, space: Option<Arc<Space>>) -> Self {
        self.space = space;
        self
    }

    fn release_space_if_full(&self) {
        if let Some(space) = &self.space {
            space.release_if_full();
        }
    }

    fn acl_allows_publish(&self, client_id: &str, user_id: Option<&str>, topic: &str) -> bool {
        self.acl
            .as_ref()
            .is_none_or(|acl| acl.allows_publish(user_id, client_id, topic))
    }

    fn is_mqtt5(&self, client_id: &str) -> bool {
        self.mqtt5_sessions
            .lock()
            .is_ok_and(|sessions| sessions.contains(client_id))
    }

    fn note_protocol(&self, connect: &ConnectPacket) {
        let Ok(mut sessions) = self.mqtt5_sessions.lock() else {
            return;
        };
        if connect.protocol_version != MQTT_5 {
            sessions.remove(&connect.client_id);
        } else if sessions.len() < self.max_mqtt5_sessions {
            sessions.insert(connect.client_id.clone());
        } else {
            debug!(client_id = %connect.client_id, "MQTT 5 session not tracked: refused publishes get a plain PUBACK");
        }
    }

    async fn check_login(&self, connect: &ConnectPacket, from: SocketAddr) -> AuthResult {
        let tls_peer = self.tls_peers.as_ref().and_then(|peers| peers.take(&from));
        let login = match tls_peer {
            Some(peer) if peer.has_certificate => check_certificate(connect, &peer),
            // TLS without a client certificate (not required): a password login, as on plain.
            Some(_) => self.check_password(connect).await,
            None if self.is_internal_login(connect) => {
                AuthResult::success_with_user(connect.username.clone().unwrap_or_default())
            }
            None if !self.plain_open => {
                warn!(client_id = %shown(&connect.client_id), %from, "refused: the plain listener is off (TLS is configured); connect over TLS");
                return AuthResult::fail(ReasonCode::NotAuthorized);
            }
            None => self.check_password(connect).await,
        };
        if !login.authenticated {
            return login;
        }
        if let Some(will) = &connect.will {
            let user = login.user_id.as_deref();
            if !self.acl_allows_publish(&connect.client_id, user, &will.topic) {
                warn!(client_id = %connect.client_id, user = ?user, topic = %will.topic, "refused: the ACL does not allow this Last Will topic");
                return AuthResult::fail(ReasonCode::NotAuthorized);
            }
        }
        self.note_protocol(connect);
        // mqtt5 writes the session right after this returns.
        self.release_space_if_full();
        login
    }

    fn is_internal_login(&self, connect: &ConnectPacket) -> bool {
        match (&self.internal_login, &connect.username, &connect.password) {
            (Some((user, secret)), Some(u), Some(p)) => {
                u == user && p.as_slice() == secret.as_bytes()
            }
            _ => false,
        }
    }

    async fn check_password(&self, connect: &ConnectPacket) -> AuthResult {
        let Some(passwords) = &self.passwords else {
            // Without a password file, like Mosquitto with `allow_anonymous true`: the claimed
            // username (if any) is what the ACL sees.
            return match &connect.username {
                Some(user) => AuthResult::success_with_user(user.clone()),
                None => AuthResult::success(),
            };
        };
        let (Some(user), Some(password)) = (&connect.username, &connect.password) else {
            debug!(client_id = %connect.client_id, "refused: no username or password");
            return AuthResult::fail(ReasonCode::BadUsernameOrPassword);
        };
        let passwords = Arc::clone(passwords);
        let (name, password) = (user.clone(), String::from_utf8_lossy(password).into_owned());
        let ok = tokio::task::spawn_blocking(move || passwords.verify(&name, &password))
            .await
            .unwrap_or(false);
        if !ok {
            warn!(client_id = %connect.client_id, user = %user, "refused: wrong username or password");
            return AuthResult::fail(ReasonCode::BadUsernameOrPassword);
        }
        // A login uses only client ids of its own identity (`<user>` or `<user>.<suffix>`):
        // otherwise any valid login could take over, and so cut off, another's session.
        if !ank_schemas::client_id_belongs_to(&connect.client_id, user) {
            warn!(
                client_id = %ank_schemas::ClientId::new(&connect.client_id).map(|c| c.to_string()).unwrap_or_else(|e| e.shown),
                user = %user,
                "refused: the client id does not belong to this login (use <user> or <user>.<suffix>)"
            );
            return AuthResult::fail(ReasonCode::ClientIdentifierNotValid);
        }
        AuthResult::success_with_user(user.clone())
    }
}

/// The client id, printable for a log line.
fn shown(client_id: &str) -> String {
    ank_schemas::ClientId::new(client_id)
        .map(|c| c.to_string())
        .unwrap_or_else(|e| e.shown)
}

/// A TLS client with a verified certificate: its identity is a DNS name of the certificate's
/// subjectAltName, never a user name it merely claims. The user name, when sent, must be one
/// of those names; without one, a certificate with exactly one name is that identity (as
/// Mosquitto's `use_identity_as_username`). Client ids follow the identity, as for passwords.
fn check_certificate(connect: &ConnectPacket, peer: &TlsPeer) -> AuthResult {
    let identity = match &connect.username {
        Some(user) if peer.names.iter().any(|n| n == user) => user.clone(),
        Some(user) => {
            warn!(client_id = %shown(&connect.client_id), user = %printable(user), names = ?peer.names, "refused: the client certificate does not name this user");
            return AuthResult::fail(ReasonCode::NotAuthorized);
        }
        None => match peer.names.as_slice() {
            [only] => only.clone(),
            _ => {
                warn!(client_id = %shown(&connect.client_id), names = ?peer.names, "refused: send the certificate's name as user name (it names none or several)");
                return AuthResult::fail(ReasonCode::BadUsernameOrPassword);
            }
        },
    };
    if !ank_schemas::is_valid_name(&identity) {
        warn!(names = ?peer.names, "refused: the certificate's name is not a valid identity ([A-Za-z0-9_-])");
        return AuthResult::fail(ReasonCode::NotAuthorized);
    }
    if !ank_schemas::client_id_belongs_to(&connect.client_id, &identity) {
        warn!(client_id = %shown(&connect.client_id), %identity, "refused: the client id does not belong to the certificate's identity (use <identity> or <identity>.<suffix>)");
        return AuthResult::fail(ReasonCode::ClientIdentifierNotValid);
    }
    AuthResult::success_with_user(identity)
}

/// A claimed user name for a log line: bounded and printable.
fn printable(user: &str) -> String {
    user.chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

impl AuthProvider for Authorizer {
    fn authenticate<'a>(
        &'a self,
        connect: &'a ConnectPacket,
        client_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = mqtt5::Result<AuthResult>> + Send + 'a>> {
        Box::pin(async move { Ok(self.check_login(connect, client_addr).await) })
    }

    fn authorize_publish<'a>(
        &'a self,
        client_id: &str,
        user_id: Option<&'a str>,
        topic: &'a str,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        // Wills were checked at CONNECT; a 3.1.1 publish is refused in `on_client_publish`.
        let allowed =
            !self.is_mqtt5(client_id) || self.acl_allows_publish(client_id, user_id, topic);
        if !allowed {
            warn!(%client_id, user = ?user_id, %topic, "publish refused by ACL");
        }
        Box::pin(async move { allowed })
    }

    fn authorize_subscribe<'a>(
        &'a self,
        client_id: &str,
        user_id: Option<&'a str>,
        topic_filter: &'a str,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        let allowed = self
            .acl
            .as_ref()
            .is_none_or(|acl| acl.allows_subscribe(user_id, client_id, topic_filter));
        if !allowed {
            warn!(%client_id, user = ?user_id, filter = %topic_filter, "subscribe refused by ACL");
        }
        Box::pin(async move { allowed })
    }
}

impl BrokerEventHandler for Authorizer {
    fn on_client_publish<'a>(
        &'a self,
        event: ClientPublishEvent,
    ) -> Pin<Box<dyn Future<Output = PublishAction> + Send + 'a>> {
        let allowed =
            self.acl_allows_publish(&event.client_id, event.user_id.as_deref(), &event.topic);
        if !allowed {
            warn!(client_id = %event.client_id, user = ?event.user_id, topic = %event.topic, "publish refused by ACL (acknowledged and dropped)");
        } else if event.retain {
            // mqtt5 stores it (and acks it even when that fails) right after this returns.
            self.release_space_if_full();
        }
        Box::pin(async move {
            if allowed {
                PublishAction::Continue
            } else {
                PublishAction::Handled
            }
        })
    }

    fn on_client_disconnect<'a>(
        &'a self,
        event: ClientDisconnectEvent,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        if let Ok(mut sessions) = self.mqtt5_sessions.lock() {
            sessions.remove(&*event.client_id);
        }
        Box::pin(async {})
    }
}
