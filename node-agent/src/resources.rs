//! The node's load for the agent status: CPU usage in percent and free memory in bytes, read from
//! `/proc` (Linux), as Ankaios reports them (§9). Parsing is pure and tested on captured text;
//! [`Sampler`] keeps the previous CPU counters to compute the usage between two samples.
//!
//! Published only when it changes noticeably ([`changed_noticeably`]): Ankaios' report every 2 s
//! makes every status subscriber busy for nothing (§11.16).

use ank_schemas::Resources;

/// CPU counters from the first line of `/proc/stat`: (busy jiffies, total jiffies).
pub fn parse_cpu(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = values.iter().sum();
    // idle + iowait are not work.
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// `MemFree` from `/proc/meminfo`, in bytes (Ankaios reports free, not available, memory).
pub fn parse_free_memory(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemFree:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The CPU usage in percent between two counter samples, rounded.
pub fn cpu_percent(before: (u64, u64), after: (u64, u64)) -> u32 {
    let busy = after.0.saturating_sub(before.0);
    let total = after.1.saturating_sub(before.1);
    if total == 0 {
        return 0;
    }
    ((busy as f64 / total as f64) * 100.0)
        .round()
        .clamp(0.0, 100.0) as u32
}

/// Whether `now` differs enough from what was published to publish again: CPU by 5 points or
/// more, free memory by 5 % or more.
pub fn changed_noticeably(published: Option<&Resources>, now: &Resources) -> bool {
    let Some(old) = published else {
        return true;
    };
    let cpu = old.cpu_usage.abs_diff(now.cpu_usage) >= 5;
    let memory =
        old.free_memory.abs_diff(now.free_memory) as f64 >= old.free_memory.max(1) as f64 * 0.05;
    cpu || memory
}

/// Reads `/proc` and remembers the last CPU counters.
#[derive(Debug, Default)]
pub struct Sampler {
    last_cpu: Option<(u64, u64)>,
}

impl Sampler {
    /// The load since the previous sample (CPU 0 on the first), or `None` where `/proc` is not
    /// readable.
    pub fn sample(&mut self) -> Option<Resources> {
        let cpu = parse_cpu(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let free_memory = parse_free_memory(&std::fs::read_to_string("/proc/meminfo").ok()?)?;
        let cpu_usage = self.last_cpu.map_or(0, |before| cpu_percent(before, cpu));
        self.last_cpu = Some(cpu);
        Some(Resources {
            cpu_usage,
            free_memory,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\n";
    const MEMINFO: &str = "MemTotal:        8000000 kB\nMemFree:         1000000 kB\n";

    #[test]
    fn proc_text_parses_into_counters_and_bytes() {
        assert_eq!(parse_cpu(STAT), Some((200, 1000)));
        assert_eq!(parse_free_memory(MEMINFO), Some(1_024_000_000));
        assert_eq!(parse_cpu("garbage"), None);
        assert_eq!(parse_free_memory("MemTotal: 1 kB"), None);
    }

    #[test]
    fn cpu_percent_is_busy_over_total_between_samples() {
        assert_eq!(cpu_percent((200, 1000), (300, 1200)), 50);
        assert_eq!(cpu_percent((200, 1000), (200, 1000)), 0);
        assert_eq!(cpu_percent((200, 1000), (201, 1003)), 33);
    }

    #[test]
    fn only_noticeable_changes_are_published() {
        let old = Resources {
            cpu_usage: 10,
            free_memory: 1_000,
        };
        let table = [
            (10, 1_000, false),
            (14, 1_000, false),
            (15, 1_000, true),
            (6, 1_000, false),
            (5, 1_000, true),
            (10, 951, false),
            (10, 950, true),
            (10, 1_050, true),
        ];
        for (cpu_usage, free_memory, expected) in table {
            let now = Resources {
                cpu_usage,
                free_memory,
            };
            assert_eq!(changed_noticeably(Some(&old), &now), expected, "{now:?}");
        }
        assert!(changed_noticeably(None, &old));
    }

    #[test]
    fn this_machine_can_be_sampled() {
        let mut sampler = Sampler::default();
        let first = sampler.sample().expect("/proc is readable on Linux");
        assert!(first.free_memory > 0);
    }
}
