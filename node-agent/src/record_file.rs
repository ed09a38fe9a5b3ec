//! The agent's own small records in its private folder (`boot.rs`: the boot id it ran under,
//! `reported_ends.rs`: the ends it reported). Both are read at start as outside input, with a
//! bound, and replaced whole, so a reader never sees half of one. What a record means, and what
//! a bad one counts as, is for its owner to say; this file only reads and writes bytes.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// At most `max` bytes of the file at `path` (a longer file is cut, not refused: the owner's
/// parser then finds the rest malformed).
pub fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Whether [`replace`] waits for the data to reach the disk before the rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync first: the record must survive a power loss (the boot id).
    Synced,
    /// The page cache is enough: the record matters only within one boot (the reported ends).
    Cached,
}

/// Replaces the file at `path` with `bytes`: written whole to `<path>.new` (0600), then renamed
/// into place.
pub fn replace(path: &Path, bytes: &[u8], durability: Durability) -> std::io::Result<()> {
    let temporary = path.with_extension("new");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(bytes)?;
    if durability == Durability::Synced {
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)
}
