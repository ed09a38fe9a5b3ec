//! Streaming a program's output line by line (`podman events`, `podman logs -f`), split from
//! [`super::run`]'s wait-for-exit because a stream has its own lifetime rules: the program runs
//! in a process group of its own and dropping the stream kills the whole group (issue 14: leaked
//! `podman logs -f`), lines are bounded in length, and the channel is bounded so a slow reader
//! pauses podman instead of growing memory. Still part of `command`, the only module that spawns.

use std::process::Stdio;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{keep_tail, CommandError, CommandLine, STDERR_KEEP};

/// The longest line a [`stream`] yields; the rest of a longer line is skipped. A workload's
/// output is outside input: unbounded, one line without a newline could fill the agent's memory.
pub const MAX_STREAM_LINE: usize = 64 * 1024;

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
    // Visible to `command`'s tests, which check that dropping the stream kills its group.
    pub(super) child: Child,
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
