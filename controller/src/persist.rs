//! The controller's only file I/O for its state: `<state-dir>/state.json`, written atomically and
//! read back on start, so that a restart changes no running workload (Ankaios keeps its state in
//! memory only, reference §4.3).
//!
//! Atomic means: a temp file in the same directory, written and fsynced, renamed over the old file,
//! then the directory fsynced so that the rename itself survives a power cut. A reader sees the old
//! state or the new one, never a mix. The format is versioned (`"format": 1`) and refused when it
//! is a version this build does not know, rather than guessed at.
//!
//! A full disk is its own error ([`PersistError::NoSpace`], "no space left on device"), and a
//! failed write removes its temp file again: the old state stays in place and on disk, and a
//! half-written temp file does not keep eating the space an operator frees (issue 14).
//!
//! What is stored is what restores the published snapshots byte for byte: the unrendered manifest,
//! the generation, and each agent's snapshot generation (see snapshot.rs).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ank_schemas::{Manifest, ValidationError};
use serde::{Deserialize, Serialize};

use crate::desired::Desired;

/// The file name inside the state directory.
pub const STATE_FILE: &str = "state.json";

/// The version of the file format this build writes and reads.
pub const FORMAT: u32 = 1;

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The file system of the state directory is full; the old state is unchanged.
    #[error("no space left on device: cannot save {} ({bytes} bytes); the old state is kept, free space on its file system", path.display())]
    NoSpace {
        /// The state file that could not be written.
        path: PathBuf,
        /// The size of the state that did not fit.
        bytes: usize,
    },
    /// A file system operation failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done, e.g. "writing".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not valid JSON of the expected shape.
    #[error("{} is not a valid state file", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The state file was written by a build with another format.
    #[error("{} has format {found}, this build reads format {FORMAT}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The format found.
        found: u64,
    },
    /// The stored desired state does not pass validation (the file was edited, or the rules got
    /// stricter).
    #[error("{} holds an invalid desired state:\n  {}", path.display(), join_errors(errors))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every validation error.
        errors: Vec<ValidationError>,
    },
}

/// Every error on its own indented line, for the multi-line messages of start-up failures.
pub(crate) fn join_errors(errors: &[ValidationError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// The file's shape.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StateFile {
    format: u64,
    generation: u64,
    /// Agent → generation at which its snapshot last changed.
    agents: BTreeMap<String, u64>,
    desired_state: Manifest,
}

/// The file's bytes, refused (as `FileTooLarge`) when longer than the largest payload the
/// controller could have published, before they are all in memory: the file is outside input too.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let limit = ank_schemas::json::MAX_PAYLOAD_BYTES;
    let mut bytes = Vec::new();
    fs::File::open(path)?
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!(
                "it is larger than {} MiB (limit MAX_PAYLOAD_BYTES); move it away or start with --reset-state",
                limit / (1024 * 1024)
            ),
        ));
    }
    Ok(bytes)
}

/// Reads `<dir>/state.json`; `None` when there is none yet.
pub fn load(dir: &Path) -> Result<Option<Desired>, PersistError> {
    let path = dir.join(STATE_FILE);
    let bytes = match read_bounded(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PersistError::Io {
                action: "reading",
                path,
                source,
            })
        }
    };
    // The format is checked before the shape, so a future format gets the clear error.
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|source| PersistError::Malformed {
            path: path.clone(),
            source,
        })?;
    let found = value.get("format").and_then(serde_json::Value::as_u64);
    if found != Some(u64::from(FORMAT)) {
        return Err(PersistError::Format {
            path,
            found: found.unwrap_or(0),
        });
    }
    let file: StateFile =
        serde_json::from_value(value).map_err(|source| PersistError::Malformed {
            path: path.clone(),
            source,
        })?;
    Desired::new(file.desired_state, file.generation, &file.agents)
        .map(Some)
        .map_err(|errors| PersistError::Invalid { path, errors })
}

/// Writes `state` to `<dir>/state.json` atomically (creating `dir` if needed).
pub fn save(dir: &Path, state: &Desired) -> Result<(), PersistError> {
    let io = |action, path: &Path| {
        let path = path.to_owned();
        move |source| PersistError::Io {
            action,
            path,
            source,
        }
    };
    // Private: the state holds config secrets (issue 13). An existing directory (an older
    // version, or the broker's storage created it first) is made private too.
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(0o700)))
        .map_err(io("creating", dir))?;
    let file = StateFile {
        format: u64::from(FORMAT),
        generation: state.generation(),
        agents: state.agent_generations(),
        desired_state: state.manifest().clone(),
    };
    let mut bytes = serde_json::to_vec_pretty(&file).map_err(|source| PersistError::Malformed {
        path: dir.join(STATE_FILE),
        source,
    })?;
    bytes.push(b'\n');

    let temp = dir.join(format!(".{STATE_FILE}.tmp"));
    let target = dir.join(STATE_FILE);
    let written = write_temp(&temp, &bytes)
        .and_then(|()| fs::rename(&temp, &target).map_err(io("renaming into place", &target)));
    if let Err(e) = written {
        // A partial temp file would hold on to space the operator frees; the target is untouched.
        let _ = fs::remove_file(&temp);
        return Err(no_space_or(e, &target, bytes.len()));
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing", dir))?;
    Ok(())
}

/// Creates `temp`, writes `bytes` and fsyncs it.
fn write_temp(temp: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    let io = |action| {
        let path = temp.to_owned();
        move |source| PersistError::Io {
            action,
            path,
            source,
        }
    };
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(temp)
        .map_err(io("creating"))?;
    // `mode` applies only to a new file; a temp file left by a crash keeps its old mode.
    out.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io("creating"))?;
    out.write_all(bytes).map_err(io("writing"))?;
    out.sync_all().map_err(io("syncing"))
}

/// ENOSPC (or a quota) becomes [`PersistError::NoSpace`]; anything else is kept as it is.
fn no_space_or(error: PersistError, target: &Path, bytes: usize) -> PersistError {
    match &error {
        PersistError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::StorageFull
                || source.kind() == std::io::ErrorKind::QuotaExceeded =>
        {
            PersistError::NoSpace {
                path: target.to_owned(),
                bytes,
            }
        }
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ank_schemas::parse_manifest;

    fn state() -> Desired {
        let first = Desired::empty()
            .next(
                parse_manifest(
                    "apiVersion: v1\nworkloads:\n  a: {agent: agent_A, runtime: podman, runtimeConfig: 'image: a'}\n",
                )
                .unwrap(),
            )
            .unwrap();
        // A second change leaves agent_A with an explicit empty snapshot at generation 2.
        first.next(ank_schemas::Manifest::empty()).unwrap()
    }

    #[test]
    fn a_saved_state_loads_back_identical() {
        let dir = tempfile::tempdir().unwrap();
        let s = state();
        save(dir.path(), &s).unwrap();
        let loaded = load(dir.path()).unwrap().unwrap();
        assert_eq!(loaded, s);
        assert_eq!(loaded.snapshots()["agent_A"].generation, 2);
        assert!(!dir.path().join(".state.json.tmp").exists());
    }

    #[test]
    fn an_empty_directory_has_no_state() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        assert!(load(&dir.path().join("missing")).unwrap().is_none());
    }

    #[test]
    fn issue_13_the_state_is_private_even_in_an_open_directory() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("controller");
        fs::create_dir_all(&state_dir).unwrap();
        fs::set_permissions(&state_dir, fs::Permissions::from_mode(0o755)).unwrap();
        save(&state_dir, &state()).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&state_dir), 0o700);
        assert_eq!(mode(&state_dir.join(STATE_FILE)), 0o600);
    }

    #[test]
    fn save_creates_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        save(&nested, &state()).unwrap();
        assert!(load(&nested).unwrap().is_some());
    }

    #[test]
    fn issue_14_an_oversized_state_file_is_refused_before_it_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = fs::File::create(dir.path().join(STATE_FILE)).unwrap();
        // Sparse: the size is what matters, not the disk it takes.
        file.set_len(ank_schemas::json::MAX_PAYLOAD_BYTES as u64 + 1)
            .unwrap();
        let err = load(dir.path()).expect_err("too large");
        let PersistError::Io { source, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(source.kind(), std::io::ErrorKind::FileTooLarge, "{err:?}");
        assert!(source.to_string().contains("--reset-state"), "{source}");
    }

    /// (case, file content, the error expected)
    #[test]
    fn bad_files_are_refused_with_the_reason() {
        type Expected = fn(&PersistError) -> bool;
        let cases: [(&str, &str, Expected); 4] = [
            ("not json", "{", |e| {
                matches!(e, PersistError::Malformed { .. })
            }),
            ("future format", r#"{"format": 2, "whatever": true}"#, |e| {
                matches!(e, PersistError::Format { found: 2, .. })
            }),
            ("wrong shape", r#"{"format": 1, "generation": "x"}"#, |e| {
                matches!(e, PersistError::Malformed { .. })
            }),
            (
                "invalid state",
                r#"{"format": 1, "generation": 1, "agents": {}, "desiredState": {"apiVersion": "v1",
                   "workloads": {"w": {"agent": "a.b", "runtime": "podman", "runtimeConfig": "image: x"}}}}"#,
                |e| matches!(e, PersistError::Invalid { .. }),
            ),
        ];
        for (case, content, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join(STATE_FILE), content).unwrap();
            let err = load(dir.path()).expect_err(case);
            assert!(expected(&err), "{case}: {err:?}");
        }
    }
}
