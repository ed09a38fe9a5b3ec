//! Where a run happened: cores, memory, kernel, podman, and how busy the machine was. Figures from
//! a shared machine mean little without this.

use serde::Serialize;

/// A description of the machine.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    /// Logical CPUs available.
    pub nproc: usize,
    /// The CPU model, from /proc/cpuinfo.
    pub cpu_model: String,
    /// Total memory in MiB.
    pub memory_mib: u64,
    /// `uname -r`.
    pub kernel: String,
    /// `podman --version`.
    pub podman: String,
    /// `mosquitto -h` first line.
    pub mosquitto: String,
    /// The 1-minute load average when the run started.
    pub load_at_start: f64,
    /// The 1-minute load average when it ended.
    pub load_at_end: f64,
}

impl Machine {
    /// Reads the machine; the podman version is passed in (it needs a process).
    pub fn describe(podman: String) -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpu_model = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let memory_mib = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .map(|kib| kib / 1024)
            .unwrap_or(0);
        Machine {
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            cpu_model,
            memory_mib,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            podman,
            mosquitto: mosquitto_version(),
            load_at_start: load_average(),
            load_at_end: 0.0,
        }
    }
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|l| l.parse().ok()))
        .unwrap_or(0.0)
}

fn mosquitto_version() -> String {
    let binary = std::env::var("ANK_MOSQUITTO")
        .unwrap_or_else(|_| ank_system_tests::mosquitto::DEFAULT_BINARY.into());
    std::process::Command::new(binary)
        .arg("-h")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}
