//! Learns that a container ended from the file conmon writes at that moment, instead of waiting
//! for podman's event (issue 17).
//!
//! conmon, podman's per-container monitor, writes the exit code to `<exit-dir>/<container id>`
//! when the container's process ends (podman passes `--exit-dir <tmpdir>/exits`); podman's own
//! `container cleanup` reads and removes it a few hundred ms later, and only then does the file
//! events backend publish `died` (27–288 ms after the exit, measured on podman 4.3.1). An inotify
//! watch on that directory sees the file within a millisecond of the exit.
//!
//! This is a hint, like an event: the file names a container id and an exit code, nothing else,
//! so `events.rs` maps it to the agent's containers and the listing that follows confirms it.
//! Anything in the directory is untrusted: names that are not container ids, files that are not
//! a number, or more than [`MAX_EXIT_FILE_BYTES`], are ignored. No I/O beyond reading that one
//! small file; this module never spawns podman.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use tokio::io::unix::AsyncFd;

/// The largest exit file read: conmon writes a decimal exit code.
pub const MAX_EXIT_FILE_BYTES: u64 = 32;

/// podman's exit directory for this user with its default `tmp_dir`: `/run/libpod/exits` for root,
/// `$XDG_RUNTIME_DIR/libpod/tmp/exits` rootless (podman 4.x). `None` when rootless without
/// `XDG_RUNTIME_DIR`.
pub fn default_exit_dir() -> Option<PathBuf> {
    default_tmp_dir().map(|dir| dir.join("exits"))
}

/// podman's default `tmp_dir` for this user: `/run/libpod` for root,
/// `$XDG_RUNTIME_DIR/libpod/tmp` rootless (podman 4.x); the events log is under it too.
pub fn default_tmp_dir() -> Option<PathBuf> {
    if rustix::process::geteuid().is_root() {
        return Some(PathBuf::from("/run/libpod"));
    }
    std::env::var_os("XDG_RUNTIME_DIR").map(|dir| PathBuf::from(dir).join("libpod").join("tmp"))
}

/// A container's exit, read from its exit file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitFile {
    /// The container id (the file's name).
    pub id: String,
    /// The exit code conmon wrote.
    pub code: i32,
}

/// An inotify watch on an exit directory.
pub struct ExitDirWatch {
    dir: PathBuf,
    fd: AsyncFd<OwnedFd>,
    buffer: Vec<u8>,
    /// Names of a read that are not yet returned.
    pending: std::collections::VecDeque<String>,
}

impl ExitDirWatch {
    /// Watches `dir` for files written and closed, or moved in.
    pub fn open(dir: &Path) -> std::io::Result<ExitDirWatch> {
        use rustix::fs::inotify;
        let fd = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC)?;
        inotify::add_watch(
            &fd,
            dir,
            inotify::WatchFlags::CLOSE_WRITE
                | inotify::WatchFlags::MOVED_TO
                | inotify::WatchFlags::ONLYDIR,
        )?;
        let fd = register(fd)?;
        Ok(ExitDirWatch {
            dir: dir.to_owned(),
            fd,
            buffer: vec![0; 4096],
            pending: std::collections::VecDeque::new(),
        })
    }

    /// The directory watched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The next exit file written; files that vanished before they were read (podman's cleanup
    /// was faster) or are not exit files are skipped. An error means the watch is broken.
    pub async fn next(&mut self) -> std::io::Result<ExitFile> {
        loop {
            while let Some(name) = self.pending.pop_front() {
                if let Some(code) = read_exit_file(&self.dir.join(&name)) {
                    return Ok(ExitFile { id: name, code });
                }
            }
            let mut guard = self.fd.readable().await?;
            let buffer = &mut self.buffer;
            let read = guard.try_io(|fd| Ok(rustix::io::read(fd, &mut buffer[..])?));
            match read {
                Ok(Ok(n)) => self.pending.extend(container_ids(&self.buffer[..n])),
                Ok(Err(error)) => return Err(error),
                Err(_would_block) => continue,
            }
        }
    }
}

/// `fd` registered with tokio's reactor for reading. tokio made this call `unsafe` (its
/// safe spelling is deprecated for lack of I/O safety), so it is the one `unsafe` of the agent;
/// the events log's tail (`events_tail.rs`) registers its inotify descriptor here too.
#[allow(unsafe_code)]
pub(super) fn register(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the OwnedFd moves into the AsyncFd, which owns it and keeps it open until the
    // registration is dropped; nothing else holds or closes this inotify descriptor.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

/// The names in a buffer of `struct inotify_event`s that look like container ids (64 lowercase
/// hex digits); anything else, and a truncated record, is skipped.
pub fn container_ids(events: &[u8]) -> Vec<String> {
    event_names(events)
        .into_iter()
        .filter(|name| is_container_id(name))
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect()
}

/// The name of each record in a buffer of `struct inotify_event`s, empty for a record without
/// one (a queue overflow, an event of the watched directory itself); a truncated record ends it.
pub fn event_names(mut events: &[u8]) -> Vec<&[u8]> {
    // struct inotify_event { int wd; uint32_t mask; uint32_t cookie; uint32_t len; char name[]; }
    const HEADER: usize = 16;
    let mut names = Vec::new();
    while events.len() >= HEADER {
        let len = u32::from_ne_bytes([events[12], events[13], events[14], events[15]]) as usize;
        let Some(name) = events.get(HEADER..HEADER.saturating_add(len)) else {
            break;
        };
        names.push(name.split(|b| *b == 0).next().unwrap_or_default());
        events = &events[HEADER + len..];
    }
    names
}

fn is_container_id(name: &[u8]) -> bool {
    name.len() == 64 && name.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The exit code in `path`, or `None` if it is gone, too long or not a number.
pub fn read_exit_file(path: &Path) -> Option<i32> {
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(MAX_EXIT_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .ok()?;
    if text.len() as u64 > MAX_EXIT_FILE_BYTES {
        return None;
    }
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "af51146e2fac22b5a8ed6b2d0847577770dd7dfab733de34a088988639aa91a5";

    fn record(name: &[u8], padded: usize) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&1i32.to_ne_bytes());
        out.extend_from_slice(
            &rustix::fs::inotify::WatchFlags::CLOSE_WRITE
                .bits()
                .to_ne_bytes(),
        );
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&(padded as u32).to_ne_bytes());
        out.extend_from_slice(name);
        out.resize(out.len() + padded - name.len(), 0);
        out
    }

    #[test]
    fn container_ids_keeps_only_ids_and_survives_truncation() {
        let mut buffer = record(ID.as_bytes(), 80);
        buffer.extend(record(b"not-an-id", 16));
        buffer.extend(record(ID.to_uppercase().as_bytes(), 64));
        let mut truncated = record(ID.as_bytes(), 80);
        truncated.truncate(40);
        buffer.extend(truncated);
        assert_eq!(container_ids(&buffer), [ID]);
        // A length that points past the end is a truncated record, not a panic.
        let mut lying = record(b"x", 16);
        lying[12..16].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(container_ids(&lying).is_empty());
    }

    #[test]
    fn read_exit_file_reads_a_code_and_refuses_anything_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        // (contents, code)
        let cases: [(&str, Option<i32>); 5] = [
            ("0", Some(0)),
            ("137\n", Some(137)),
            ("-1", Some(-1)),
            ("exited", None),
            ("1234567890123456789012345678901234567890", None),
        ];
        for (i, (contents, code)) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("f{i}"));
            std::fs::write(&path, contents).expect("write");
            assert_eq!(read_exit_file(&path), code, "{contents:?}");
        }
        assert_eq!(read_exit_file(&dir.path().join("gone")), None);
    }

    #[tokio::test]
    async fn a_written_exit_file_is_seen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut watch = ExitDirWatch::open(dir.path()).expect("watch");
        std::fs::write(dir.path().join("junk"), "1").expect("write");
        std::fs::write(dir.path().join(ID), "3").expect("write");
        let seen = tokio::time::timeout(std::time::Duration::from_secs(5), watch.next())
            .await
            .expect("in time")
            .expect("watch works");
        assert_eq!(
            seen,
            ExitFile {
                id: ID.into(),
                code: 3
            }
        );
    }
}
