//! One connection-settings type for every binary (issue 13, "three spellings"): the clap flags
//! [`ConnectArgs`] that `ank-controller`, `ank-agent` and `ank` flatten, the config-file keys
//! [`ConnectFile`], and one resolve (flag > environment > file > default) into
//! [`ConnectSettings`], which builds the [`ConnectOptions`] of a session.
//!
//! One spelling of each setting everywhere (`--ca-pem`, `ca_pem`, `<PREFIX>CA_PEM`); the earlier
//! spellings of each binary and Ankaios' own (`--ca_pem`, `ANKSERVER_CA_PEM`, `server_url`,
//! `ca_pem_content`, …) stay accepted as aliases. Only reading a password file or a PEM touches
//! the file system, and only when the session is built.

use std::path::{Path, PathBuf};

use ank_schemas::Topics;
use clap::Arg;
use serde::Deserialize;

use crate::options::{ConnectOptions, Pem, TlsFiles};
use crate::BusError;

/// The broker when none is configured and no TLS file is given.
pub const DEFAULT_BROKER: &str = "mqtt://127.0.0.1:1883";
/// The broker when none is configured but a CA is: TLS on the standard port, as Ankaios uses
/// mutual TLS whenever its PEMs are given.
pub const DEFAULT_TLS_BROKER: &str = "mqtts://127.0.0.1:8883";

/// The binary whose settings these are: it decides the environment variable names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// `ank-controller`: `ANK_CONTROLLER_*`, plus Ankaios' `ANKSERVER_*`.
    Controller,
    /// `ank-agent`: `ANK_AGENT_*`, plus Ankaios' `ANKAGENT_*`.
    Agent,
    /// `ank`: `ANK_*` (Ankaios' names too).
    Cli,
}

/// The settings of [`ConnectArgs`], by clap argument id.
const SETTINGS: [&str; 9] = [
    "broker",
    "topic_prefix",
    "username",
    "password",
    "password_file",
    "ca_pem",
    "crt_pem",
    "key_pem",
    "insecure",
];

impl Program {
    /// The environment variables of `setting` (a clap id of [`ConnectArgs`]): the first is ours
    /// and shown in `--help` (clap reads it); the others are earlier spellings and Ankaios',
    /// read by [`ConnectArgs::resolve`] in this order when neither the flag nor the first is set.
    pub fn env_names(self, setting: &str) -> &'static [&'static str] {
        use Program::*;
        match (self, setting) {
            (Controller, "broker") => &["ANK_CONTROLLER_BROKER"],
            (Controller, "topic_prefix") => &["ANK_CONTROLLER_TOPIC_PREFIX"],
            (Controller, "username") => &["ANK_CONTROLLER_USERNAME"],
            (Controller, "password") => &["ANK_CONTROLLER_PASSWORD"],
            (Controller, "password_file") => &["ANK_CONTROLLER_PASSWORD_FILE"],
            (Controller, "ca_pem") => &[
                "ANK_CONTROLLER_CA_PEM",
                "ANK_CONTROLLER_CA",
                "ANKSERVER_CA_PEM",
            ],
            (Controller, "crt_pem") => &[
                "ANK_CONTROLLER_CRT_PEM",
                "ANK_CONTROLLER_CERT",
                "ANKSERVER_CRT_PEM",
            ],
            (Controller, "key_pem") => &[
                "ANK_CONTROLLER_KEY_PEM",
                "ANK_CONTROLLER_KEY",
                "ANKSERVER_KEY_PEM",
            ],
            (Controller, "insecure") => &["ANK_CONTROLLER_INSECURE", "ANKSERVER_INSECURE"],
            (Agent, "broker") => &["ANK_AGENT_BROKER"],
            (Agent, "topic_prefix") => &["ANK_AGENT_TOPIC_PREFIX"],
            (Agent, "username") => &["ANK_AGENT_USERNAME"],
            (Agent, "password") => &["ANK_AGENT_PASSWORD"],
            (Agent, "password_file") => &["ANK_AGENT_PASSWORD_FILE"],
            (Agent, "ca_pem") => &["ANK_AGENT_CA_PEM", "ANKAGENT_CA_PEM"],
            (Agent, "crt_pem") => &["ANK_AGENT_CRT_PEM", "ANKAGENT_CRT_PEM"],
            (Agent, "key_pem") => &["ANK_AGENT_KEY_PEM", "ANKAGENT_KEY_PEM"],
            (Agent, "insecure") => &["ANK_AGENT_INSECURE", "ANKAGENT_INSECURE"],
            (Cli, "broker") => &["ANK_BROKER", "ANK_SERVER_URL"],
            (Cli, "topic_prefix") => &["ANK_TOPIC_PREFIX"],
            (Cli, "username") => &["ANK_USERNAME"],
            (Cli, "password") => &["ANK_PASSWORD"],
            (Cli, "password_file") => &["ANK_PASSWORD_FILE"],
            (Cli, "ca_pem") => &["ANK_CA_PEM", "ANK_CA_FILE"],
            (Cli, "crt_pem") => &["ANK_CRT_PEM", "ANK_CERT_FILE"],
            (Cli, "key_pem") => &["ANK_KEY_PEM", "ANK_KEY_FILE"],
            (Cli, "insecure") => &["ANK_INSECURE"],
            _ => &[],
        }
    }

    /// For `#[command(mut_args(Program::X.with_env()))]`: gives each [`ConnectArgs`] flag its
    /// first environment variable, values hidden in `--help` (they may be secrets).
    pub fn with_env(self) -> impl FnMut(Arg) -> Arg {
        move |arg| {
            let id = arg.get_id().as_str().to_owned();
            if !SETTINGS.contains(&id.as_str()) {
                return arg;
            }
            match self.env_names(&id).first() {
                Some(name) => arg.env(*name).hide_env_values(true),
                None => arg,
            }
        }
    }
}

/// How to reach the broker, shared by `ank-controller`, `ank-agent` and `ank` (flatten it).
/// Environment variables are set per binary by [`Program::with_env`].
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct ConnectArgs {
    /// The MQTT broker, mqtt://host[:port] or mqtts://host[:port] [default: mqtt://127.0.0.1:1883,
    /// or mqtts://127.0.0.1:8883 when a CA is given]
    #[arg(
        short = 'b',
        long,
        visible_alias = "server-url",
        value_name = "URL",
        global = true
    )]
    pub broker: Option<String>,

    /// Prefix of every MQTT topic, e.g. vehicles/VIN123/ank/v1 [default: ank/v1]
    #[arg(long, value_name = "PREFIX", global = true)]
    pub topic_prefix: Option<String>,

    /// MQTT user name
    #[arg(long, value_name = "NAME", global = true)]
    pub username: Option<String>,

    /// MQTT password. Prefer --password-file or the environment: flags show in `ps`
    #[arg(
        long,
        value_name = "PASSWORD",
        global = true,
        conflicts_with = "password_file"
    )]
    pub password: Option<String>,

    /// File whose first line is the MQTT password
    #[arg(long, value_name = "FILE", global = true)]
    pub password_file: Option<PathBuf>,

    /// CA certificate (PEM) that signed the broker's certificate; required for mqtts://
    #[arg(
        long,
        value_name = "FILE",
        global = true,
        aliases = ["ca_pem", "ca", "ca-file"]
    )]
    pub ca_pem: Option<PathBuf>,

    /// Client certificate (PEM), for brokers that authenticate clients by certificate
    #[arg(
        long,
        value_name = "FILE",
        global = true,
        aliases = ["crt_pem", "cert", "cert-file"]
    )]
    pub crt_pem: Option<PathBuf>,

    /// The client certificate's private key (PEM)
    #[arg(
        long,
        value_name = "FILE",
        global = true,
        aliases = ["key_pem", "key", "key-file"]
    )]
    pub key_pem: Option<PathBuf>,

    /// Accepted for Ankaios compatibility: plain MQTT is used unless the broker is mqtts:// (or
    /// a CA is given), as Ankaios uses mTLS when its PEMs are given
    #[arg(short = 'k', long, global = true)]
    pub insecure: bool,
}

/// The connection keys of a config file. Take them out of the parsed TOML with
/// [`ConnectFile::take`]; the binary then refuses whatever is left that it does not know.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectFile {
    /// `broker = "mqtt://…"`; Ankaios' `server_url` when it is an MQTT URL.
    pub broker: Option<String>,
    /// `topic_prefix = "ank/v1"`.
    pub topic_prefix: Option<String>,
    /// `username = "…"`.
    pub username: Option<String>,
    /// `password = "…"`.
    pub password: Option<String>,
    /// `password_file = "/path"`.
    pub password_file: Option<PathBuf>,
    /// `ca_pem` (earlier `ca`, `ca_file`): a path.
    #[serde(alias = "ca", alias = "ca_file")]
    pub ca_pem: Option<PathBuf>,
    /// `crt_pem` (earlier `cert`, `cert_file`): a path.
    #[serde(alias = "cert", alias = "cert_file")]
    pub crt_pem: Option<PathBuf>,
    /// `key_pem` (earlier `key`, `key_file`): a path.
    #[serde(alias = "key", alias = "key_file")]
    pub key_pem: Option<PathBuf>,
    /// Ankaios' `ca_pem_content`: the PEM text itself.
    pub ca_pem_content: Option<String>,
    /// Ankaios' `crt_pem_content`.
    pub crt_pem_content: Option<String>,
    /// Ankaios' `key_pem_content`.
    pub key_pem_content: Option<String>,
    /// `insecure = true` (Ankaios).
    pub insecure: Option<bool>,
    /// What [`ConnectFile::take`] accepted but ignored (gRPC-only keys), for the binary to log
    /// once its logging is set up.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// Keys of Ankaios' files that only make sense for its gRPC transport: accepted, warned about.
fn grpc_only(program: Program, key: &str) -> Option<&'static str> {
    match (program, key) {
        (Program::Controller, "address") => Some(
            "the gRPC listen address of ank-server; the embedded broker listens on --listen \
             (and --tls-listen)",
        ),
        _ => None,
    }
}

impl ConnectFile {
    /// Removes the connection keys (ours, earlier spellings and Ankaios') from `table`, a parsed
    /// config file, and checks them. Ankaios' `version` must be `v1`; a `server_url` that is not
    /// an MQTT URL (Ankaios' `https://host:25551`) and gRPC-only keys are dropped with a
    /// warning. Errors name the key; the caller adds the file.
    pub fn take(table: &mut toml::Table, program: Program) -> Result<Self, SettingsError> {
        if let Some(version) = table.remove("version") {
            if version.as_str() != Some("v1") {
                return Err(SettingsError::File(format!(
                    "`version = {version}`: Ankaios config files have version 'v1' (wrong version)"
                )));
            }
        }
        let keys: Vec<String> = table.keys().cloned().collect();
        let mut ours = toml::Table::new();
        let mut warnings = Vec::new();
        for key in keys {
            if let Some(reason) = grpc_only(program, &key) {
                table.remove(&key);
                warnings.push(format!("config key `{key}` ignored: {reason}"));
                continue;
            }
            let known = matches!(
                key.as_str(),
                "broker"
                    | "topic_prefix"
                    | "username"
                    | "password"
                    | "password_file"
                    | "ca_pem"
                    | "ca"
                    | "ca_file"
                    | "crt_pem"
                    | "cert"
                    | "cert_file"
                    | "key_pem"
                    | "key"
                    | "key_file"
                    | "ca_pem_content"
                    | "crt_pem_content"
                    | "key_pem_content"
                    | "insecure"
            );
            if key == "server_url" && program != Program::Controller {
                let Some(value) = table.remove(&key) else {
                    continue;
                };
                match value.as_str() {
                    Some(url) if url.starts_with("mqtt://") || url.starts_with("mqtts://") => {
                        if table.contains_key("broker") || ours.contains_key("broker") {
                            return Err(SettingsError::File(
                                "both `broker` and `server_url` are set; keep one".into(),
                            ));
                        }
                        ours.insert("broker".into(), value);
                    }
                    Some(url) => warnings.push(format!(
                        "config key `server_url = {url:?}` ignored: an Ankaios gRPC address; \
                         set `broker = \"mqtt://host:port\"` (default {DEFAULT_BROKER})"
                    )),
                    None => {
                        return Err(SettingsError::File(
                            "`server_url` must be a string (a URL)".into(),
                        ))
                    }
                }
            } else if known {
                if let Some(value) = table.remove(&key) {
                    ours.insert(key, value);
                }
            }
        }
        let mut file: ConnectFile = toml::Value::Table(ours)
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError::File(e.message().to_owned()))?;
        file.warnings = warnings;
        for (what, path, content) in [
            ("ca_pem", &file.ca_pem, &file.ca_pem_content),
            ("crt_pem", &file.crt_pem, &file.crt_pem_content),
            ("key_pem", &file.key_pem, &file.key_pem_content),
        ] {
            if path.is_some() && content.is_some() {
                return Err(SettingsError::File(format!(
                    "both `{what}` and `{what}_content` are set; give the PEM one way"
                )));
            }
        }
        Ok(file)
    }
}

/// The resolved connection settings of a binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSettings {
    /// The broker URL as configured; `None` means the default ([`ConnectSettings::broker_url`]).
    pub broker: Option<String>,
    /// The topic tree.
    pub topics: Topics,
    /// MQTT user name.
    pub username: Option<String>,
    /// MQTT password, given directly.
    pub password: Option<String>,
    /// File whose first line is the MQTT password (read when the options are built).
    pub password_file: Option<PathBuf>,
    /// TLS material: set when a CA is configured.
    pub tls: Option<TlsFiles>,
    /// `--insecure` was given (it changes nothing: plain MQTT is the default).
    pub insecure: bool,
    /// Settings accepted but ignored (Ankaios' gRPC-only keys and URLs, `--insecure` beside
    /// TLS files): the binary logs each once, after setting up its logging.
    pub warnings: Vec<String>,
}

/// Why connection settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A value of a flag or environment variable is wrong; names it.
    #[error("{0}")]
    Invalid(String),
    /// A config-file key is wrong or unknown; names the key (the caller adds the file).
    #[error("{0}")]
    File(String),
    /// The topic prefix is not a valid prefix.
    #[error("topic prefix `{prefix}`: {reason}")]
    Prefix {
        /// The prefix as given.
        prefix: String,
        /// Why it is refused.
        reason: String,
    },
    /// The password file could not be read.
    #[error("reading the password file {}", path.display())]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The broker URL or the client id is refused by the bus.
    #[error(transparent)]
    Bus(#[from] BusError),
}

fn boolish(name: &str, value: &str) -> Result<bool, SettingsError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        other => Err(SettingsError::Invalid(format!(
            "environment variable {name}={other:?}: use true or false"
        ))),
    }
}

impl ConnectArgs {
    /// Resolves flag > environment > file > default. `env` looks a variable up (the process
    /// environment in the binaries, a table in tests); clap has already applied the first name
    /// of each setting, this applies the aliases of [`Program::env_names`].
    pub fn resolve(
        &self,
        program: Program,
        env: impl Fn(&str) -> Option<String>,
        file: &ConnectFile,
    ) -> Result<ConnectSettings, SettingsError> {
        let alias = |setting: &str| {
            program
                .env_names(setting)
                .iter()
                .skip(1)
                .find_map(|name| env(name).filter(|v| !v.is_empty()))
        };
        let path = |flag: &Option<PathBuf>, setting: &str| {
            flag.clone().or_else(|| alias(setting).map(PathBuf::from))
        };
        let mut insecure = self.insecure || file.insecure.unwrap_or(false);
        for name in program.env_names("insecure").iter().skip(1) {
            if let Some(value) = env(name) {
                insecure |= boolish(name, &value)?;
            }
        }
        let pem = |flag: Option<PathBuf>, file_path: &Option<PathBuf>, content: &Option<String>| {
            flag.map(Pem::File)
                .or_else(|| file_path.clone().map(Pem::File))
                .or_else(|| content.clone().map(Pem::Inline))
        };
        let ca = pem(
            path(&self.ca_pem, "ca_pem"),
            &file.ca_pem,
            &file.ca_pem_content,
        );
        let crt = pem(
            path(&self.crt_pem, "crt_pem"),
            &file.crt_pem,
            &file.crt_pem_content,
        );
        let key = pem(
            path(&self.key_pem, "key_pem"),
            &file.key_pem,
            &file.key_pem_content,
        );
        let tls = match (ca, crt, key) {
            (None, None, None) => None,
            (Some(ca), cert, key) if cert.is_some() == key.is_some() => {
                Some(TlsFiles { ca, cert, key })
            }
            (Some(_), _, _) => {
                return Err(SettingsError::Invalid(
                    "--crt-pem and --key-pem go together (the client certificate and its key)"
                        .into(),
                ))
            }
            (None, _, _) => {
                return Err(SettingsError::Invalid(
                    "--crt-pem/--key-pem need --ca-pem (the CA of the broker's certificate)".into(),
                ))
            }
        };
        let mut warnings = file.warnings.clone();
        if insecure && tls.is_some() {
            // As Ankaios: given PEMs win over --insecure.
            warnings.push("--insecure ignored: TLS files are given, so TLS is used".into());
        }
        let mut broker = self
            .broker
            .clone()
            .or_else(|| alias("broker"))
            .or_else(|| file.broker.clone());
        if let (Some(url), true) = (&broker, program != Program::Controller) {
            // Ankaios' --server-url / ANK_SERVER_URL point at its gRPC server.
            if url.starts_with("http://") || url.starts_with("https://") {
                warnings.push(format!(
                    "broker `{url}` ignored: an Ankaios gRPC address, not an MQTT broker; using \
                     the default"
                ));
                broker = None;
            }
        }
        let prefix = self
            .topic_prefix
            .clone()
            .or_else(|| file.topic_prefix.clone())
            .unwrap_or_else(|| ank_schemas::DEFAULT_PREFIX.to_owned());
        let topics = Topics::new(&prefix).map_err(|e| SettingsError::Prefix {
            prefix: prefix.clone(),
            reason: e.to_string(),
        })?;
        let password = self
            .password
            .clone()
            .or_else(|| alias("password"))
            .or_else(|| file.password.clone());
        let password_file = path(&self.password_file, "password_file")
            .or_else(|| file.password_file.clone())
            .filter(|_| password.is_none());
        Ok(ConnectSettings {
            broker,
            topics,
            username: self
                .username
                .clone()
                .or_else(|| alias("username"))
                .or_else(|| file.username.clone()),
            password,
            password_file,
            tls,
            insecure,
            warnings,
        })
    }
}

impl ConnectSettings {
    /// No credentials, no TLS, the default broker, in `topics`: what tests and embedders
    /// start from.
    pub fn for_topics(topics: Topics) -> Self {
        Self {
            broker: None,
            topics,
            username: None,
            password: None,
            password_file: None,
            tls: None,
            insecure: false,
            warnings: Vec::new(),
        }
    }

    /// The broker to use: the configured one, else [`DEFAULT_TLS_BROKER`] when TLS material is
    /// given, else [`DEFAULT_BROKER`].
    pub fn broker_url(&self) -> String {
        match (&self.broker, &self.tls) {
            (Some(url), _) => url.clone(),
            (None, Some(_)) => DEFAULT_TLS_BROKER.to_owned(),
            (None, None) => DEFAULT_BROKER.to_owned(),
        }
    }

    /// The session options for `url` as `client_id`: topics, credentials (the configured user
    /// and password win over the URL's) and, for `mqtts://`, the TLS files. Reads the password
    /// file. TLS files for a plain `mqtt://` URL are refused: they would silently not be used.
    pub fn connect_options(
        &self,
        url: &str,
        client_id: &str,
    ) -> Result<ConnectOptions, SettingsError> {
        let mut opts = ConnectOptions::from_url(url, client_id)?;
        opts.topics = self.topics.clone();
        if self.username.is_some() {
            opts.username.clone_from(&self.username);
        } else if opts.username.is_none() && opts.secure {
            // Under mutual TLS the login is the certificate's name (issue 13); a certificate
            // that names none is left to the broker to judge.
            opts.username = self.identity().ok().flatten();
        }
        if let Some(password) = self.password()? {
            opts.password = Some(password);
        }
        match (&self.tls, opts.secure) {
            (Some(tls), true) => opts.tls = Some(tls.clone()),
            (Some(_), false) => {
                return Err(SettingsError::Invalid(format!(
                    "TLS files are given but the broker `{}` is plain mqtt://; use mqtts://",
                    opts.url()
                )))
            }
            (None, _) => {}
        }
        Ok(opts)
    }

    /// Who this program is to the broker: the configured user name, else the identity its
    /// client certificate names ([`TlsFiles::certificate_identity`]), else `None`. Client ids
    /// are derived from it (`<identity>.<suffix>`), as brokers that bind them to logins require.
    pub fn identity(&self) -> Result<Option<String>, SettingsError> {
        if let Some(user) = &self.username {
            return Ok(Some(user.clone()));
        }
        match &self.tls {
            Some(tls) => Ok(tls.certificate_identity()?),
            None => Ok(None),
        }
    }

    fn password(&self) -> Result<Option<String>, SettingsError> {
        match (&self.password, &self.password_file) {
            (Some(p), _) => Ok(Some(p.clone())),
            (None, Some(file)) => read_password(file).map(Some),
            (None, None) => Ok(None),
        }
    }
}

fn read_password(file: &Path) -> Result<String, SettingsError> {
    let text = std::fs::read_to_string(file).map_err(|source| SettingsError::PasswordFile {
        path: file.to_owned(),
        source,
    })?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Parser)]
    #[command(mut_args(Program::Agent.with_env()))]
    struct Cli {
        #[command(flatten)]
        connect: ConnectArgs,
    }

    fn args(argv: &[&str]) -> ConnectArgs {
        Cli::try_parse_from(std::iter::once("x").chain(argv.iter().copied()))
            .expect("flags parse")
            .connect
    }

    fn file(program: Program, text: &str) -> Result<ConnectFile, SettingsError> {
        let mut table: toml::Table = text.parse().expect("toml");
        ConnectFile::take(&mut table, program)
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_flags_are_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn issue_13_every_spelling_of_the_tls_flags_is_one_setting() {
        for (ca, crt, key) in [
            ("--ca-pem", "--crt-pem", "--key-pem"),
            ("--ca_pem", "--crt_pem", "--key_pem"),
            ("--ca", "--cert", "--key"),
            ("--ca-file", "--cert-file", "--key-file"),
        ] {
            let a = args(&[ca, "/ca", crt, "/crt", key, "/key"]);
            assert_eq!(a.ca_pem.as_deref(), Some(Path::new("/ca")), "{ca}");
            assert_eq!(a.crt_pem.as_deref(), Some(Path::new("/crt")), "{crt}");
            assert_eq!(a.key_pem.as_deref(), Some(Path::new("/key")), "{key}");
        }
    }

    #[test]
    fn issue_13_env_aliases_follow_the_first_name_in_order() {
        let env = |name: &str| match name {
            "ANK_CONTROLLER_CA" => Some("/old-ca".to_owned()),
            "ANKSERVER_CA_PEM" => Some("/ankaios-ca".to_owned()),
            "ANKSERVER_INSECURE" => Some("true".to_owned()),
            _ => None,
        };
        let s = ConnectArgs::default()
            .resolve(Program::Controller, env, &ConnectFile::default())
            .expect("valid");
        assert_eq!(s.tls.expect("tls").ca, Pem::File("/old-ca".into()));
        assert!(s.insecure);
        let flag = ConnectArgs {
            ca_pem: Some("/flag".into()),
            ..ConnectArgs::default()
        };
        let s = flag
            .resolve(Program::Controller, env, &ConnectFile::default())
            .expect("valid");
        assert_eq!(s.tls.expect("tls").ca, Pem::File("/flag".into()));
    }

    #[test]
    fn flag_beats_file_beats_default() {
        let f = file(
            Program::Agent,
            "broker = 'mqtt://file:1'\ntopic_prefix = 'f/p'\nusername = 'u'\n",
        )
        .expect("valid");
        let s = args(&["--topic-prefix", "flag/p"])
            .resolve(Program::Agent, no_env, &f)
            .expect("valid");
        assert_eq!(s.broker_url(), "mqtt://file:1");
        assert_eq!(s.topics.prefix(), "flag/p");
        assert_eq!(s.username.as_deref(), Some("u"));
        let d = args(&[])
            .resolve(Program::Agent, no_env, &ConnectFile::default())
            .expect("valid");
        assert_eq!(d.broker_url(), DEFAULT_BROKER);
        assert_eq!(d.topics.prefix(), "ank/v1");
    }

    #[test]
    fn issue_16_ankaios_keys_map_or_warn() {
        let f = file(
            Program::Agent,
            "version = 'v1'\nserver_url = 'https://127.0.0.1:25551'\ninsecure = true\n\
             ca_pem_content = '''-----BEGIN CERTIFICATE-----'''\n",
        )
        .expect("valid");
        assert_eq!(f.broker, None, "a gRPC URL is not a broker");
        assert!(f.warnings[0].contains("server_url"), "{:?}", f.warnings);
        assert_eq!(f.insecure, Some(true));
        let f = file(Program::Cli, "server_url = 'mqtts://b:1'").expect("valid");
        assert_eq!(f.broker.as_deref(), Some("mqtts://b:1"));
        let mut table: toml::Table = "address = '0.0.0.0:25551'\nname = 'x'".parse().unwrap();
        ConnectFile::take(&mut table, Program::Controller).expect("address is gRPC-only");
        assert_eq!(table.len(), 1, "other keys stay for the binary: {table:?}");
    }

    #[test]
    fn bad_settings_are_refused_naming_what_is_wrong() {
        for (program, text, needle) in [
            (Program::Agent, "version = 'v2'", "version"),
            (
                Program::Agent,
                "ca_pem = '/a'\nca_pem_content = 'x'",
                "ca_pem_content",
            ),
            (Program::Agent, "ca = '/a'\nca_pem = '/b'", "ca_pem"),
            (Program::Agent, "insecure = 'yes'", "bool"),
            (
                Program::Cli,
                "broker = 'mqtt://a'\nserver_url = 'mqtt://b'",
                "server_url",
            ),
        ] {
            let error = file(program, text).expect_err(text).to_string();
            assert!(error.contains(needle), "{text}: {error}");
        }
        for (argv, needle) in [
            (&["--crt-pem", "/c", "--key-pem", "/k"][..], "need --ca-pem"),
            (&["--ca-pem", "/a", "--crt-pem", "/c"][..], "go together"),
            (&["--topic-prefix", "a/#"][..], "topic prefix"),
        ] {
            let error = args(argv)
                .resolve(Program::Agent, no_env, &ConnectFile::default())
                .expect_err("refused")
                .to_string();
            assert!(error.contains(needle), "{argv:?}: {error}");
        }
    }

    #[test]
    fn a_ca_makes_tls_the_default_and_plain_urls_refuse_tls_files() {
        let s = args(&["--ca-pem", "/ca"])
            .resolve(Program::Cli, no_env, &ConnectFile::default())
            .expect("valid");
        assert_eq!(s.broker_url(), DEFAULT_TLS_BROKER);
        let opts = s.connect_options(&s.broker_url(), "c").expect("valid");
        assert!(opts.secure && opts.tls.is_some());
        let error = s
            .connect_options("mqtt://h", "c")
            .expect_err("plain with TLS files");
        assert!(error.to_string().contains("use mqtts://"), "{error}");
    }

    #[test]
    fn issue_13_under_mutual_tls_the_identity_comes_from_the_client_certificate() {
        let dir = tempfile::tempdir().expect("tmp");
        let ca = ank_system_tests::certs::Ca::new(dir.path(), "ca").expect("CA");
        let alice = ca.issue_client("alice").expect("alice");
        let path = |p: &std::path::Path| p.display().to_string();
        let (ca_pem, crt, key) = (path(&ca.cert()), path(&alice.cert), path(&alice.key));
        let tls = ["--ca-pem", &ca_pem, "--crt-pem", &crt, "--key-pem", &key];
        let s = args(&tls)
            .resolve(Program::Cli, no_env, &ConnectFile::default())
            .expect("valid");
        assert_eq!(s.identity().expect("readable").as_deref(), Some("alice"));
        let opts = s
            .connect_options(&s.broker_url(), "alice.1")
            .expect("valid");
        assert_eq!(
            opts.username.as_deref(),
            Some("alice"),
            "the login is the certificate's"
        );
        // A user name given wins (the broker then checks that the certificate names it).
        let named = args(&[&tls[..], &["--username", "bob"]].concat())
            .resolve(Program::Cli, no_env, &ConnectFile::default())
            .expect("valid");
        assert_eq!(named.identity().expect("readable").as_deref(), Some("bob"));
        // No certificate, no identity; an unreadable one is an error naming the file.
        let plain = args(&[]).resolve(Program::Cli, no_env, &ConnectFile::default());
        assert_eq!(plain.expect("valid").identity().expect("ok"), None);
        let missing = args(&[
            "--ca-pem",
            &ca_pem,
            "--crt-pem",
            "/nonexistent.pem",
            "--key-pem",
            &key,
        ])
        .resolve(Program::Cli, no_env, &ConnectFile::default())
        .expect("valid")
        .identity()
        .expect_err("unreadable");
        assert!(missing.to_string().contains("nonexistent.pem"), "{missing}");
    }
}
