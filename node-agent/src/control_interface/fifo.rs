//! The FIFO pair of one workload's control interface on the host:
//! `<io>/<workload>.<hash>/control_interface/{input,output}` (Ankaios' layout, with the agent's
//! io folder). Folders are 0700 like every agent folder (workload_files.rs); the FIFOs are 0600,
//! owner-only as in Ankaios, so another host user cannot talk to the agent in a workload's name.
//! Existing FIFOs are reused, which is what lets an adopted container's SDK keep its open ends
//! across an agent restart; they are removed with the instance folder (execute.rs).

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt};
use std::path::{Path, PathBuf};

use ank_schemas::control_interface::{FOLDER_NAME, INPUT_FIFO, OUTPUT_FIFO};
use ank_schemas::InstanceId;

use crate::workload_files::instance_folder;

/// Mode of the FIFOs: owner only.
const FIFO_MODE: u32 = 0o600;

/// The host folder of an instance's FIFOs, mounted at `/run/ankaios/control_interface`.
pub fn folder(io: &Path, id: &InstanceId) -> PathBuf {
    instance_folder(io, id).join(FOLDER_NAME)
}

/// Creates the folder and both FIFOs if missing (idempotent) and returns the folder. A path that
/// exists but is not a FIFO is an error, never silently replaced.
pub fn prepare(io: &Path, id: &InstanceId) -> io::Result<PathBuf> {
    let dir = folder(io, id);
    DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    for name in [INPUT_FIFO, OUTPUT_FIFO] {
        make_fifo(&dir.join(name))?;
    }
    Ok(dir)
}

fn make_fifo(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_fifo() => return Ok(()),
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a FIFO", path.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let made = rustix::fs::mkfifoat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::from_raw_mode(FIFO_MODE),
    );
    let Err(errno) = made else {
        return Ok(());
    };
    let error = io::Error::from(errno);
    // Another task made it a moment ago.
    if error.kind() == io::ErrorKind::AlreadyExists {
        return Ok(());
    }
    Err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn both_fifos_are_made_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let id = InstanceId::compute("app", "agent_A", "podman", "image: x", &[]);
        let made = prepare(dir.path(), &id).unwrap();
        assert!(made.ends_with("control_interface"));
        for name in ["input", "output"] {
            let meta = std::fs::metadata(made.join(name)).unwrap();
            assert!(meta.file_type().is_fifo(), "{name}");
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        }
        let inode =
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(made.join("input")).unwrap());
        prepare(dir.path(), &id).unwrap();
        let again =
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(made.join("input")).unwrap());
        assert_eq!(inode, again, "an existing FIFO is reused, not replaced");
    }

    #[test]
    fn a_regular_file_in_place_of_a_fifo_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let id = InstanceId::compute("app", "agent_A", "podman", "image: x", &[]);
        let folder = folder(dir.path(), &id);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("output"), b"x").unwrap();
        assert!(prepare(dir.path(), &id).is_err());
    }
}
