//! The broker's authentication and authorization: our password file plus our ACL rules,
//! plugged into mqtt5 as one `AuthProvider`.
//!
//! We replace mqtt5's own providers for two reasons: its ACL format has no `%c`, so it cannot
//! express "only your own `responses/<clientId>`" (see `acl_rules.rs`), and its password check
//! runs argon2 on the async runtime, stalling every connection for the length of a hash. Here
//! argon2 runs on tokio's blocking pool. We also do not use mqtt5's per-IP login lockout: on a
//! vehicle every local client shares 127.0.0.1, so one misconfigured client would lock out all.

use crate::acl_rules::AclRules;
use crate::passwd::PasswordFile;
use mqtt5::broker::auth::{AuthProvider, AuthResult};
use mqtt5::packet::connect::ConnectPacket;
use mqtt5::protocol::v5::reason_codes::ReasonCode;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use tracing::{debug, warn};

/// Authentication (when a password file is given) and authorization (when ACL rules are given).
#[derive(Debug, Clone, Default)]
pub(crate) struct Authorizer {
    passwords: Option<Arc<PasswordFile>>,
    acl: Option<Arc<AclRules>>,
}

impl Authorizer {
    pub(crate) fn new(passwords: Option<PasswordFile>, acl: Option<AclRules>) -> Self {
        Self {
            passwords: passwords.map(Arc::new),
            acl: acl.map(Arc::new),
        }
    }

    async fn check_login(&self, connect: &ConnectPacket) -> AuthResult {
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
        if ok {
            AuthResult::success_with_user(user.clone())
        } else {
            warn!(client_id = %connect.client_id, user = %user, "refused: wrong username or password");
            AuthResult::fail(ReasonCode::BadUsernameOrPassword)
        }
    }
}

impl AuthProvider for Authorizer {
    fn authenticate<'a>(
        &'a self,
        connect: &'a ConnectPacket,
        _client_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = mqtt5::Result<AuthResult>> + Send + 'a>> {
        Box::pin(async move { Ok(self.check_login(connect).await) })
    }

    fn authorize_publish<'a>(
        &'a self,
        client_id: &str,
        user_id: Option<&'a str>,
        topic: &'a str,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        let allowed = self
            .acl
            .as_ref()
            .is_none_or(|acl| acl.allows_publish(user_id, client_id, topic));
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
