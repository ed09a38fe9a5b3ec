//! Follows podman's file events log with inotify, so the agent learns podman's events without a
//! `podman events` child (21–35 MiB of RSS, more than the rest of ankmq; issue 17, figure 7h).
//!
//! It yields the log's lines as they are appended, bounded: at most one read chunk is held, a
//! line longer than [`MAX_STREAM_LINE`] is skipped to its newline ([`TailItem::TooLong`]). It
//! starts at the end of the file (the resync listing covers the past, as `--since now` would).
//! The watch is on the log's directory, so it also sees podman's rotation (a new file renamed
//! over the log): the open file is read to its end, then the new one from its start, announced
//! as [`TailItem::Gap`]; the same for a file truncated under the reader. When the log does not
//! exist yet (podman creates it at its first event), the tail waits for it to appear. What the
//! lines mean is `events_log.rs`'s business; this module never parses them and never spawns.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tokio::io::unix::AsyncFd;

use super::command::MAX_STREAM_LINE;
use super::events_log::{change, Change, FileIdentity, Lines, Piece};

/// How much of the log one read takes; the tail holds no more than this of unread lines.
const CHUNK: usize = 64 * 1024;

/// What the tail yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailItem {
    /// One appended line, without its newline.
    Line(String),
    /// A line longer than the bound was skipped; it held this many bytes.
    TooLong(usize),
    /// The log was rotated or truncated: lines may have been missed, and the next lines come
    /// from the start of the file, so some may be repeats.
    Gap,
}

/// An inotify tail of one log file. Dropping it closes the watch and the file.
pub struct EventsTail {
    path: PathBuf,
    dir: PathBuf,
    name: OsString,
    watch: AsyncFd<OwnedFd>,
    events: Vec<u8>,
    /// The file being read and what it was when opened (only its device and inode matter).
    file: Option<(File, FileIdentity)>,
    offset: u64,
    lines: Lines,
    pieces: Vec<Piece>,
    pending: VecDeque<TailItem>,
    chunk: Vec<u8>,
}

impl EventsTail {
    /// Starts following `path` at its current end (or its start once it appears). Fails when
    /// its directory cannot be watched (it does not exist, no permission).
    pub fn open(path: &Path) -> std::io::Result<EventsTail> {
        use rustix::fs::inotify;
        let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path");
        let name = path.file_name().ok_or_else(invalid)?.to_owned();
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => return Err(invalid()),
        };
        let fd = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC)?;
        // Watched before the file is opened, so nothing appended in between is missed.
        inotify::add_watch(
            &fd,
            &dir,
            inotify::WatchFlags::MODIFY
                | inotify::WatchFlags::CREATE
                | inotify::WatchFlags::MOVED_TO
                | inotify::WatchFlags::CLOSE_WRITE
                | inotify::WatchFlags::DELETE_SELF
                | inotify::WatchFlags::MOVE_SELF
                | inotify::WatchFlags::ONLYDIR,
        )?;
        let watch = super::exit_files::register(fd)?;
        let mut tail = EventsTail {
            path: path.to_owned(),
            dir,
            name,
            watch,
            events: vec![0; 4096],
            file: None,
            offset: 0,
            lines: Lines::new(MAX_STREAM_LINE),
            pieces: Vec::new(),
            pending: VecDeque::new(),
            chunk: vec![0; CHUNK],
        };
        match open_file(&tail.path)? {
            Some((mut file, identity)) => {
                tail.offset = file.seek(SeekFrom::End(0))?;
                tail.file = Some((file, identity));
            }
            None => {
                tracing::info!(path = %path.display(), "podman's events log does not exist yet: waiting for it")
            }
        }
        Ok(tail)
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next item. An error means the tail is broken (the directory went away, the file
    /// cannot be read); the caller starts over.
    pub async fn next(&mut self) -> std::io::Result<TailItem> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Ok(item);
            }
            if self.poll()? {
                continue;
            }
            self.wait().await?;
        }
    }

    /// Waits until inotify reports something about the log (or lost count of what it saw).
    async fn wait(&mut self) -> std::io::Result<()> {
        loop {
            let mut guard = self.watch.readable().await?;
            let events = &mut self.events;
            let read = guard.try_io(|fd| Ok(rustix::io::read(fd, &mut events[..])?));
            let n = match read {
                Ok(Ok(n)) => n,
                Ok(Err(error)) => return Err(error),
                Err(_would_block) => continue,
            };
            let names = super::exit_files::event_names(&self.events[..n]);
            let about_dir = names.iter().any(|name| name.is_empty());
            if about_dir && !self.dir.is_dir() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{} went away", self.dir.display()),
                ));
            }
            let ours = names
                .iter()
                .any(|name| *name == self.name.as_encoded_bytes());
            if ours || about_dir {
                return Ok(());
            }
        }
    }

    /// Reads what there is to read now; `true` if anything was read or changed.
    fn poll(&mut self) -> std::io::Result<bool> {
        let now = identity(&self.path)?;
        let open = self.file.as_ref().map(|(_, identity)| *identity);
        match change(open, self.offset, now) {
            Change::Read | Change::Missing => self.read_chunk(),
            Change::Truncated => {
                if let Some((file, _)) = &mut self.file {
                    file.seek(SeekFrom::Start(0))?;
                }
                self.restart_at_zero();
                Ok(true)
            }
            Change::Replaced => {
                // What podman appended before the rename is still in the open file.
                if self.read_chunk()? {
                    return Ok(true);
                }
                let Some(opened) = open_file(&self.path)? else {
                    return Ok(false);
                };
                self.file = Some(opened);
                self.restart_at_zero();
                Ok(true)
            }
            Change::Appeared => {
                let Some(opened) = open_file(&self.path)? else {
                    return Ok(false);
                };
                self.file = Some(opened);
                self.offset = 0;
                self.lines.reset();
                Ok(true)
            }
        }
    }

    fn restart_at_zero(&mut self) {
        self.offset = 0;
        self.lines.reset();
        self.pending.push_back(TailItem::Gap);
    }

    /// Reads one chunk of the open file into pending lines; `false` at its end.
    fn read_chunk(&mut self) -> std::io::Result<bool> {
        let Some((file, _)) = &mut self.file else {
            return Ok(false);
        };
        // A blocking read, on purpose: podman's default log is on a tmpfs (`/run`), so this is a
        // copy from memory of at most one chunk, cheaper than a trip through tokio's blocking
        // pool (a log configured onto a disk is read from the page cache it was just written to).
        let n = file.read(&mut self.chunk)?;
        if n == 0 {
            return Ok(false);
        }
        self.offset += n as u64;
        self.lines.feed(&self.chunk[..n], &mut self.pieces);
        self.pending
            .extend(self.pieces.drain(..).map(|piece| match piece {
                Piece::Line(line) => TailItem::Line(line),
                Piece::TooLong(len) => TailItem::TooLong(len),
            }));
        Ok(true)
    }
}

/// The file at `path` now, or `None` if there is none.
fn identity(path: &Path) -> std::io::Result<Option<FileIdentity>> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
        })),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// `path` opened for reading with its identity (of the opened file, not of a later one at the
/// path), or `None` if there is none.
fn open_file(path: &Path) -> std::io::Result<Option<(File, FileIdentity)>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let meta = file.metadata()?;
    let identity = FileIdentity {
        dev: meta.dev(),
        ino: meta.ino(),
        len: meta.len(),
    };
    Ok(Some((file, identity)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::Write;
    use std::time::Duration;

    async fn next(tail: &mut EventsTail) -> TailItem {
        tokio::time::timeout(Duration::from_secs(5), tail.next())
            .await
            .expect("in time")
            .expect("the tail works")
    }

    fn append(path: &Path, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open for append");
        file.write_all(text.as_bytes()).expect("append");
    }

    fn line(text: &str) -> TailItem {
        TailItem::Line(text.into())
    }

    #[tokio::test]
    async fn starts_at_the_end_and_follows_appends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.log");
        append(&path, "old\n");
        let mut tail = EventsTail::open(&path).expect("tail");
        append(&path, "one\ntw");
        assert_eq!(next(&mut tail).await, line("one"));
        append(&path, "o\n");
        assert_eq!(next(&mut tail).await, line("two"));
        // Other files in the directory do not matter.
        append(&dir.path().join("events.log.lock"), "x");
        append(&path, "three\n");
        assert_eq!(next(&mut tail).await, line("three"));
    }

    #[tokio::test]
    async fn waits_for_a_missing_log_and_reads_it_from_the_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.log");
        let mut tail = EventsTail::open(&path).expect("tail");
        append(&path, "first\n");
        assert_eq!(next(&mut tail).await, line("first"));
    }

    #[tokio::test]
    async fn a_rotation_finishes_the_old_file_then_reads_the_new_one_after_a_gap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.log");
        append(&path, "a\n");
        let mut tail = EventsTail::open(&path).expect("tail");
        // Held open like podman's writer, which may append once more before the rename.
        let mut old = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        old.write_all(b"b\n").expect("write");
        // podman's rotation: half the old lines into a new file, renamed over the log.
        let new = dir.path().join("rotating");
        std::fs::write(&new, "b\nrotated\n").expect("write");
        old.write_all(b"c\n").expect("write");
        std::fs::rename(&new, &path).expect("rename");
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(next(&mut tail).await);
        }
        assert_eq!(
            seen,
            [
                line("b"),
                line("c"),
                TailItem::Gap,
                line("b"),
                line("rotated")
            ]
        );
        append(&path, "after\n");
        assert_eq!(next(&mut tail).await, line("after"));
    }

    #[tokio::test]
    async fn a_truncation_rereads_from_the_start_after_a_gap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.log");
        append(&path, "a long line before the truncation\n");
        let mut tail = EventsTail::open(&path).expect("tail");
        std::fs::write(&path, "x\n").expect("truncate and write");
        assert_eq!(next(&mut tail).await, TailItem::Gap);
        assert_eq!(next(&mut tail).await, line("x"));
    }

    #[tokio::test]
    async fn a_line_over_the_bound_is_skipped_and_memory_stays_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.log");
        let mut tail = EventsTail::open(&path).expect("tail");
        let huge = "x".repeat(MAX_STREAM_LINE * 3);
        append(&path, &format!("{huge}\nsmall\n"));
        assert_eq!(
            next(&mut tail).await,
            TailItem::TooLong(MAX_STREAM_LINE * 3)
        );
        assert_eq!(next(&mut tail).await, line("small"));
    }

    #[test]
    fn a_path_without_a_directory_is_refused() {
        assert!(EventsTail::open(Path::new("events.log")).is_err());
        assert!(EventsTail::open(Path::new("/nonexistent-ankmq/events.log")).is_err());
    }
}
