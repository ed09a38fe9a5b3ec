//! The agent's folders on the host and the workload files in them (Ankaios §1.6): the only
//! place that writes them.
//!
//! Files may hold secrets (rendered configs), so the agent's io folder `<run>/<agent>_io` and
//! everything below it are 0700: no other host user can reach them (issue 13). The files
//! themselves are 0644, because a workload may run as any user inside its container: it opens
//! the bind-mounted file through its own file system, where the host folders above do not apply.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ank_schemas::{FileBytes, InstanceId};

use crate::runtime::podman::FileMount;

/// Mode of every folder the agent creates.
const FOLDER_MODE: u32 = 0o700;
/// Mode of a workload file: readable by the container's user, whoever it is.
const FILE_MODE: u32 = 0o644;

/// Why a workload's files could not be written; not fixed by retrying (Ankaios §1.6). The mount
/// points and contents were checked when the snapshot arrived (`check_for_runtime`).
#[derive(Debug, thiserror::Error)]
#[error("Could not write the workload file {}: {source}", path.display())]
pub struct FileError {
    /// What was being written.
    pub path: PathBuf,
    /// Why it failed.
    #[source]
    pub source: std::io::Error,
}

/// Creates the agent's io folder (and the run folder above it) at start, 0700, so `--help` can
/// say where it is and a secret never lands in a folder others can read (Ankaios creates its
/// run folder at start too).
pub fn prepare_io_folder(io: &Path) -> std::io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(FOLDER_MODE)
        .create(io)?;
    // An io folder left by an older version may be 0755.
    std::fs::set_permissions(io, Permissions::from_mode(FOLDER_MODE))
}

/// The host folder of one instance: `<io>/<workload>.<hash>`.
pub fn instance_folder(io: &Path, id: &InstanceId) -> PathBuf {
    io.join(format!("{}.{}", id.workload, id.hash))
}

/// Writes the workload's files under `<instance folder>/files/<mount point>` and returns their
/// mounts. The mount points are absolute without `.`/`..` components (checked by the contract
/// crate's `check_mount_point`), so every file lands inside the instance folder.
pub fn write(io: &Path, id: &InstanceId, files: &[FileBytes]) -> Result<Vec<FileMount>, FileError> {
    let files_root = instance_folder(io, id).join("files");
    let mut mounts = Vec::new();
    for file in files {
        let host_path = files_root.join(file.mount_point.trim_start_matches('/'));
        write_one(&host_path, &file.bytes).map_err(|source| FileError {
            path: host_path.clone(),
            source,
        })?;
        mounts.push(FileMount {
            host_path,
            mount_point: file.mount_point.clone(),
        });
    }
    Ok(mounts)
}

fn write_one(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(FOLDER_MODE)
            .create(parent)?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    file.write_all(bytes)?;
    // `mode` applies only to a new file (and under the umask).
    file.set_permissions(Permissions::from_mode(FILE_MODE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn issue_13_the_io_folder_is_private_even_if_it_existed_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let io = dir.path().join("run").join("agent_A_io");
        std::fs::create_dir_all(&io).expect("an old, open folder");
        std::fs::set_permissions(&io, Permissions::from_mode(0o755)).expect("chmod");
        prepare_io_folder(&io).expect("prepared");
        let mode = std::fs::metadata(&io).expect("stat").mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
