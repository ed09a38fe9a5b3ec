//! Finds the project's binaries (`ank-controller`, `ank-agent`, `ank`) for the system tests, and
//! builds them once per test run so a scenario never runs against a stale binary.
//!
//! `env!("CARGO_BIN_EXE_…")` only exists inside the binary's own package, so the binaries are
//! looked up next to the running test executable: `target/<profile>/deps/system-…` means
//! `target/<profile>/ank-agent`. That follows `CARGO_TARGET_DIR` and `--release` for free.
//!
//! Stale binaries: `cargo test --workspace` builds every binary first, but
//! `cargo test -p ank-system-tests` (the way to run one area) does not rebuild the other
//! packages, and a test that passes against last week's agent proves nothing. So, once per test
//! run, the binaries' modification times are compared with every source file of the crates they
//! are built from; if one is missing or older, the suite runs `cargo build --workspace --bins`
//! first. Not `cargo build -p …`: resolving features for a subset of the workspace differs from
//! the workspace build and would recompile shared dependencies back and forth. Set
//! `ANK_SYSTEM_TESTS_NO_BUILD=1` to never build; a missing or stale binary is then an error.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};

/// One of the project's binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// `ank-controller`, package `ank-controller`.
    Controller,
    /// `ank-agent`, package `ank-agent`.
    Agent,
    /// `ank`, package `ank-cli`.
    Ank,
    /// `ank-broker`, package `ank-broker`: the standalone broker, which also serves the
    /// dashboard page (issue 18).
    Broker,
}

impl Binary {
    /// Every binary the system tests start.
    pub const ALL: [Binary; 4] = [
        Binary::Controller,
        Binary::Agent,
        Binary::Ank,
        Binary::Broker,
    ];

    /// The executable's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            Binary::Controller => "ank-controller",
            Binary::Agent => "ank-agent",
            Binary::Ank => "ank",
            Binary::Broker => "ank-broker",
        }
    }

    /// The cargo package that builds it.
    pub fn package(self) -> &'static str {
        match self {
            Binary::Controller => "ank-controller",
            Binary::Agent => "ank-agent",
            Binary::Ank => "ank-cli",
            Binary::Broker => "ank-broker",
        }
    }
}

/// The path of `binary`, built (once per process) if needed. Panics are left to callers: this
/// returns an error naming the command that failed or the file that is missing.
pub fn path(binary: Binary) -> Result<PathBuf> {
    static BUILT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT
        .get_or_init(|| build_all().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let path = dir.join(binary.file_name());
    if !path.exists() {
        bail!(
            "{} is missing: build it with `cargo build -p {}`",
            path.display(),
            binary.package()
        );
    }
    Ok(path)
}

/// `target/<profile>`: the directory holding the test executable's `deps/`.
fn profile_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the test executable")?;
    let deps = exe
        .parent()
        .context("the test executable has no directory")?;
    // Test executables live in target/<profile>/deps; doc tests and others may not.
    let dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().context("deps/ has no parent")?
    } else {
        deps
    };
    Ok(dir.to_path_buf())
}

/// The folders whose sources go into the binaries (relative to the workspace root).
const SOURCES: [&str; 6] = [
    "schemas",
    "bus",
    "broker",
    "controller",
    "node-agent",
    "cli",
];

fn build_all() -> Result<PathBuf> {
    let dir = profile_dir()?;
    let root = crate::podman::workspace_root();
    let stale = match newest_source(&root) {
        Ok(newest) => Binary::ALL.iter().any(|b| {
            std::fs::metadata(dir.join(b.file_name()))
                .and_then(|m| m.modified())
                .map_or(true, |built| built < newest)
        }),
        Err(_) => true,
    };
    if !stale {
        return Ok(dir);
    }
    if std::env::var_os("ANK_SYSTEM_TESTS_NO_BUILD").is_some() {
        bail!(
            "the binaries in {} are missing or older than their sources, and \
             ANK_SYSTEM_TESTS_NO_BUILD is set: run `cargo build --workspace --bins`",
            dir.display()
        );
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .args(["build", "--workspace", "--bins"])
        .current_dir(&root);
    if dir.file_name().is_some_and(|n| n == "release") {
        command.arg("--release");
    }
    // The target directory must be the one the binaries are looked up in.
    if let Some(target) = dir.parent() {
        command.env("CARGO_TARGET_DIR", target);
    }
    eprintln!(
        "system tests: the binaries are missing or stale; running `cargo build --workspace --bins`"
    );
    let status = command
        .status()
        .with_context(|| format!("running {cargo} build for the system tests"))?;
    if !status.success() {
        bail!("`{cargo} build --workspace --bins` failed ({status}); see its output above");
    }
    Ok(dir)
}

/// The newest modification time of the `src/**/*.rs` files and the `Cargo.toml` of each crate
/// in [`SOURCES`]. Only what is compiled into the binaries counts: a touched test file does not
/// relink a binary, and would otherwise make every run call cargo.
fn newest_source(root: &Path) -> Result<SystemTime> {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut pending = Vec::new();
    for krate in SOURCES {
        let manifest = root.join(krate).join("Cargo.toml");
        newest = newest.max(std::fs::metadata(&manifest)?.modified()?);
        pending.push(root.join(krate).join("src"));
    }
    while let Some(path) = pending.pop() {
        for entry in
            std::fs::read_dir(&path).with_context(|| format!("listing {}", path.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                newest = newest.max(entry.metadata()?.modified()?);
            }
        }
    }
    Ok(newest)
}
