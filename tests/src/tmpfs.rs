//! A small tmpfs for the full-disk tests of every crate (issue 14): mounted by the test, so it
//! needs root (CI runs as root); without root a test fails and says so, it is never skipped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};

/// A tmpfs mounted on a directory, lazily unmounted on drop: a component may still hold a file
/// there while a failing test unwinds; the mount goes once it lets go.
#[derive(Debug)]
pub struct Tmpfs {
    dir: PathBuf,
    /// The fresh directory [`Tmpfs::mount`] made, removed after the unmount.
    _owned: Option<tempfile::TempDir>,
}

impl Tmpfs {
    /// A tmpfs of `size` (`4m`, as `mount -o size=` reads it) on a fresh temp directory.
    pub fn mount(size: &str) -> Result<Self> {
        let owned = tempfile::tempdir().context("creating the mount point")?;
        let mut fs = Self::mount_on(owned.path(), size)?;
        fs._owned = Some(owned);
        Ok(fs)
    }

    /// A tmpfs of `size` on the existing directory `dir`.
    pub fn mount_on(dir: &Path, size: &str) -> Result<Self> {
        ensure!(
            is_root()?,
            "this test mounts a tmpfs and must run as root (CI does); it is not skipped"
        );
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .context("running mount")?;
        ensure!(
            mounted.success(),
            "mount -t tmpfs on {}: {mounted}",
            dir.display()
        );
        Ok(Self {
            dir: dir.to_owned(),
            _owned: None,
        })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Whether this process runs as root (the effective uid in /proc/self/status).
fn is_root() -> Result<bool> {
    let status = std::fs::read_to_string("/proc/self/status").context("/proc/self/status")?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(str::to_owned));
    Ok(euid.as_deref() == Some("0"))
}

/// Writes zeros to `path` until its file system says ENOSPC; returns the bytes written.
pub fn fill(path: &Path) -> Result<u64> {
    let mut file = std::fs::File::create(path)
        .with_context(|| format!("creating the filler {}", path.display()))?;
    let chunk = vec![0u8; 16 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => return Err(e).with_context(|| format!("filling {}", path.display())),
        }
    }
    let _ = file.sync_all();
    Ok(written)
}
