//! Telling a shutdown from an agent-only restart without a new boot id (issue 16 point 1). A
//! shutdown stops the agent, then `podman stop`s its containers; a service that traps SIGTERM
//! exits 0 and podman lists it as ended, exactly like a one-shot job that finished. After such a
//! restart the services must run again (Ankaios re-runs them), but after a kill -9 of the agent
//! alone a one-shot whose end the agent already reported must not.
//!
//! podman 4.3.1 records nothing that tells the two ends apart: `podman inspect` has no
//! `StoppedByUser` (the template field does not exist), the exit code is 0 both ways, and the
//! events log shows `died` for both (no `stop` event). So the agent keeps its own memory: the
//! ids of the containers whose end (`Succeeded`, `Failed(ExecFailed)`) it has reported, in
//! `<run-folder>/<name>_io/reported_ends`. At start an ended container in that file is adopted;
//! one that is not ended without the agent saying so (a shutdown stopped it, or it finished
//! while the agent was down) runs again, as after a reboot ([`verdict`]). The boot id
//! (`boot.rs`) still decides a real reboot.
//!
//! The file is outside input: it is read with a bound, only lines that are container ids
//! count, and a missing or unreadable file means "no end reported". It matters only within one
//! boot (a new boot id re-runs everything anyway), so it is replaced by a rename but not
//! fsynced: the page cache outlives a killed agent.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ank_schemas::{ExecutionState, FailedSubstate};

use crate::observed::Observed;
use crate::record_file::{self, Durability};

/// The file in the agent's folder listing the containers whose end was reported.
const RECORD_NAME: &str = "reported_ends";

/// The most bytes read from the record: 65,536 container ids of 64 hex digits and a newline.
pub const MAX_RECORD_BYTES: u64 = 65 * MAX_RECORDED_ENDS as u64;

/// The most container ids recorded; beyond it the rest are left out (they would run again
/// after a shutdown-like restart, as in Ankaios).
pub const MAX_RECORDED_ENDS: usize = 65_536;

/// What the runtime shows of an instance the agent found at start without managing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// It runs.
    Running,
    /// It ended: `Succeeded(*)` or `Failed(ExecFailed)`.
    Ended,
    /// Anything else: never started, stopping, unknown, a kube set not all there.
    Other,
}

impl Found {
    /// The class of a mapped execution state.
    pub fn of(state: &ExecutionState) -> Self {
        match state {
            ExecutionState::Running(_) => Self::Running,
            ExecutionState::Succeeded(_) | ExecutionState::Failed(FailedSubstate::ExecFailed) => {
                Self::Ended
            }
            _ => Self::Other,
        }
    }
}

/// What to do with a found instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep it and report what it shows.
    Adopt,
    /// Replace it: the workload runs again (honouring its add conditions).
    RunAgain,
}

/// The rule for an instance found without a book. A running one is adopted. An ended one is
/// adopted only if the device did not restart (`rebooted`: the boot id changed) and the agent
/// had reported its end (`end_reported`): an end nobody reported is a shutdown's `podman stop`
/// (or a job that finished while the agent was down; podman cannot tell, see the module docs),
/// and the workload runs again as after a reboot. Anything else is replaced.
pub fn verdict(found: Found, rebooted: bool, end_reported: bool) -> Verdict {
    match found {
        Found::Running => Verdict::Adopt,
        Found::Ended if !rebooted && end_reported => Verdict::Adopt,
        Found::Ended | Found::Other => Verdict::RunAgain,
    }
}

/// Whether every container of an instance is among the `recorded` ends; `None` (no start
/// being decided) counts as reported. An instance without containers was never reported.
pub fn end_reported(recorded: Option<&BTreeSet<String>>, container_ids: &[String]) -> bool {
    match recorded {
        None => true,
        Some(recorded) => {
            !container_ids.is_empty() && container_ids.iter().all(|id| recorded.contains(id))
        }
    }
}

/// The containers whose end the agent has reported, as it knows now: every instance whose last
/// report is `Succeeded(*)` or `Failed(ExecFailed)`, for the instance it is about. Pure.
pub fn reported_now(observed: &Observed) -> BTreeSet<String> {
    observed
        .reported
        .values()
        .filter(|report| Found::of(&report.state) == Found::Ended)
        .filter_map(|report| observed.instances.get(&report.instance.to_string()))
        .flat_map(|instance| instance.container_ids.iter().cloned())
        .take(MAX_RECORDED_ENDS)
        .collect()
}

/// The record in the agent's folder, and what was last written to it.
#[derive(Debug)]
pub struct EndsRecord {
    path: PathBuf,
    written: Option<BTreeSet<String>>,
}

impl EndsRecord {
    /// The record in `io_folder`, and the ends it holds from the agent's last run.
    pub fn open(io_folder: &Path) -> (Self, BTreeSet<String>) {
        let path = io_folder.join(RECORD_NAME);
        let recorded = read_record(&path);
        let record = Self {
            path,
            written: Some(recorded.clone()),
        };
        (record, recorded)
    }

    /// Writes `ends` if they differ from what was written last (0600, whole, then renamed into
    /// place).
    pub fn update(&mut self, ends: BTreeSet<String>) -> std::io::Result<()> {
        if self.written.as_ref() == Some(&ends) {
            return Ok(());
        }
        let mut text = String::with_capacity(ends.len() * 65);
        for id in &ends {
            text.push_str(id);
            text.push('\n');
        }
        // Forget what was written until the write succeeded, so a failed one is tried again.
        self.written = None;
        record_file::replace(&self.path, text.as_bytes(), Durability::Cached)?;
        self.written = Some(ends);
        Ok(())
    }
}

/// The container ids in the record at `path`: at most [`MAX_RECORD_BYTES`] read and
/// [`MAX_RECORDED_ENDS`] kept; a line that is not a container id (12 to 64 hex digits) is
/// skipped, an unreadable file is empty.
fn read_record(path: &Path) -> BTreeSet<String> {
    let bytes = match record_file::read_bounded(path, MAX_RECORD_BYTES) {
        Ok(bytes) => bytes,
        Err(error) => {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(file = %path.display(), %error, "cannot read the reported ends; ended containers run again");
            }
            return BTreeSet::new();
        }
    };
    let mut skipped = 0_usize;
    let ids: BTreeSet<String> = bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .filter_map(|line| {
            let id = std::str::from_utf8(line)
                .ok()
                .filter(|id| is_container_id(id));
            if id.is_none() {
                skipped += 1;
            }
            id.map(str::to_owned)
        })
        .take(MAX_RECORDED_ENDS)
        .collect();
    if skipped > 0 {
        tracing::warn!(file = %path.display(), skipped, "skipped lines of the reported ends that are not container ids");
    }
    ids
}

fn is_container_id(text: &str) -> bool {
    (12..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    const A: &str = "0b6342e7867d5689d705f0cafba63eda516a959c938b43366efd376531004ebe";
    const B: &str = "c09493693afd3d1625d85db5f73384b392f5f88244c6ee4e293e4eaec3304645";

    #[test]
    fn issue_16_the_found_instance_rule() {
        use Found::*;
        use Verdict::*;
        // (found, rebooted, end reported, verdict)
        let table = [
            (Running, false, false, Adopt),
            (Running, false, true, Adopt),
            (Running, true, false, Adopt),
            // An agent-only restart: the end was reported, the one-shot is not re-run.
            (Ended, false, true, Adopt),
            // A shutdown's `podman stop` (no new boot id): nobody reported it, it runs again.
            (Ended, false, false, RunAgain),
            // A reboot: everything ended runs again, as in Ankaios.
            (Ended, true, true, RunAgain),
            (Ended, true, false, RunAgain),
            (Other, false, true, RunAgain),
            (Other, true, false, RunAgain),
        ];
        for (found, rebooted, reported, expected) in table {
            assert_eq!(
                verdict(found, rebooted, reported),
                expected,
                "{found:?} rebooted={rebooted} reported={reported}"
            );
        }
    }

    #[test]
    fn issue_16_an_end_counts_as_reported_only_for_all_of_an_instances_containers() {
        let recorded: BTreeSet<String> = [A.to_owned()].into();
        let ids = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // (recorded, containers, reported)
        let table = [
            (Some(&recorded), ids(&[A]), true),
            (Some(&recorded), ids(&[B]), false),
            (Some(&recorded), ids(&[A, B]), false),
            (Some(&recorded), ids(&[]), false),
            (None, ids(&[B]), true),
        ];
        for (recorded, containers, expected) in table {
            assert_eq!(
                end_reported(recorded, &containers),
                expected,
                "{containers:?}"
            );
        }
    }

    #[test]
    fn issue_16_the_record_survives_a_restart_and_is_written_only_on_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut record, found) = EndsRecord::open(dir.path());
        assert!(found.is_empty(), "no file: no end reported");
        record
            .update([A.to_owned(), B.to_owned()].into())
            .expect("written");
        let path = dir.path().join(RECORD_NAME);
        let mode = std::fs::metadata(&path).expect("stat").mode();
        assert_eq!(mode & 0o777, 0o600);
        // Unchanged: not written again (a removed file stays removed).
        std::fs::remove_file(&path).expect("removed");
        record
            .update([A.to_owned(), B.to_owned()].into())
            .expect("unchanged");
        assert!(!path.exists());
        record.update([A.to_owned()].into()).expect("changed");
        let (_, again) = EndsRecord::open(dir.path());
        assert_eq!(again, [A.to_owned()].into());
    }

    #[test]
    fn issue_16_a_hostile_record_is_bounded_and_only_container_ids_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(RECORD_NAME);
        let mut garbage = format!("{A}\n\0\0\0\n../../etc/passwd\nabc\n{}\n", "f".repeat(65));
        garbage.push_str(
            &[0xff_u8, 0xfe]
                .iter()
                .map(|b| *b as char)
                .collect::<String>(),
        );
        garbage.push('\n');
        std::fs::write(&path, &garbage).expect("garbage");
        let (_, found) = EndsRecord::open(dir.path());
        assert_eq!(found, [A.to_owned()].into());

        // One id more than the bound, and bytes past the read bound: neither is kept.
        let many: String = (0..=MAX_RECORDED_ENDS)
            .map(|n| format!("{n:064x}\n"))
            .collect();
        assert!(many.len() as u64 > MAX_RECORD_BYTES);
        std::fs::write(&path, &many).expect("many");
        let (_, found) = EndsRecord::open(dir.path());
        assert_eq!(found.len(), MAX_RECORDED_ENDS);
        assert!(!found.contains(&format!("{MAX_RECORDED_ENDS:064x}")));

        // A directory where the file should be: unreadable, so nothing counts as reported.
        std::fs::remove_file(&path).expect("removed");
        std::fs::create_dir(&path).expect("dir");
        assert!(EndsRecord::open(dir.path()).1.is_empty());
    }
}
