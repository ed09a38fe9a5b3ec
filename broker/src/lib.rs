//! `ank-broker`: the embedded MQTT broker of ankmq (issue #3).
//!
//! The controller runs it in-process by default and `ank-broker` runs it standalone; both start
//! it from the same settings. It is the mqtt5 crate's broker (rumqttd was measured and rejected,
//! docs/broker.md), with our limits, our password file and our ACLs. It knows nothing about
//! workloads.
//!
//! Layout:
//! - `config.rs`: [`BrokerConfig`], the resolved configuration, and its defaults.
//! - `settings.rs`: [`BrokerArgs`] (clap) and [`BrokerSettings`] (TOML), merged into a config.
//! - `server.rs`: [`start`] and [`BrokerHandle`]; the only file that drives mqtt5.
//! - `authorizer.rs`: password check and ACL enforcement, plugged into mqtt5.
//! - `acl_rules.rs`: [`AclRules`], Mosquitto's `acl_file` format, parsed, printed and evaluated.
//! - `dashboard.rs`: the HTTP server of the built dashboard page (issue 18).
//! - `roles.rs`: the least-privilege rules of our topic tree, generated from usernames.
//! - `tls_front.rs`: the TLS listener, terminated here so identities come from certificates.
//! - `storage_guard.rs`: the space reserve that keeps the broker serving on a full disk.
//! - `passwd.rs`: the argon2 password file.
//! - `pki.rs`: [`CertificateAuthority`], the CA and certificates of mutual TLS (rcgen).
//! - `setup.rs`: [`write_setup`], `ank-broker setup DIR`: a secure installation in one step.
//! - `error.rs`: [`BrokerError`].
#![warn(missing_docs)]

mod acl_rules;
mod authorizer;
mod config;
mod dashboard;
mod error;
mod passwd;
mod pki;
mod roles;
mod server;
mod settings;
mod setup;
mod storage_guard;
mod tls_front;

pub use acl_rules::{Access, AclParseError, AclRule, AclRules, Scope};
pub use config::{BrokerConfig, Limits, Storage, TlsConfig, DEFAULT_LISTEN, DEFAULT_TLS_LISTEN};
pub use dashboard::{
    DashboardConfig, BUILD_COMMAND as DASHBOARD_BUILD_COMMAND, DEFAULT_DASHBOARD_DIR,
    MAX_DASHBOARD_BYTES, MAX_DASHBOARD_CONNECTIONS, MAX_DASHBOARD_FILES,
};
pub use error::BrokerError;
pub use passwd::{read_password, set_password, PasswordFile};
pub use pki::{CertificateAuthority, IssuedPem, PkiError};
pub use roles::{
    acl_for_users, agent_username, Role, RoleError, AGENT_USER_PREFIX, CONTROLLER_USER, VIEWER_USER,
};
pub use server::{start, BrokerHandle};
pub use settings::{BrokerArgs, BrokerSettings, LimitSettings, TlsSettings};
pub use setup::{write_setup, SetupOptions, MAX_SETUP_IDENTITIES};
