//! A full disk under the controller's state directory, which also holds the embedded broker's
//! storage (issue 14, point 6), on real binaries and podman. The file system is a small tmpfs
//! mounted by the test, so it needs root; without root it fails and says so, it never skips.

use std::process::Command;
use std::time::Duration;

use ank_system_tests::manifests::long_running;
use ank_system_tests::tmpfs::{fill, Tmpfs};
use ank_system_tests::{on_both_brokers, BrokerKind, Cluster};
use ank_testkit::blocking::wait_until;
use anyhow::{ensure, Result};

/// Moves the controller's state directory onto a tmpfs of `size` and the embedded broker's
/// storage into it (`<cluster>/broker` becomes a symlink to `<state-dir>/broker`), as on a
/// vehicle where both share one partition. The controller must be stopped.
fn state_on_tmpfs(c: &Cluster, size: &str) -> Result<Tmpfs> {
    let state = c.dir().join("controller");
    let aside = c.dir().join("controller.before-tmpfs");
    std::fs::rename(&state, &aside)?;
    std::fs::create_dir(&state)?;
    let fs = Tmpfs::mount_on(&state, size)?;
    for entry in std::fs::read_dir(&aside)? {
        let entry = entry?;
        std::fs::copy(entry.path(), state.join(entry.file_name()))?;
    }
    if c.kind() == BrokerKind::Embedded {
        let storage = c.dir().join("broker");
        let moved = state.join("broker");
        let copied = Command::new("cp")
            .arg("-a")
            .arg(&storage)
            .arg(&moved)
            .status()?;
        ensure!(copied.success(), "copying the broker storage: {copied}");
        std::fs::remove_dir_all(&storage)?;
        std::os::unix::fs::symlink(&moved, &storage)?;
    }
    Ok(fs)
}

fn controller_log(c: &Cluster) -> String {
    std::fs::read_to_string(c.dir().join("logs/controller.log")).unwrap_or_default()
}

on_both_brokers!(
    /// A full disk: reads keep working, a change that cannot be saved is refused with "no space
    /// left on device" and changes nothing, and once space is freed changes are accepted and
    /// run again without a restart; a restart afterwards keeps everything.
    fn issue_14_full_state_disk_keeps_the_system_readable_and_repairable(c) {
        c.apply(&long_running("before"), &[])?.expect_ok()?;
        c.stop_controller()?;
        let fs = state_on_tmpfs(c, "8m")?;
        c.start_controller()?;
        c.wait_state("before", "Running(Ok)")?;

        let filler = c.dir().join("controller/filler");
        fill(&filler)?;
        // Reads: the retained state is still served to new clients.
        let rows = c.table()?;
        ensure!(
            rows.iter().any(|r| r.name == "before" && r.state == "Running(Ok)"),
            "reads on a full disk: {rows:?}"
        );
        let during = c.apply(&long_running("during"), &[])?;
        match c.kind() {
            // The embedded broker gave its space reserve back to let clients in, and says so;
            // the state write then fits.
            BrokerKind::Embedded => {
                during.expect_ok()?;
                c.wait_state("during", "Running(Ok)")?;
                let log = controller_log(c);
                ensure!(log.contains("no space left on device"), "the controller log names the full disk");
            }
            // Mosquitto keeps its state elsewhere: the controller's own write fails.
            BrokerKind::Mosquitto => {
                during.expect_code(1)?;
                ensure!(
                    during.stderr.contains("no space left on device"),
                    "the refusal names the full disk: {}", during.stderr
                );
                ensure!(
                    !c.dir().join("controller/.state.json.tmp").exists(),
                    "the refused write left its temp file, holding space"
                );
                ensure!(
                    c.rows()?.iter().all(|r| r.name != "during"),
                    "a refused change left a workload"
                );
            }
        }

        // Space freed: changes are accepted again, without a restart.
        std::fs::remove_file(&filler)?;
        if c.kind() == BrokerKind::Embedded {
            let reserve = c.dir().join("controller/broker/.space-reserve");
            wait_until("the broker's reserve to be held again", Duration::from_secs(10),
                || Ok(reserve.exists()), |held| *held)?;
        }
        c.apply(&long_running("after"), &[])?.expect_ok()?;
        c.wait_state("after", "Running(Ok)")?;

        // And a restart on that disk works and loses nothing.
        c.stop_controller()?;
        c.start_controller()?;
        let expected: &[&str] = match c.kind() {
            BrokerKind::Embedded => &["before", "during", "after"],
            BrokerKind::Mosquitto => &["before", "after"],
        };
        for name in expected {
            c.wait_state(name, "Running(Ok)")?;
        }
        c.stop_controller()?;
        drop(fs);
        Ok(())
    }
);
