//! The only place in ankmq that spawns a process.
//!
//! Everything else builds a [`CommandLine`] (plain data, easy to test) and hands it here. Two ways
//! to run one: [`run`] waits for the exit with a deadline and returns stdout, and [`stream`] yields
//! output lines as they come (for `podman events` and `podman logs -f`). Both are async
//! (`tokio::process`) so a slow podman never blocks the runtime, and both kill the child when the
//! caller stops caring (`kill_on_drop`). A streamed program runs in a process group of its own,
//! and dropping its stream kills the whole group: a `podman` that is a wrapper script (or
//! starts helpers) leaves nothing behind (issue 14: leaked `podman logs -f`). A failure names the program, the arguments, the exit
//! status and stderr, so a log line alone tells what went wrong.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

mod stream;

pub use stream::{stream, Line, LineStream, Source, StderrMode, MAX_STREAM_LINE};

/// How much of stderr a [`CommandError`] keeps: enough for podman's message, bounded for a car.
const STDERR_KEEP: usize = 4096;

/// A program with its arguments and extra environment; plain data until [`run`] or [`stream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The program, looked up in `PATH` unless it is a path.
    pub program: PathBuf,
    /// The arguments, in order, without any shell interpretation.
    pub args: Vec<String>,
    /// Variables set on top of the inherited environment (e.g. `CONTAINERS_CONF`).
    pub env: Vec<(OsString, OsString)>,
}

impl CommandLine {
    /// A command line for `program` with no arguments and the inherited environment.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true);
        command
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.program.display())?;
        for arg in &self.args {
            write!(f, " {arg}")?;
        }
        Ok(())
    }
}

/// Why running a program failed. Every variant names the command line.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program could not be started (not installed, not executable).
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// The command line that was tried.
        command: CommandLine,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// Reading the program's output or writing its stdin failed.
    #[error("I/O with `{command}` failed: {source}")]
    Io {
        /// The command line that was running.
        command: CommandLine,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The program ran but exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line that failed.
        command: CommandLine,
        /// Its exit status.
        status: ExitStatus,
        /// Its stderr, trimmed and cut to a few kilobytes.
        stderr: String,
    },
    /// The program did not finish within its deadline; it has been killed.
    #[error("`{command}` did not finish within {timeout:?} and was killed")]
    Timeout {
        /// The command line that hung.
        command: CommandLine,
        /// The deadline it missed.
        timeout: Duration,
    },
}

impl CommandError {
    /// The stderr of a program that ran and failed, if that is what happened.
    pub fn stderr(&self) -> Option<&str> {
        match self {
            CommandError::Failed { stderr, .. } => Some(stderr),
            _ => None,
        }
    }
}

/// Runs `command` to completion, feeding it `stdin` if given, and returns its stdout.
///
/// A non-zero exit is an error carrying stderr. After `timeout` the child is killed.
pub async fn run(
    command: &CommandLine,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<String, CommandError> {
    let mut cmd = command.command();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().map_err(|source| CommandError::Spawn {
        command: command.clone(),
        source,
    })?;
    let io_error = |source| CommandError::Io {
        command: command.clone(),
        source,
    };
    let work = async {
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // Written before reading output: podman reads the whole manifest before it prints,
            // and the pipe closes (EOF) when `pipe` drops at the end of this block.
            pipe.write_all(bytes).await.map_err(io_error)?;
        }
        child.wait_with_output().await.map_err(io_error)
    };
    let output = match tokio::time::timeout(timeout, work).await {
        Ok(result) => result?,
        // Dropping `work` drops the child, and kill_on_drop kills it.
        Err(_) => {
            return Err(CommandError::Timeout {
                command: command.clone(),
                timeout,
            })
        }
    };
    if !output.status.success() {
        return Err(CommandError::Failed {
            command: command.clone(),
            status: output.status,
            stderr: keep_tail(&String::from_utf8_lossy(&output.stderr)),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The trimmed end of `text`, at most [`STDERR_KEEP`] bytes, cut on a character boundary.
fn keep_tail(text: &str) -> String {
    let text = text.trim();
    if text.len() <= STDERR_KEEP {
        return text.to_owned();
    }
    let mut start = text.len() - STDERR_KEEP;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
