//! `ank-broker setup DIR`: a secure installation in one command (issue 13).
//!
//! Writes into one private directory everything a secured bus needs, for both ways ankmq
//! authenticates: a CA with a server certificate and one client certificate per identity
//! (mutual TLS), a password per identity with the embedded broker's and Mosquitto's password
//! files, the least-privilege ACL generated from the role table (roles.rs), Mosquitto
//! configurations, and a ready `ank` config for the CLI user. The identities are the controller,
//! the given agents (`agent-<name>`), the given CLI users and the read-only `viewer`. It never
//! overwrites a file: a second run into the same directory fails before writing anything, so an
//! existing CA cannot be replaced by accident. Returns the instructions it also writes to
//! `README.txt`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ank_schemas::Topics;
use base64::Engine as _;

use crate::passwd::PasswordFile;
use crate::pki::{CertificateAuthority, IssuedPem};
use crate::roles::{agent_username, Role, CONTROLLER_USER, VIEWER_USER};
use crate::BrokerError;

/// Mosquitto's PBKDF2-SHA512 (`$7$`) parameters: its own defaults (mosquitto_passwd 2.0).
const MOSQUITTO_ITERATIONS: u32 = 101;
const MOSQUITTO_SALT_LEN: usize = 12;
/// Characters of a generated password (about 143 bits from `[A-Za-z0-9]`).
const PASSWORD_LEN: usize = 24;
/// The most agents and users one setup makes certificates for (each costs a key and a hash).
pub const MAX_SETUP_IDENTITIES: usize = 64;

/// What `ank-broker setup` makes.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    /// The topic prefix the ACL is generated for.
    pub prefix: String,
    /// Agent names; each logs in as `agent-<name>`.
    pub agents: Vec<String>,
    /// CLI user names (not `controller`, `agent-…` or `viewer…`).
    pub users: Vec<String>,
    /// The DNS names and IP addresses clients use to reach the broker (server certificate).
    pub server_names: Vec<String>,
    /// The TLS listener clients connect to (Mosquitto's config and the instructions).
    pub tls_listen: SocketAddr,
    /// The password-login listener (Mosquitto's config and the instructions).
    pub listen: SocketAddr,
    /// How long the certificates are valid.
    pub valid_for: Duration,
}

impl Default for SetupOptions {
    fn default() -> Self {
        Self {
            prefix: ank_schemas::DEFAULT_PREFIX.to_owned(),
            agents: vec!["agent_A".to_owned()],
            users: vec!["operator".to_owned()],
            server_names: vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
            tls_listen: crate::DEFAULT_TLS_LISTEN,
            listen: crate::DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 1883))),
            valid_for: Duration::from_secs(365 * 86_400),
        }
    }
}

fn setup_error(path: &Path, reason: impl Into<String>) -> BrokerError {
    BrokerError::AuthFile {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// The files of one setup, built in memory first so nothing is written when anything fails.
struct Files {
    dir: PathBuf,
    entries: Vec<(String, String, u32)>,
}

impl Files {
    fn private(&mut self, name: &str, text: String) {
        self.entries.push((name.to_owned(), text, 0o600));
    }

    fn public(&mut self, name: &str, text: String) {
        self.entries.push((name.to_owned(), text, 0o644));
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn pem(&mut self, name: &str, issued: &IssuedPem) {
        self.public(&format!("{name}.pem"), issued.cert.clone());
        self.private(&format!("{name}.key"), issued.key.clone());
    }

    fn write(&self) -> Result<(), BrokerError> {
        if let Some((name, _, _)) = self
            .entries
            .iter()
            .find(|(name, _, _)| self.dir.join(name).exists())
        {
            return Err(setup_error(
                &self.dir.join(name),
                "exists already; `ank-broker setup` never overwrites (use an empty directory)",
            ));
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| setup_error(&self.dir, e.to_string()))?;
        // An existing directory keeps its mode otherwise; keys live here.
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| setup_error(&self.dir, e.to_string()))?;
        for (name, text, mode) in &self.entries {
            let path = self.dir.join(name);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(*mode)
                .open(&path)
                .map_err(|e| setup_error(&path, e.to_string()))?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| setup_error(&path, e.to_string()))?;
        }
        Ok(())
    }
}

fn random_password() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), PASSWORD_LEN)
}

/// A Mosquitto password-file line's hash: `$7$<iterations>$<salt>$<hash>`, PBKDF2-HMAC-SHA512,
/// base64, as `mosquitto_passwd` writes it.
fn mosquitto_hash(password: &str) -> String {
    let salt: [u8; MOSQUITTO_SALT_LEN] = rand::random();
    let mut hash = [0u8; 64];
    let iterations =
        std::num::NonZeroU32::new(MOSQUITTO_ITERATIONS).unwrap_or(std::num::NonZeroU32::MIN);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA512,
        iterations,
        &salt,
        password.as_bytes(),
        &mut hash,
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "$7${MOSQUITTO_ITERATIONS}${}${}",
        b64.encode(salt),
        b64.encode(hash)
    )
}

fn check_identities(dir: &Path, options: &SetupOptions) -> Result<Vec<String>, BrokerError> {
    if options.agents.len() + options.users.len() > MAX_SETUP_IDENTITIES {
        return Err(setup_error(
            dir,
            format!("at most {MAX_SETUP_IDENTITIES} agents and users in one setup"),
        ));
    }
    let mut identities = vec![CONTROLLER_USER.to_owned()];
    for agent in &options.agents {
        if !ank_schemas::is_valid_name(agent) {
            return Err(setup_error(
                dir,
                format!("agent name `{agent}`: use 1 to 63 of [A-Za-z0-9_-]"),
            ));
        }
        identities.push(agent_username(agent));
    }
    for user in &options.users {
        let is_cli_user = matches!(Role::of_username(user), Some(Role::CliUser));
        if !ank_schemas::is_valid_name(user) || !is_cli_user {
            return Err(setup_error(
                dir,
                format!(
                    "user name `{user}`: a CLI user is [A-Za-z0-9_-] and not `controller`, \
                     `agent-…` or `viewer…`"
                ),
            ));
        }
        identities.push(user.clone());
    }
    identities.push(VIEWER_USER.to_owned());
    identities.dedup();
    Ok(identities)
}

/// Writes the secure setup into `dir` (created 0700; keys and passwords 0600) and returns the
/// instructions (also in `README.txt`). Fails without writing anything if a name is invalid or
/// a file exists.
pub fn write_setup(dir: &Path, options: &SetupOptions) -> Result<String, BrokerError> {
    let identities = check_identities(dir, options)?;
    let topics = Topics::new(&options.prefix)?;
    let pki = |e: crate::pki::PkiError| setup_error(dir, e.to_string());
    let mut files = Files {
        dir: dir.to_owned(),
        entries: Vec::new(),
    };
    let ca = CertificateAuthority::generate("ankmq CA", options.valid_for).map_err(pki)?;
    files.pem("ca", ca.pem());
    files.pem(
        "server",
        &ca.issue_server(&options.server_names, options.valid_for)
            .map_err(pki)?,
    );
    let mut passwd = PasswordFile::default();
    let mut mosquitto_passwd = String::new();
    for identity in &identities {
        files.pem(
            identity,
            &ca.issue_client(identity, options.valid_for).map_err(pki)?,
        );
        let password = random_password();
        passwd
            .set(identity, &password)
            .map_err(|reason| setup_error(dir, reason))?;
        let _ = writeln!(mosquitto_passwd, "{identity}:{}", mosquitto_hash(&password));
        files.private(&format!("{identity}.password"), format!("{password}\n"));
    }
    files.private("passwd", passwd.render());
    files.private("mosquitto.passwd", mosquitto_passwd);
    let acl = crate::roles::acl_for_users(&topics, identities.iter().map(String::as_str))
        .map_err(|e| setup_error(dir, e.to_string()))?;
    files.public(
        "acl",
        format!(
            "# ank-broker setup --prefix {} (the embedded broker's --acl and Mosquitto's acl_file)\n{acl}",
            options.prefix
        ),
    );
    files.public("mosquitto.conf", mosquitto_conf(&files, options, true));
    files.public(
        "mosquitto-passwords.conf",
        mosquitto_conf(&files, options, false),
    );
    let user = options.users.first().cloned();
    if let Some(user) = &user {
        files.private(&format!("{user}.toml"), ank_config(&files, options, user));
    }
    let readme = instructions(&files, options, user.as_deref());
    files.public("README.txt", readme.clone());
    files.write()?;
    Ok(readme)
}

fn mosquitto_conf(files: &Files, options: &SetupOptions, mtls: bool) -> String {
    let mut conf = String::from(
        "# Mosquitto 2.x for ankmq, made by `ank-broker setup` (docs/security.md).\n\
         per_listener_settings false\nallow_anonymous false\n\
         # Without it one oversized retained message keeps every subscriber reconnecting.\n\
         max_packet_size 1048576\n",
    );
    let _ = writeln!(conf, "acl_file {}", files.path("acl"));
    let addr = if mtls {
        options.tls_listen
    } else {
        options.listen
    };
    if mtls {
        let _ = write!(
            conf,
            "# Mutual TLS: the identity is the client certificate's CN.\n\
             listener {} {}\ncafile {}\ncertfile {}\nkeyfile {}\n\
             require_certificate true\nuse_identity_as_username true\n",
            addr.port(),
            addr.ip(),
            files.path("ca.pem"),
            files.path("server.pem"),
            files.path("server.key"),
        );
    } else {
        let _ = write!(
            conf,
            "password_file {}\nlistener {} {}\n",
            files.path("mosquitto.passwd"),
            addr.port(),
            addr.ip()
        );
    }
    conf
}

fn ank_config(files: &Files, options: &SetupOptions, user: &str) -> String {
    let mut text = format!(
        "# ank as `{user}` over mutual TLS: `ank -x THIS_FILE …` or `export ANK_CONFIG=THIS_FILE`.\n\
         broker = \"mqtts://{}\"\nca_pem = \"{}\"\ncrt_pem = \"{}\"\nkey_pem = \"{}\"\n",
        options.tls_listen,
        files.path("ca.pem"),
        files.path(&format!("{user}.pem")),
        files.path(&format!("{user}.key")),
    );
    if options.prefix != ank_schemas::DEFAULT_PREFIX {
        let _ = writeln!(text, "topic_prefix = \"{}\"", options.prefix);
    }
    text
}

fn instructions(files: &Files, options: &SetupOptions, user: Option<&str>) -> String {
    let p = |name: &str| files.path(name);
    let prefix = if options.prefix == ank_schemas::DEFAULT_PREFIX {
        String::new()
    } else {
        format!(" --topic-prefix {}", options.prefix)
    };
    let tls = |identity: &str| {
        format!(
            "--ca-pem {} --crt-pem {} --key-pem {}",
            p("ca.pem"),
            p(&format!("{identity}.pem")),
            p(&format!("{identity}.key"))
        )
    };
    let mut text = format!(
        "ankmq secure setup in {dir} (docs/security.md)\n\n\
         Mutual TLS on the controller's embedded broker (TLS on {tls_addr}, no plain listener):\n\
         \x20 ank-controller --state-dir /var/lib/ankmq{prefix} --tls-listen {tls_addr} \\\n\
         \x20     --ca-pem {ca} --crt-pem {server} --key-pem {server_key} --acl {acl}\n",
        dir = files.dir.display(),
        tls_addr = options.tls_listen,
        ca = p("ca.pem"),
        server = p("server.pem"),
        server_key = p("server.key"),
        acl = p("acl"),
    );
    for agent in &options.agents {
        let _ = writeln!(
            text,
            "  ank-agent --name {agent} --broker mqtts://{}{prefix} \\\n      {}",
            options.tls_listen,
            tls(&agent_username(agent))
        );
    }
    if let Some(user) = user {
        let _ = writeln!(
            text,
            "  ank -x {} get workloads        # or: export ANK_CONFIG={0}",
            p(&format!("{user}.toml"))
        );
    }
    let _ = write!(
        text,
        "  The read-only viewer (a dashboard, a monitoring tool): {} and {}.\n\n\
         Mosquitto with mutual TLS instead: mosquitto -c {}\n\
         \x20 ank-controller --state-dir /var/lib/ankmq --broker mqtts://{}{prefix} {}\n\
         \x20 (agents and ank as above)\n\n\
         Passwords instead of certificates (embedded broker on {listen}):\n\
         \x20 ank-controller --state-dir /var/lib/ankmq{prefix} --listen {listen} --passwd {passwd} \\\n\
         \x20     --acl {acl} --username controller --password-file {controller_pw}\n",
        p("viewer.pem"),
        p("viewer.key"),
        p("mosquitto.conf"),
        options.tls_listen,
        tls(CONTROLLER_USER),
        listen = options.listen,
        passwd = p("passwd"),
        acl = p("acl"),
        controller_pw = p("controller.password"),
    );
    for agent in &options.agents {
        let login = agent_username(agent);
        let _ = writeln!(
            text,
            "  ank-agent --name {agent} --broker mqtt://{}{prefix} --username {login} --password-file {}",
            options.listen,
            p(&format!("{login}.password"))
        );
    }
    if let Some(user) = user {
        let _ = writeln!(
            text,
            "  ank --broker mqtt://{}{prefix} --username {user} --password-file {} get workloads",
            options.listen,
            p(&format!("{user}.password"))
        );
    }
    let _ = writeln!(
        text,
        "  On Mosquitto: mosquitto -c {} (its hashes are in {}).\n\n\
         Keys (*.key) and passwords (*.password, passwd) are 0600 in this 0700 directory: copy each\n\
         to the one machine that needs it. Keep ca.key offline once the certificates are made.",
        p("mosquitto-passwords.conf"),
        p("mosquitto.passwd"),
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn issue_13_setup_writes_private_keys_in_a_private_directory_and_never_overwrites() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("secure");
        let readme = write_setup(&dir, &SetupOptions::default()).expect("setup");
        assert_eq!(mode(&dir), 0o700);
        for name in [
            "ca.key",
            "server.key",
            "controller.key",
            "agent-agent_A.key",
            "operator.key",
            "viewer.key",
            "passwd",
            "mosquitto.passwd",
            "operator.password",
        ] {
            assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
        }
        let passwd = PasswordFile::load(&dir.join("passwd")).expect("passwd");
        let password = std::fs::read_to_string(dir.join("viewer.password")).expect("pw");
        assert!(passwd.verify("viewer", password.trim()));
        assert!(readme.contains("ank-agent --name agent_A"), "{readme}");
        let again = write_setup(&dir, &SetupOptions::default()).expect_err("refused");
        assert!(again.to_string().contains("never overwrites"), "{again}");
    }

    #[test]
    fn setup_refuses_names_that_are_no_identity_and_writes_nothing() {
        let tmp = tempfile::tempdir().expect("tmp");
        for (agents, users) in [
            (vec!["a/b"], vec!["operator"]),
            (vec!["agent_A"], vec!["controller"]),
            (vec!["agent_A"], vec!["viewer"]),
            (vec!["agent_A"], vec!["agent-x"]),
        ] {
            let dir = tmp.path().join("d");
            let options = SetupOptions {
                agents: agents.iter().map(|s| s.to_string()).collect(),
                users: users.iter().map(|s| s.to_string()).collect(),
                ..SetupOptions::default()
            };
            assert!(write_setup(&dir, &options).is_err(), "{agents:?} {users:?}");
            assert!(!dir.exists(), "nothing written for {agents:?} {users:?}");
        }
    }

    #[test]
    fn mosquitto_hashes_have_mosquitto_passwd_s_shape() {
        let hash = mosquitto_hash("pw");
        let parts: Vec<&str> = hash.split('$').collect();
        assert_eq!(parts[..3], ["", "7", "101"]);
        assert_eq!(parts[3].len(), 16, "12 bytes of salt in base64");
        assert_eq!(parts[4].len(), 88, "64 bytes of SHA-512 in base64");
    }
}
