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

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How much of stderr a [`CommandError`] keeps: enough for podman's message, bounded for a car.
const STDERR_KEEP: usize = 4096;

/// The longest line a [`stream`] yields; the rest of a longer line is skipped. A workload's
/// output is outside input: unbounded, one line without a newline could fill the agent's memory.
pub const MAX_STREAM_LINE: usize = 64 * 1024;

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

/// Which output stream a [`Line`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The program's stdout.
    Stdout,
    /// The program's stderr.
    Stderr,
}

/// One line of a streamed program's output, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Where it was written.
    pub source: Source,
    /// The text, lossily decoded as UTF-8.
    pub text: String,
}

/// Whether a [`stream`] yields stderr lines too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StderrMode {
    /// Yield stderr lines interleaved with stdout, as they arrive (`podman logs`, where a
    /// container's stderr arrives on podman's stderr).
    Merge,
    /// Keep stderr for the error report only (`podman events`, whose stdout is data).
    Collect,
}

/// A running program whose output lines arrive one by one. Dropping it kills the program.
pub struct LineStream {
    command: CommandLine,
    child: Child,
    lines: mpsc::Receiver<Line>,
    readers: Vec<JoinHandle<()>>,
    stderr_tail: Option<JoinHandle<String>>,
}

/// Starts `command` and returns its output as a stream of lines.
pub fn stream(command: &CommandLine, mode: StderrMode) -> Result<LineStream, CommandError> {
    let mut cmd = command.command();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, led by the child: Drop kills the group, and a Ctrl+C meant for the
        // agent's terminal does not reach it (the agent ends its streams itself).
        .process_group(0);
    let mut child = cmd.spawn().map_err(|source| CommandError::Spawn {
        command: command.clone(),
        source,
    })?;
    // Bounded: a consumer that stops reading pauses podman instead of growing memory.
    let (tx, lines) = mpsc::channel(256);
    let mut readers = Vec::new();
    let mut stderr_tail = None;
    if let Some(stdout) = child.stdout.take() {
        readers.push(tokio::spawn(forward_lines(
            stdout,
            Source::Stdout,
            tx.clone(),
        )));
    }
    if let Some(stderr) = child.stderr.take() {
        match mode {
            StderrMode::Merge => {
                readers.push(tokio::spawn(forward_lines(stderr, Source::Stderr, tx)));
            }
            StderrMode::Collect => stderr_tail = Some(tokio::spawn(collect_tail(stderr))),
        }
    }
    Ok(LineStream {
        command: command.clone(),
        child,
        lines,
        readers,
        stderr_tail,
    })
}

impl LineStream {
    /// The next line, or `None` once the program closed its output.
    pub async fn next_line(&mut self) -> Option<Line> {
        self.lines.recv().await
    }

    /// Waits for the program to exit after its output ended; an unsuccessful exit is an error
    /// with the collected stderr (empty in [`StderrMode::Merge`], where it was yielded).
    pub async fn finish(mut self) -> Result<(), CommandError> {
        let status = self.child.wait().await.map_err(|source| CommandError::Io {
            command: self.command.clone(),
            source,
        })?;
        let stderr = match self.stderr_tail.take() {
            Some(task) => task.await.unwrap_or_default(),
            None => String::new(),
        };
        if status.success() {
            Ok(())
        } else {
            Err(CommandError::Failed {
                command: self.command.clone(),
                status,
                stderr,
            })
        }
    }

    /// The command line this stream runs.
    pub fn command(&self) -> &CommandLine {
        &self.command
    }
}

impl Drop for LineStream {
    fn drop(&mut self) {
        // `id()` is `None` once the child was reaped, so the group id cannot have been reused.
        if let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok()) {
            // The group was created for this child (`process_group(0)`), so only its processes
            // are hit. It may be gone already; nothing to do then.
            if let Some(group) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
        }
        // The child itself dies through kill_on_drop; the readers would end at EOF anyway,
        // aborting them just frees them at once.
        for reader in &self.readers {
            reader.abort();
        }
        if let Some(task) = &self.stderr_tail {
            task.abort();
        }
    }
}

async fn forward_lines(pipe: impl AsyncRead + Unpin, source: Source, tx: mpsc::Sender<Line>) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match read_bounded_line(&mut reader, &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(strip_line_end(&buf)).into_owned();
                if tx.send(Line { source, text }).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn collect_tail(pipe: impl AsyncRead + Unpin) -> String {
    let mut reader = BufReader::new(pipe);
    let mut kept = String::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match read_bounded_line(&mut reader, &mut buf).await {
            Ok(0) | Err(_) => return keep_tail(&kept),
            Ok(_) => {
                kept.push_str(&String::from_utf8_lossy(&buf));
                if kept.len() > 2 * STDERR_KEEP {
                    kept = keep_tail(&kept);
                }
            }
        }
    }
}

/// Reads one line into `buf` like `read_until(b'\n')`, but keeps at most [`MAX_STREAM_LINE`]
/// bytes of it and skips the rest. Returns the bytes consumed (0 at EOF).
async fn read_bounded_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(consumed);
        }
        let (take, done) = match available.iter().position(|b| *b == b'\n') {
            Some(end) => (end + 1, true),
            None => (available.len(), false),
        };
        let room = MAX_STREAM_LINE.saturating_sub(buf.len());
        buf.extend_from_slice(&available[..take.min(room)]);
        reader.consume(take);
        consumed += take;
        if done {
            return Ok(consumed);
        }
    }
}

fn strip_line_end(buf: &[u8]) -> &[u8] {
    let buf = buf.strip_suffix(b"\n").unwrap_or(buf);
    buf.strip_suffix(b"\r").unwrap_or(buf)
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
mod tests {
    use super::*;

    fn sh(script: &str) -> CommandLine {
        CommandLine::new("sh").arg("-c").arg(script)
    }

    #[tokio::test]
    async fn run_returns_stdout_of_a_successful_program() {
        let out = run(&sh("echo hello"), None, Duration::from_secs(5)).await;
        assert_eq!(out.expect("sh runs").trim(), "hello");
    }

    #[tokio::test]
    async fn run_feeds_stdin() {
        let out = run(
            &CommandLine::new("cat"),
            Some(b"a\nb\n"),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(out.expect("cat runs"), "a\nb\n");
    }

    #[tokio::test]
    async fn run_error_names_program_args_status_and_stderr() {
        let err = run(&sh("echo boom >&2; exit 7"), None, Duration::from_secs(5))
            .await
            .expect_err("exit 7 is a failure");
        let text = err.to_string();
        assert!(text.contains("sh -c echo boom >&2; exit 7"), "{text}");
        assert!(text.contains('7'), "{text}");
        assert!(text.contains("boom"), "{text}");
        assert_eq!(err.stderr(), Some("boom"));
    }

    #[tokio::test]
    async fn run_kills_a_program_that_misses_its_deadline() {
        let started = std::time::Instant::now();
        let err = run(&sh("sleep 5"), None, Duration::from_millis(100))
            .await
            .expect_err("sleep outlives the deadline");
        assert!(matches!(err, CommandError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn run_reports_a_missing_program_as_spawn_error() {
        let err = run(
            &CommandLine::new("/nonexistent/ankmq-no-such-program"),
            None,
            Duration::from_secs(5),
        )
        .await
        .expect_err("no such program");
        assert!(matches!(err, CommandError::Spawn { .. }), "{err}");
        assert!(err.to_string().contains("ankmq-no-such-program"));
    }

    #[tokio::test]
    async fn stream_merges_stderr_lines_when_asked() {
        let mut lines = stream(&sh("echo out; sleep 0.05; echo err >&2"), StderrMode::Merge)
            .expect("sh starts");
        let mut seen = Vec::new();
        while let Some(line) = lines.next_line().await {
            seen.push(line);
        }
        assert!(seen.contains(&Line {
            source: Source::Stdout,
            text: "out".into()
        }));
        assert!(seen.contains(&Line {
            source: Source::Stderr,
            text: "err".into()
        }));
        lines.finish().await.expect("exit 0");
    }

    #[tokio::test]
    async fn stream_collects_stderr_into_the_failure() {
        let mut lines =
            stream(&sh("echo data; echo why >&2; exit 2"), StderrMode::Collect).expect("starts");
        assert_eq!(lines.next_line().await.map(|l| l.text), Some("data".into()));
        assert_eq!(lines.next_line().await, None);
        let err = lines.finish().await.expect_err("exit 2");
        assert_eq!(err.stderr(), Some("why"));
    }

    #[tokio::test]
    async fn stream_yields_lines_before_the_program_ends() {
        let mut lines = stream(&sh("echo first; sleep 30"), StderrMode::Collect).expect("starts");
        let first = tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await;
        assert_eq!(first.ok().flatten().map(|l| l.text), Some("first".into()));
        // Dropping the stream kills `sleep 30`; the test would hang otherwise at finish.
    }

    #[tokio::test]
    async fn issue_14_dropping_a_stream_kills_its_whole_process_group() {
        // A wrapper (sh) that starts a grandchild, as a `podman` wrapper script would.
        let script = "sleep 300 & echo started; exec sleep 301";
        let mut lines = stream(&sh(script), StderrMode::Collect).expect("starts");
        assert_eq!(
            lines.next_line().await.map(|l| l.text),
            Some("started".into())
        );
        let group = lines.child.id().expect("running") as i32;
        drop(lines);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        // kill(-pgid, 0) fails with ESRCH once no process of the group is left (zombies of
        // reaped children aside, which init collects).
        loop {
            let alive = rustix::process::Pid::from_raw(group)
                .is_some_and(|g| rustix::process::test_kill_process_group(g).is_ok())
                && group_has_live_member(group);
            if !alive {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "processes of group {group} are still alive"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether a process of `group` that is not a zombie exists, from `/proc/*/stat`.
    fn group_has_live_member(group: i32) -> bool {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return false;
        };
        entries.flatten().any(|entry| {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                return false;
            };
            // Fields after the `(comm)`: state, ppid, pgrp, …
            let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
                return false;
            };
            let fields: Vec<&str> = rest.split(' ').collect();
            fields.first() != Some(&"Z") && fields.get(2) == Some(&group.to_string().as_str())
        })
    }

    #[tokio::test]
    async fn issue_14_a_line_longer_than_the_bound_is_cut_and_the_next_line_survives() {
        let script = format!(
            "head -c {} /dev/zero | tr '\\0' x; echo; echo next",
            MAX_STREAM_LINE * 3
        );
        let mut lines = stream(&sh(&script), StderrMode::Collect).expect("starts");
        let long = lines.next_line().await.expect("the long line").text;
        assert_eq!(
            long.len(),
            MAX_STREAM_LINE,
            "one byte more than the bound is cut"
        );
        assert_eq!(lines.next_line().await.map(|l| l.text), Some("next".into()));
        lines.finish().await.expect("exit 0");
    }

    #[test]
    fn keep_tail_cuts_long_stderr_from_the_front() {
        let long = "x".repeat(STDERR_KEEP * 2) + "END";
        let kept = keep_tail(&long);
        assert!(kept.ends_with("END"));
        assert!(kept.len() <= STDERR_KEEP + '…'.len_utf8());
    }
}
