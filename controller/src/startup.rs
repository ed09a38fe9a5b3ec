//! Where the controller's desired state comes from when it starts.
//!
//! The rules (docs/controller.md):
//! - a persisted state wins: a restart changes nothing;
//! - the startup manifest seeds an empty state directory (generation 1);
//! - `--reset-state` starts over from the manifest, or from nothing, *as a change* on top of the
//!   persisted state: the generation keeps counting up and every agent known before gets an
//!   explicit empty snapshot if it has no workloads left, so no agent keeps running what was reset;
//! - the startup manifest is always validated, and an invalid one stops the start with every
//!   error, even when a persisted state would win: a broken file should not wait for a reset to
//!   be noticed.

use std::path::Path;

use ank_schemas::{parse_manifest, validate, Manifest, ValidationError};

use crate::apply::{change_to, Refusal};
use crate::desired::Desired;
use crate::persist::join_errors;

/// Why the startup manifest was refused: every error.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file cannot be read.
    #[error("cannot read the startup manifest {path}")]
    Read {
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The manifest does not parse or does not validate.
    #[error("the startup manifest {path} is invalid ({} error{}):\n  {}",
        errors.len(), if errors.len() == 1 { "" } else { "s" }, join_errors(errors))]
    Invalid {
        /// The file.
        path: String,
        /// Every error.
        errors: Vec<ValidationError>,
    },
}

/// Reads, parses and validates the startup manifest.
pub fn read_manifest(path: &Path) -> Result<Manifest, ManifestError> {
    let shown = path.display().to_string();
    let text = read_bounded(path).map_err(|source| ManifestError::Read {
        path: shown.clone(),
        source,
    })?;
    let manifest = parse_manifest(&text).map_err(|errors| ManifestError::Invalid {
        path: shown.clone(),
        errors,
    })?;
    let errors = validate(&manifest);
    if errors.is_empty() {
        Ok(manifest)
    } else {
        Err(ManifestError::Invalid {
            path: shown,
            errors,
        })
    }
}

/// The file's text, refused (as `FileTooLarge`) when longer than the YAML input bound, before it
/// is all in memory (issue 14).
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let limit = ank_schemas::yaml::MAX_INPUT_BYTES;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(limit as u64 + 1)
        .read_to_string(&mut text)?;
    if text.len() > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!(
                "it is larger than {} MiB (limit MAX_INPUT_BYTES)",
                limit / (1024 * 1024)
            ),
        ));
    }
    Ok(text)
}

/// How the start went, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The persisted state was loaded.
    Persisted,
    /// The startup manifest seeded an empty state directory.
    Seeded,
    /// `--reset-state` replaced the persisted state.
    Reset,
    /// Nothing persisted, no manifest: an empty state.
    Empty,
}

/// Applies the start rules (module docs) to what was found.
pub fn initial_state(
    persisted: Option<Desired>,
    manifest: Option<Manifest>,
    reset: bool,
) -> Result<(Desired, Origin), Refusal> {
    match (persisted, manifest, reset) {
        (persisted, manifest, true) => {
            let base = persisted.unwrap_or_else(Desired::empty);
            let change = change_to(&base, manifest.unwrap_or_else(Manifest::empty))?;
            Ok((change.state, Origin::Reset))
        }
        (Some(persisted), _, false) => Ok((persisted, Origin::Persisted)),
        (None, Some(manifest), false) => {
            let change = change_to(&Desired::empty(), manifest)?;
            Ok((change.state, Origin::Seeded))
        }
        (None, None, false) => Ok((Desired::empty(), Origin::Empty)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_14_the_startup_manifest_is_read_up_to_the_input_bound() {
        let limit = ank_schemas::yaml::MAX_INPUT_BYTES;
        let dir = tempfile::tempdir().expect("dir");
        let at = dir.path().join("at.yaml");
        std::fs::write(&at, "#".repeat(limit)).expect("written");
        assert_eq!(read_bounded(&at).expect("at the limit").len(), limit);
        let over = dir.path().join("over.yaml");
        std::fs::write(&over, "#".repeat(limit + 1)).expect("written");
        let e = read_bounded(&over).expect_err("one byte over the limit");
        assert_eq!(e.kind(), std::io::ErrorKind::FileTooLarge);
        assert_eq!(
            e.to_string(),
            "it is larger than 4 MiB (limit MAX_INPUT_BYTES)"
        );
    }

    fn manifest(workload: &str, agent: &str) -> Manifest {
        parse_manifest(&format!(
            "apiVersion: v1\nworkloads:\n  {workload}: {{agent: {agent}, runtime: podman, runtimeConfig: 'image: x'}}\n"
        ))
        .unwrap()
    }

    fn persisted() -> Desired {
        let d = Desired::empty().next(manifest("old", "agent_A")).unwrap();
        d.next(manifest("old2", "agent_A")).unwrap()
    }

    /// (case, persisted, manifest, reset, origin, generation, workloads)
    #[test]
    fn the_start_rules() {
        let cases = [
            (
                "persisted wins",
                Some(persisted()),
                Some(manifest("new", "agent_B")),
                false,
                Origin::Persisted,
                2,
                vec!["old2"],
            ),
            (
                "manifest seeds",
                None,
                Some(manifest("new", "agent_B")),
                false,
                Origin::Seeded,
                1,
                vec!["new"],
            ),
            (
                "reset to manifest",
                Some(persisted()),
                Some(manifest("new", "agent_B")),
                true,
                Origin::Reset,
                3,
                vec!["new"],
            ),
            (
                "reset to nothing",
                Some(persisted()),
                None,
                true,
                Origin::Reset,
                3,
                vec![],
            ),
            (
                "nothing at all",
                None,
                None,
                false,
                Origin::Empty,
                0,
                vec![],
            ),
        ];
        for (case, persisted, manifest, reset, origin, generation, workloads) in cases {
            let (state, got) = initial_state(persisted, manifest, reset).expect(case);
            assert_eq!(got, origin, "{case}");
            assert_eq!(state.generation(), generation, "{case}");
            assert_eq!(
                state
                    .manifest()
                    .workloads
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
                workloads,
                "{case}"
            );
        }
    }

    #[test]
    fn a_reset_leaves_known_agents_an_empty_snapshot() {
        let (state, _) =
            initial_state(Some(persisted()), Some(manifest("new", "agent_B")), true).unwrap();
        assert!(state.snapshots()["agent_A"].workloads.is_empty());
        assert_eq!(state.snapshots()["agent_A"].generation, 3);
    }

    #[test]
    fn an_invalid_startup_manifest_lists_every_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(
            &path,
            "apiVersion: v1\nworkloads:\n  a: {agent: 'x.y', runtime: podman, runtimeConfig: 'image: a'}\n  b: {agent: x, runtime: podman, runtimeConfig: 'image: {{c}}', configs: {c: nope}}\n",
        )
        .unwrap();
        let err = read_manifest(&path).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("workload 'a'") && text.contains("workload 'b'"),
            "{text}"
        );
        let typo = dir.path().join("typo.yaml");
        std::fs::write(&typo, "apiVersion: v1\nworkloads:\n  a: {agent: x, runtime: podman, runtimeConfig: '', restartPolcy: NEVER}\n").unwrap();
        assert!(read_manifest(&typo)
            .unwrap_err()
            .to_string()
            .contains("restartPolicy"));
    }
}
