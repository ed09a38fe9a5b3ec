//! What the kernel says about a process: proportional memory (PSS), peak RSS (VmHWM) and CPU
//! time, read from `/proc`. Linux only, like the project's targets.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// CPU time (user + system) a process has used so far, in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let ticks = stat_ticks(&text, Ticks::Own).with_context(|| format!("parsing {path}"))?;
    Ok(ticks as f64 / clock_ticks_per_second())
}

/// CPU time (user + system) of a process and of its children that ended and were waited for
/// (`cutime + cstime`), in seconds: with the living children's own figure added, the CPU of a
/// process tree stays whole while children come and go (an agent's `podman ps`).
pub fn cpu_seconds_with_ended_children(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let ticks = stat_ticks(&text, Ticks::Own)
        .and_then(|own| Ok(own + stat_ticks(&text, Ticks::EndedChildren)?))
        .with_context(|| format!("parsing {path}"))?;
    Ok(ticks as f64 / clock_ticks_per_second())
}

/// Which CPU times of a `/proc/<pid>/stat` line.
#[derive(Clone, Copy)]
enum Ticks {
    /// `utime + stime` (fields 14 and 15): the process itself.
    Own,
    /// `cutime + cstime` (fields 16 and 17): its children that ended and were waited for.
    EndedChildren,
}

/// The CPU `ticks` of a `/proc/<pid>/stat` line. The command name (field 2) may contain spaces
/// and parentheses, so fields are counted after its last `)`.
fn stat_ticks(stat: &str, ticks: Ticks) -> Result<u64> {
    let after_comm = match stat.rfind(')') {
        Some(i) => &stat[i + 1..],
        None => bail!("no `)` after the command name"),
    };
    // after_comm starts at field 3 (state), so utime (14) is index 11, stime (15) index 12.
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let field = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .context("too few fields")?
            .parse::<u64>()
            .context("not a number")
    };
    let first = match ticks {
        Ticks::Own => 11,
        Ticks::EndedChildren => 13,
    };
    Ok(field(first)? + field(first + 1)?)
}

fn clock_ticks_per_second() -> f64 {
    rustix::param::clock_ticks_per_second() as f64
}

/// CPU seconds (user + system) of every child of this process that has ended and been waited
/// for. The difference around one child's run is that child's CPU, provided no other child ends
/// meanwhile.
pub fn ended_children_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|text| stat_ticks(&text, Ticks::EndedChildren).ok())
        .map_or(0.0, |ticks| ticks as f64 / clock_ticks_per_second())
}

/// Proportional set size in KiB, from `/proc/<pid>/smaps_rollup`: shared pages count divided by
/// the number of processes sharing them, so the sum over processes is the real footprint.
pub fn pss_kib(pid: u32) -> Result<u64> {
    kib_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:")
}

/// Peak resident set size in KiB (`VmHWM` of `/proc/<pid>/status`).
pub fn vm_hwm_kib(pid: u32) -> Result<u64> {
    kib_field(&format!("/proc/{pid}/status"), "VmHWM:")
}

/// Current resident set size in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn vm_rss_kib(pid: u32) -> Result<u64> {
    kib_field(&format!("/proc/{pid}/status"), "VmRSS:")
}

fn kib_field(path: &str, key: &str) -> Result<u64> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    parse_kib_field(&text, key).with_context(|| format!("no `{key}` in {path}"))
}

/// The value of a `Key:   1234 kB` line.
fn parse_kib_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The children of `parent` as `(pid, comm)`, e.g. the private Mosquitto a measurement started
/// (its launcher does not expose the pid) or the `podman events` an agent keeps running.
pub fn children_of(parent: u32) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter_map(|pid| {
            let stat =
                std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"))
                    .ok()?;
            let (ppid, comm) = parent_and_comm(&stat)?;
            (ppid == parent).then(|| (pid, comm.to_owned()))
        })
        .collect()
}

/// The pids of this process's children whose command name is `name`.
pub fn my_children_named(name: &str) -> Vec<u32> {
    children_of(std::process::id())
        .into_iter()
        .filter(|(_, comm)| comm == name)
        .map(|(pid, _)| pid)
        .collect()
}

/// `(ppid, comm)` of a `/proc/<pid>/stat` line.
fn parent_and_comm(stat: &str) -> Option<(u32, &str)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    let ppid = stat
        .get(close + 1..)?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((ppid, comm))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (ank (weird) name) S 1 4242 4242 0 -1 4194560 900 0 0 0 \
                        37 5 7 3 20 0 3 0 12345 1000000 500 18446744073709551615";

    #[test]
    fn cpu_fields_are_counted_after_the_last_parenthesis() {
        assert_eq!(stat_ticks(STAT, Ticks::Own).ok(), Some(42));
        assert_eq!(stat_ticks(STAT, Ticks::EndedChildren).ok(), Some(10));
        assert!(stat_ticks("garbage", Ticks::Own).is_err());
        assert!(stat_ticks("1 (x) S 1", Ticks::Own).is_err());
    }

    #[test]
    fn parent_and_comm_survive_parentheses_in_the_name() {
        assert_eq!(parent_and_comm(STAT), Some((1, "ank (weird) name")));
    }

    #[test]
    fn kib_fields_are_read_from_their_line() {
        let text = "Rss:    9000 kB\nPss:    4096 kB\nPss_Anon:  100 kB\n";
        // (key, value)
        let cases = [("Pss:", Some(4096)), ("Rss:", Some(9000)), ("VmHWM:", None)];
        for (key, value) in cases {
            assert_eq!(parse_kib_field(text, key), value, "{key}");
        }
    }

    #[test]
    fn this_process_can_be_measured() {
        let me = std::process::id();
        assert!(pss_kib(me).is_ok_and(|k| k > 0));
        assert!(vm_hwm_kib(me).is_ok_and(|k| k > 0));
        assert!(cpu_seconds(me).is_ok());
    }
}
