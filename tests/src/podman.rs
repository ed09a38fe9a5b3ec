//! Runs podman the way the project's machines need it (runc, explicit ulimits), through the
//! `containers.conf` written by `scripts/test-env.sh`.

use std::path::PathBuf;
use std::process::{Command, Output};

use anyhow::{bail, Context, Result};

/// The local test image built by `scripts/test-env.sh` (busybox with `PATH=/bin`).
pub fn test_image() -> String {
    std::env::var("ANK_TEST_IMAGE").unwrap_or_else(|_| "localhost/ank-test/busybox:latest".into())
}

/// The workspace root, where `.test-env/` lives.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The `containers.conf` to use: `$CONTAINERS_CONF`, else the one `scripts/test-env.sh` wrote.
pub fn containers_conf() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("CONTAINERS_CONF") {
        return Ok(PathBuf::from(path));
    }
    let path = workspace_root().join(".test-env/containers.conf");
    if !path.exists() {
        bail!(
            "{} is missing: run scripts/test-env.sh first (it installs podman, runc and \
             the test image, and writes the containers.conf the tests need)",
            path.display()
        );
    }
    Ok(path)
}

/// A `podman` command configured for this machine.
pub fn command() -> Result<Command> {
    let mut command = Command::new("podman");
    command.env("CONTAINERS_CONF", containers_conf()?);
    Ok(command)
}

/// Runs `podman ARGS…` and returns its output, failing with podman's stderr when it fails.
pub fn run(args: &[&str]) -> Result<Output> {
    let output = command()?
        .args(args)
        .output()
        .context("podman is not installed: run scripts/test-env.sh")?;
    if !output.status.success() {
        bail!(
            "podman {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output)
}
