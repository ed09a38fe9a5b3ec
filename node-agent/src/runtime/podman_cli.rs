//! How this node invokes podman: which binary, which extra environment, which deadline.
//!
//! The connectors, `ps.rs` and `events.rs` all build their command lines from one [`PodmanCli`],
//! so a node that needs `CONTAINERS_CONF` (as the project's test machines do, see DESIGN.md) or a
//! podman outside `PATH` says so once. It only builds [`CommandLine`]s; running them is
//! `command.rs`'s job.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::command::{self, CommandError, CommandLine, LineStream, StderrMode};

/// The default deadline of one podman call that is expected to end (not `events` or `logs -f`).
///
/// Generous because `run` may pull an image; a stuck podman is killed rather than blocking the
/// workload forever.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The podman binary and its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodmanCli {
    program: PathBuf,
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
    /// Where conmon writes exit files (`exit_files.rs`); podman's default for this user.
    exit_dir: Option<PathBuf>,
    /// The agent-wide listing its clones share (`ps.rs`): one `podman ps` serves every connector.
    pub(crate) listing: super::ps::SharedListing,
}

impl Default for PodmanCli {
    fn default() -> Self {
        Self::new("podman")
    }
}

impl PodmanCli {
    /// Uses `program` (a name looked up in `PATH`, or a path) with the inherited environment.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            exit_dir: super::exit_files::default_exit_dir(),
            listing: super::ps::SharedListing::default(),
        }
    }

    /// Sets where conmon writes exit files (`None`: learn exits from podman's events only). For
    /// a podman whose `tmp_dir` is not the default, or a test that plays conmon.
    pub fn with_exit_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.exit_dir = dir;
        self
    }

    /// Where conmon writes exit files, if known.
    pub fn exit_dir(&self) -> Option<PathBuf> {
        self.exit_dir.clone()
    }

    /// Sets an environment variable for every podman call (e.g. `CONTAINERS_CONF`).
    pub fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The value of `key` in podman's environment: this CLI's own setting (the last one), else
    /// the agent's inherited one.
    pub fn env_var(&self, key: &str) -> Option<OsString> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var_os(key))
    }

    /// Sets the deadline of calls that are expected to end.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The command line `podman <general_options> <args>`.
    pub fn command<S: AsRef<str>>(&self, general_options: &[String], args: &[S]) -> CommandLine {
        let mut line = CommandLine::new(&self.program)
            .args(general_options.iter().cloned())
            .args(args.iter().map(|a| a.as_ref().to_owned()));
        line.env = self.env.clone();
        line
    }

    /// Runs `podman <general_options> <args>` to completion and returns its stdout.
    pub async fn run<S: AsRef<str>>(
        &self,
        general_options: &[String],
        args: &[S],
        stdin: Option<&[u8]>,
    ) -> Result<String, CommandError> {
        // Every call but a listing may change containers: a shared listing is stale after it.
        self.listing.forget();
        let result = self
            .run_within(general_options, args, stdin, self.timeout)
            .await;
        self.listing.forget();
        result
    }

    /// [`PodmanCli::run`] with its own deadline, for calls that must answer quickly (`ps`).
    pub async fn run_within<S: AsRef<str>>(
        &self,
        general_options: &[String],
        args: &[S],
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<String, CommandError> {
        command::run(&self.command(general_options, args), stdin, timeout).await
    }

    /// Starts `podman <general_options> <args>` as a stream of output lines.
    pub fn stream<S: AsRef<str>>(
        &self,
        general_options: &[String],
        args: &[S],
        mode: StderrMode,
    ) -> Result<LineStream, CommandError> {
        command::stream(&self.command(general_options, args), mode)
    }
}
