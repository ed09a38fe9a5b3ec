//! Where output goes: data to stdout, status and progress to stderr (jj's `Ui`).
//!
//! `-q` silences only the status; data and errors are always printed. The live table and the
//! spinner appear only when stderr is a terminal; otherwise progress is plain lines, one per
//! change, which logs and CI keep readable.

use std::io::{self, IsTerminal, Write};

/// The output channels of one run of `ank`.
pub struct Ui {
    out: Box<dyn Write>,
    err: Box<dyn Write>,
    quiet: bool,
    stdout_tty: bool,
    stderr_tty: bool,
    width: Option<usize>,
}

impl Ui {
    /// The process's stdout and stderr.
    pub fn terminal(quiet: bool) -> Self {
        let stdout_tty = io::stdout().is_terminal();
        let stderr_tty = io::stderr().is_terminal();
        Self {
            out: Box::new(io::stdout()),
            err: Box::new(io::stderr()),
            quiet,
            stdout_tty,
            stderr_tty,
            width: terminal_width(),
        }
    }

    /// Any writers, never terminals: for tests.
    pub fn with_writers(out: Box<dyn Write>, err: Box<dyn Write>, quiet: bool) -> Self {
        Self {
            out,
            err,
            quiet,
            stdout_tty: false,
            stderr_tty: false,
            width: None,
        }
    }

    /// Where data goes.
    pub fn out(&mut self) -> &mut dyn Write {
        &mut self.out
    }

    /// Where status and progress go; use [`Ui::status`] for lines that `-q` silences.
    pub fn err(&mut self) -> &mut dyn Write {
        &mut self.err
    }

    /// A status line on stderr, unless `-q`.
    pub fn status(&mut self, line: impl std::fmt::Display) -> io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        writeln!(self.err, "{line}")
    }

    /// A warning on stderr, even with `-q`: it is about the user's input.
    pub fn warning(&mut self, line: impl std::fmt::Display) -> io::Result<()> {
        writeln!(self.err, "warning: {line}")
    }

    /// Whether status output is silenced.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// Whether progress may be drawn in place (stderr is a terminal and not `-q`).
    pub fn live_progress(&self) -> bool {
        self.stderr_tty && !self.quiet
    }

    /// Whether a change's progress goes to stdout as Ankaios writes it there: its two status
    /// lines, then the table of the changed instances after every update (issue 16 point 4).
    /// Only when stdout is not a terminal (a script reads it) and not `-q`.
    pub fn ankaios_stdout(&self) -> bool {
        !self.stdout_tty && !self.quiet
    }

    /// Whether stdout is a terminal (a watched table is redrawn in place then).
    pub fn stdout_is_terminal(&self) -> bool {
        self.stdout_tty
    }

    /// The terminal width tables wrap to; `None` when not on a terminal.
    pub fn width(&self) -> Option<usize> {
        self.width.filter(|_| self.stdout_tty || self.stderr_tty)
    }
}

/// `$COLUMNS`, else the width of the terminal on stdout or stderr.
fn terminal_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(columns);
    }
    use std::os::fd::AsFd;
    fd_width(std::io::stdout().as_fd()).or_else(|| fd_width(std::io::stderr().as_fd()))
}

fn fd_width(fd: std::os::fd::BorrowedFd<'_>) -> Option<usize> {
    // Fails without touching anything when `fd` is not a terminal.
    let size = rustix::termios::tcgetwinsize(fd).ok()?;
    (size.ws_col > 0).then_some(usize::from(size.ws_col))
}
