//! Keeps the broker serving when the file system of its storage directory fills up (issue 14).
//!
//! mqtt5 0.49 appends every session, also a clean one, to its session log when a client connects,
//! and refuses the connection with "server unavailable" (CONNACK 3) when that append fails. On a
//! full disk no client could connect at all, not even to read retained state, although nothing
//! needs the disk for that. So the broker holds a reserve: a file of `storage_reserve_bytes`
//! zeros in the storage directory, written at start. A task watches the free space of that file
//! system; when it falls below [`LOW_WATER`] it logs "no space left on device", naming the
//! directory, and deletes the reserve, which gives the broker's own small writes room again.
//! When the space is back it writes the reserve again. The reserve is also what a restart on a
//! nearly full disk runs on, and it is sized to hold mqtt5's session log between compactions
//! (docs/broker.md). No MQTT here; only file and `statvfs` calls.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

/// The reserve's file name inside the storage directory.
pub(crate) const RESERVE_FILE: &str = ".space-reserve";

/// Free space below which the file system counts as full and the reserve is released.
pub(crate) const LOW_WATER: u64 = 256 * 1024;

/// How often the free space is looked at.
const INTERVAL: Duration = Duration::from_millis(250);

/// How often "still no space" is repeated while the disk stays full.
const REPEAT: Duration = Duration::from_secs(30);

/// The watching task; dropping the guard ends it.
#[derive(Debug)]
pub(crate) struct StorageGuard {
    space: Arc<Space>,
    task: JoinHandle<()>,
}

impl Drop for StorageGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StorageGuard {
    /// Writes the reserve (if there is room for it) and starts watching `dir`.
    pub(crate) fn start(dir: PathBuf, reserve: u64) -> Self {
        let held = fill_reserve(&dir, reserve);
        let space = Arc::new(Space {
            dir,
            reserve,
            state: Mutex::new(State {
                held,
                last_report: None,
            }),
        });
        let watched = Arc::clone(&space);
        let task = tokio::spawn(async move {
            loop {
                let space = Arc::clone(&watched);
                // Restoring writes the whole reserve: keep it off the async workers.
                let _ = tokio::task::spawn_blocking(move || space.check(true)).await;
                tokio::time::sleep(INTERVAL).await;
            }
        });
        Self { space, task }
    }

    /// The shared view, for the hooks that must release the reserve before a write.
    pub(crate) fn space(&self) -> Arc<Space> {
        Arc::clone(&self.space)
    }
}

/// The reserve and what was last said about it.
#[derive(Debug)]
pub(crate) struct Space {
    dir: PathBuf,
    reserve: u64,
    /// A std `Mutex`: held for a `statvfs` and at most one file removal or reserve write, never
    /// across an `.await`.
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    held: bool,
    last_report: Option<Instant>,
}

impl Space {
    /// Releases the reserve at once if the disk is full. mqtt5 writes a session before it
    /// answers a CONNECT and a retained message before it acknowledges it, so the broker calls
    /// this just before both: a disk filled between two looks of the watcher then costs no
    /// refused connection and no retained message kept only in memory.
    pub(crate) fn release_if_full(&self) {
        self.check(false);
    }

    fn check(&self, may_restore: bool) {
        let Some(free) = free_bytes(&self.dir) else {
            return;
        };
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if free >= LOW_WATER && !may_restore {
            return;
        }
        let held = step(
            &self.dir,
            self.reserve,
            state.held,
            free,
            &mut state.last_report,
        );
        state.held = held;
    }
}

/// One look at the free space: release, restore or keep the reserve. Returns whether it is held.
fn step(
    dir: &Path,
    reserve: u64,
    held: bool,
    free: u64,
    last_report: &mut Option<Instant>,
) -> bool {
    let now = Instant::now();
    if free < LOW_WATER {
        let due = last_report.is_none_or(|at| now.duration_since(at) >= REPEAT);
        if held {
            let _ = fs::remove_file(dir.join(RESERVE_FILE));
            error!(
                storage = %dir.display(),
                free_bytes = free,
                "no space left on device for the broker's storage: released the {reserve}-byte reserve so clients can still connect; free space on this file system"
            );
            *last_report = Some(now);
            return false;
        }
        if due {
            error!(
                storage = %dir.display(),
                free_bytes = free,
                "no space left on device for the broker's storage: new connections and persisted writes fail until space is freed"
            );
            *last_report = Some(now);
        }
        return held;
    }
    if !held && free >= reserve.saturating_add(2 * LOW_WATER) && fill_reserve(dir, reserve) {
        info!(storage = %dir.display(), free_bytes = free, "space is back: the {reserve}-byte reserve is held again");
        *last_report = None;
        return true;
    }
    held
}

/// Allocates `reserve` bytes of real blocks (not a sparse file) to the reserve file; `false`
/// (and no partial file) when they do not fit.
///
/// `fallocate` takes the blocks from the file system at once, so they count as used the moment
/// it returns, and nothing is fsynced: the reserve holds no data a crash could lose, only space,
/// and a start after a crash allocates it again. Issue 17: writing 2 MiB of zeros and fsyncing
/// them cost 4-8 ms of every start before the broker listened. File systems without
/// `fallocate` get zeros written (and still no fsync: written blocks are reserved when
/// `write` returns, or `write` fails with "no space left").
fn fill_reserve(dir: &Path, reserve: u64) -> bool {
    let path = dir.join(RESERVE_FILE);
    if reserve == 0 {
        let _ = fs::remove_file(&path);
        return false;
    }
    if fs::metadata(&path).is_ok_and(|m| m.len() == reserve) {
        return true;
    }
    let written = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        match rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, reserve) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::NOSPC => {
                return Err(std::io::ErrorKind::StorageFull.into())
            }
            // Not supported here (or refused for another reason): write the zeros instead.
            Err(_) => {}
        }
        let chunk = vec![0u8; 64 * 1024];
        let mut left = reserve;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            file.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        Ok(())
    })();
    match written {
        Ok(()) => true,
        Err(e) => {
            let _ = fs::remove_file(&path);
            if e.kind() == std::io::ErrorKind::StorageFull {
                error!(storage = %dir.display(), "no space left on device for the broker's {reserve}-byte storage reserve; running without it");
            } else {
                warn!(storage = %dir.display(), "cannot write the broker's storage reserve: {e}");
            }
            false
        }
    }
}

/// Bytes an unprivileged writer may still use on the file system holding `dir`.
pub(crate) fn free_bytes(dir: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_released_when_space_runs_low_and_restored_when_it_is_back() {
        let dir = tempfile::tempdir().unwrap();
        let reserve = 4096;
        assert!(fill_reserve(dir.path(), reserve));
        let file = dir.path().join(RESERVE_FILE);
        assert_eq!(fs::metadata(&file).unwrap().len(), reserve);
        let mut last = None;
        // (free bytes seen, reserve held afterwards)
        let rows = [
            (LOW_WATER, true),
            (LOW_WATER - 1, false),
            (LOW_WATER, false),
            (reserve + 2 * LOW_WATER - 1, false),
            (reserve + 2 * LOW_WATER, true),
        ];
        let mut held = true;
        for (free, expected) in rows {
            held = step(dir.path(), reserve, held, free, &mut last);
            assert_eq!(held, expected, "free = {free}");
            assert_eq!(file.exists(), expected, "file, free = {free}");
        }
    }

    #[test]
    fn the_reserve_holds_real_blocks_not_a_sparse_file() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let reserve = 1024 * 1024;
        assert!(fill_reserve(dir.path(), reserve));
        let meta = fs::metadata(dir.path().join(RESERVE_FILE)).unwrap();
        assert_eq!(meta.len(), reserve);
        // st_blocks counts 512-byte units actually allocated: a sparse file would hold none.
        assert!(meta.blocks() * 512 >= reserve, "{} blocks", meta.blocks());
    }

    #[test]
    fn a_zero_reserve_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!fill_reserve(dir.path(), 0));
        assert!(!dir.path().join(RESERVE_FILE).exists());
    }
}
