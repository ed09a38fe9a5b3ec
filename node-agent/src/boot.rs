//! Telling a device restart from an agent-only restart (issue 16 point 1). After a reboot the
//! agent must run its services again, in dependency order, as Ankaios does; after a kill -9 of
//! the agent alone it must not re-run a one-shot job whose end it already reported (our
//! improvement, docs/agent.md). The kernel's boot id (`/proc/sys/kernel/random/boot_id`)
//! changes with every boot, so the agent keeps the boot id it ran under in its private folder:
//! a different (or missing, or unreadable) one at start means the device restarted, and the
//! planner then adopts only running containers, replacing ended ones.
//!
//! Both files are outside input: each is read with a bound, and anything that is not a boot id
//! counts as "not the same boot". The record is written once the agent has settled after start,
//! so an agent killed before it re-ran the services still sees the reboot when it comes back.

use std::path::{Path, PathBuf};

use crate::record_file::{self, Durability};

/// Where Linux tells the current boot id.
pub const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// The file in the agent's folder holding the boot id it last ran under.
const RECORD_NAME: &str = "boot_id";

/// The most bytes read from either file (a boot id is a 36-character UUID and a newline).
pub const MAX_BOOT_ID_BYTES: u64 = 128;

/// The boot the agent runs under, and whether the device restarted since its last run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boot {
    /// The current boot id, if it could be read.
    pub current: Option<String>,
    /// Whether the recorded boot id differs from the current one (the device restarted, or the
    /// agent's folder is new).
    pub rebooted: bool,
    record: PathBuf,
}

/// Reads the current boot id from `boot_id_file` and the recorded one from `io_folder`.
pub fn detect(boot_id_file: &Path, io_folder: &Path) -> Boot {
    let record = io_folder.join(RECORD_NAME);
    let current = read_boot_id(boot_id_file);
    if current.is_none() {
        tracing::warn!(file = %boot_id_file.display(), "cannot read the boot id; assuming the same boot");
    }
    let recorded = read_boot_id(&record);
    // Without a current boot id nothing can be told apart: keep today's rule (adopt).
    let rebooted = current.is_some() && recorded != current;
    if rebooted {
        tracing::info!("the device restarted since the agent last ran: ended workloads run again");
    }
    Boot {
        current,
        rebooted,
        record,
    }
}

impl Boot {
    /// Records the current boot id (0600, written whole, then renamed into place).
    pub fn record(&self) -> std::io::Result<()> {
        let Some(current) = &self.current else {
            return Ok(());
        };
        record_file::replace(&self.record, current.as_bytes(), Durability::Synced)
    }
}

/// The boot id in `path`: at most [`MAX_BOOT_ID_BYTES`] read, trimmed, and only if it looks
/// like one (1 to 64 characters of hex digits and `-`).
fn read_boot_id(path: &Path) -> Option<String> {
    let bytes = record_file::read_bounded(path, MAX_BOOT_ID_BYTES).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let id = text.trim();
    let plausible =
        !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    plausible.then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    const ONE: &str = "2b1e0f1c-6a55-4c8e-9f7e-0d5a3c2b1a00";
    const TWO: &str = "9c3d7e21-0b44-4f19-8a6d-5e4f3c2b1a99";

    #[test]
    fn issue_16_a_new_boot_id_means_a_reboot_and_the_same_one_an_agent_only_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kernel = dir.path().join("boot_id");
        std::fs::write(&kernel, format!("{ONE}\n")).expect("boot id");
        let first = detect(&kernel, dir.path().join("io").as_path());
        assert!(
            first.rebooted,
            "no record yet: a fresh folder counts as a new boot"
        );
        std::fs::create_dir(dir.path().join("io")).expect("io");
        first.record().expect("recorded");
        let mode = std::fs::metadata(dir.path().join("io").join(RECORD_NAME))
            .expect("stat")
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let again = detect(&kernel, &dir.path().join("io"));
        assert!(!again.rebooted, "same boot: an agent-only restart");
        std::fs::write(&kernel, TWO).expect("a new boot");
        assert!(detect(&kernel, &dir.path().join("io")).rebooted);
    }

    #[test]
    fn issue_16_hostile_or_missing_boot_id_files_are_tolerated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let io = dir.path();
        let kernel = dir.path().join("kernel");
        // No current boot id: nothing can be told apart, so no reboot is assumed.
        assert!(!detect(&kernel, io).rebooted);
        std::fs::write(&kernel, ONE).expect("boot id");
        for garbage in [
            "x".repeat(100_000),
            "\0\0\0".to_owned(),
            format!("{ONE}/../../etc"),
            String::new(),
        ] {
            std::fs::write(io.join(RECORD_NAME), &garbage).expect("garbage");
            assert!(detect(&kernel, io).rebooted, "{:?}", garbage.get(..10));
        }
        std::fs::write(&kernel, "y".repeat(10_000)).expect("garbage");
        assert_eq!(detect(&kernel, io).current, None);
    }
}
