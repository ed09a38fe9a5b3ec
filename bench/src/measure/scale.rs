//! Measurement 5: 1,000 simulated agents × 10 workloads (or 5,000 × 2 with `--agents 5000
//! --per-agent 2`, issue 17). A fleet-wide rollout, the case that stresses the controller most:
//! 1,000 snapshots, 10,000 states back. It is sent the way a user must send it: one request may
//! be at most the bus's 1 MiB (`ank` has no way to send a larger one), and 10,000 workloads are
//! about 2.9 MB, so the manifest is split into parts of at most [`WORKLOADS_PER_APPLY`]
//! workloads and every part is applied at once by its own `ank apply` (as `xargs -P` would);
//! the whole desired state is still one retained message, so the controller runs with
//! `--max-message-size` [`MAX_MESSAGE_SIZE`] (docs/controller.md, "Retained messages that must
//! fit"). Timed until a subscriber has seen every workload Running(Ok) and until the last
//! `ank apply` has seen its part and exited; the controller's peak RSS (VmHWM) and peak PSS
//! (sampled) are recorded.
//!
//! Run once on the embedded broker and once on Mosquitto (controller in external mode). The
//! embedded broker keeps retained messages in memory here, as the private Mosquitto does, so the
//! two compare like for like. The simulated agents live in this process and compete for the same
//! two cores as the controller: the figure is pessimistic for a real vehicle, where agents run
//! on other ECUs.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ank_system_tests::mosquitto::Mosquitto;
use anyhow::{bail, Context, Result};
use serde_json::json;

use super::{is_running, ms_between, Ctx, Outcome};
use crate::processes::run_ank;
use crate::procfs;
use crate::report::Row;
use crate::sim_agent::Fleet;
use crate::stack::{self, BrokerChoice, STOP_GRACE};
use crate::tap::Tap;

/// How long the rollout may take before the run fails.
const DEADLINE: Duration = Duration::from_secs(180);

/// Workloads per `ank apply`: 2,000 are a request of about 0.6 MB, well under the bus's 1 MiB
/// publish limit (10,000 were 2.85 MB).
pub const WORKLOADS_PER_APPLY: usize = 2_000;

/// The controller's `--max-message-size` for the run: the desired state of 10,000 workloads is
/// one retained message of about 3 MB.
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// How often the controller's PSS is sampled during the rollout.
const PSS_EVERY: Duration = Duration::from_millis(100);

/// The scale of the run.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Simulated agents.
    pub agents: usize,
    /// Workloads per agent.
    pub workloads: usize,
}

/// Runs measurement 5 on the embedded broker, then on Mosquitto.
pub async fn run(ctx: &Ctx, scale: Scale) -> Result<Outcome> {
    let mut rows = Vec::new();
    let mut details = serde_json::Map::new();
    for external in [false, true] {
        let label = if external { "mosquitto" } else { "embedded" };
        let (r, d) = run_on(ctx, scale, external)
            .await
            .with_context(|| format!("scale on the {label} broker"))?;
        rows.extend(r);
        details.insert(label.into(), d);
    }
    Ok((rows, serde_json::Value::Object(details)))
}

async fn run_on(ctx: &Ctx, scale: Scale, external: bool) -> Result<Outcome> {
    let label = if external { "mosquitto" } else { "embedded" };
    let mosquitto = if external {
        Some(Mosquitto::start()?)
    } else {
        None
    };
    let broker = match &mosquitto {
        Some(m) => BrokerChoice::External(m.url()),
        None => BrokerChoice::Embedded,
    };
    let connections = (scale.agents + 100).to_string();
    // The desired state of 10,000 workloads is a few MiB in one message; the embedded broker
    // takes the same limit.
    let message = MAX_MESSAGE_SIZE.to_string();
    let mut extra: Vec<&str> = vec!["--max-message-size", &message];
    if !external {
        extra.extend(["--max-connections", &connections]);
    }
    let mut ctl = stack::start_controller(
        &ctx.bins,
        &ctx.dir,
        &format!("scale-{label}"),
        &broker,
        false,
        &extra,
    )?;
    let result = async {
        stack::wait_controller_online(&mut ctl, &ctx.topics).await?;
        let broker_pid = if external {
            procfs::my_children_named("mosquitto").first().copied()
        } else {
            None
        };
        measure(ctx, scale, &ctl.url, ctl.proc.pid(), broker_pid, label).await
    }
    .await;
    ctl.proc.stop(STOP_GRACE).await;
    drop(mosquitto);
    result
}

async fn measure(
    ctx: &Ctx,
    scale: Scale,
    url: &str,
    controller: u32,
    broker: Option<u32>,
    label: &str,
) -> Result<Outcome> {
    let pid = std::process::id();
    let names: Vec<String> = (0..scale.agents)
        .map(|i| format!("bench{pid}s{i:04}"))
        .collect();
    let connecting = Instant::now();
    let fleet = Fleet::connect(url, &ctx.topics, &names).await?;
    let connect_s = connecting.elapsed().as_secs_f64();
    let topics = &ctx.topics;
    let mut tap = Tap::open(
        url,
        topics,
        &format!("bench-scale-{pid}"),
        &[topics.all_workload_states(), topics.all_agent_desired()],
    )
    .await?;
    let mut files = Vec::new();
    for (part, text) in manifests(&names, scale.workloads).into_iter().enumerate() {
        let file = ctx.dir.join(format!("scale-{label}-{part}.yaml"));
        std::fs::write(&file, text).context("writing the scale manifest")?;
        files.push(file.to_string_lossy().into_owned());
    }
    // Let the fleet's subscriptions and births land before the clock starts.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected = fleet.connected();
    let cpu0 = procfs::cpu_seconds(controller)?;
    let broker_cpu0 = broker.and_then(|p| procfs::cpu_seconds(p).ok());
    let children_cpu0 = procfs::ended_children_cpu_seconds();
    let pss0 = procfs::pss_kib(controller)?;
    let peak_pss = PeakPss::watch(controller, pss0);
    let t0 = Instant::now();
    let applies: Vec<_> = files
        .iter()
        .map(|file| {
            let (bins, url, file) = (ctx.bins.clone(), url.to_owned(), file.clone());
            tokio::spawn(async move {
                run_ank(
                    &bins,
                    &url,
                    &[
                        "--response-timeout",
                        "120s",
                        "--timeout",
                        "180s",
                        "apply",
                        &file,
                    ],
                )
                .await
            })
        })
        .collect();
    let total = scale.agents * scale.workloads;
    let (mut running, mut snapshots) = (HashSet::new(), HashSet::new());
    let (mut first_snapshot, mut last_snapshot, mut last_state) = (None, None, None);
    let deadline = t0 + DEADLINE;
    while running.len() < total {
        let Some(m) = tap.next(deadline).await else {
            break;
        };
        if m.topic.ends_with("/desired") {
            first_snapshot.get_or_insert(m.at);
            last_snapshot = Some(m.at);
            snapshots.insert(m.topic);
        } else if is_running(&m.payload) && running.insert(m.topic) {
            last_state = Some(m.at);
        }
    }
    let mut anks = Vec::new();
    for apply in applies {
        anks.push(apply.await.context("the ank task panicked")??);
    }
    // Only the anks end during the rollout, so the children's CPU is theirs.
    let ank_cpu = procfs::ended_children_cpu_seconds() - children_cpu0;
    let cpu = procfs::cpu_seconds(controller)? - cpu0;
    let peak_pss_mib = peak_pss.stop().await as f64 / 1024.0;
    let hwm = procfs::vm_hwm_kib(controller)? as f64 / 1024.0;
    let broker_cpu = match (broker, broker_cpu0) {
        (Some(p), Some(c0)) => procfs::cpu_seconds(p).ok().map(|c| c - c0),
        _ => None,
    };
    let broker_hwm = broker
        .and_then(|p| procfs::vm_hwm_kib(p).ok())
        .map(|k| k as f64 / 1024.0);
    let retries = fleet.connect_retries;
    let answered = fleet.answered.load(std::sync::atomic::Ordering::Relaxed);
    tap.close().await;
    fleet.close().await;
    if running.len() < total {
        bail!(
            "only {} of {total} workloads reported Running within {DEADLINE:?} ({} snapshots seen, \
             {answered} answered; ank: {})",
            running.len(),
            snapshots.len(),
            anks.iter()
                .map(|a| a.output.trim())
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    if let Some(failed) = anks.iter().find(|a| !a.ok) {
        bail!(
            "an `ank apply` of the {total} workloads' parts failed: {}",
            failed.output.trim()
        );
    }
    let secs = |t: Option<Instant>| t.map(|t| ms_between(t0, t) / 1000.0);
    let all_states = secs(last_state).unwrap_or(f64::NAN);
    // From the spawn of the first to the exit of the last.
    let ank_s = anks
        .iter()
        .map(|a| ms_between(t0, a.started + a.elapsed) / 1000.0)
        .fold(0.0, f64::max);
    let id = format!("5-{label}");
    let setting = format!(
        "{} agents × {} workloads, {} `ank apply` of ≤ {WORKLOADS_PER_APPLY} at once",
        scale.agents,
        scale.workloads,
        anks.len()
    );
    let mut rows = vec![
        Row::new(
            &id,
            &format!("apply → all {total} states Running(Ok) at a subscriber, {label} broker"),
            all_states,
            "s",
            setting.clone(),
        )
        .target("≤ 3 s", all_states <= 3.0),
        Row::new(
            &format!("{id}-ank"),
            &format!("`ank apply` of {total} workloads until the last exits, {label} broker"),
            ank_s,
            "s",
            format!("{setting}; ank used {ank_cpu:.1} s CPU"),
        )
        .target("≤ 3 s", ank_s <= 3.0),
        Row::new(
            &format!("{id}-cpu"),
            &format!("controller CPU during the rollout, {label} broker"),
            cpu,
            "s",
            "user+system".to_string(),
        ),
        Row::new(
            &format!("{id}-hwm"),
            &format!("controller peak RSS (VmHWM), {label} broker"),
            hwm,
            "MiB",
            format!(
                "{}; peak PSS {peak_pss_mib:.1} MiB (sampled every {} ms), {:.1} MiB before the rollout",
                if label == "embedded" {
                    "includes the embedded broker"
                } else {
                    "controller only"
                },
                PSS_EVERY.as_millis(),
                pss0 as f64 / 1024.0
            ),
        ),
    ];
    if let (Some(c), Some(h)) = (broker_cpu, broker_hwm) {
        rows.push(Row::new(
            &format!("{id}-broker"),
            "Mosquitto CPU during the rollout / its VmHWM",
            c,
            "s",
            format!("VmHWM {h:.1} MiB"),
        ));
    }
    let details = json!({
        "agents": scale.agents, "workloadsPerAgent": scale.workloads,
        "fleetConnectSeconds": connect_s, "fleetConnectRetries": retries, "fleetConnectedAtStart": connected,
        "snapshotsSeen": snapshots.len(), "snapshotsAnswered": answered,
        "secondsFromAnkSpawn": {
            "firstSnapshot": secs(first_snapshot), "lastSnapshot": secs(last_snapshot),
            "lastStateRunning": secs(last_state), "ankExited": ank_s,
        },
        "ankCpuSeconds": ank_cpu,
        "controllerCpuSeconds": cpu, "controllerVmHwmMib": hwm,
        "controllerPeakPssMib": peak_pss_mib, "controllerPssBeforeMib": pss0 as f64 / 1024.0,
        "applies": anks.len(), "workloadsPerApply": WORKLOADS_PER_APPLY,
        "brokerCpuSeconds": broker_cpu, "brokerVmHwmMib": broker_hwm,
    });
    Ok((rows, details))
}

/// The manifests of the rollout: `workloads` workloads on each agent, named `w<agent
/// index>x<k>`, at most [`WORKLOADS_PER_APPLY`] per manifest (an agent's workloads stay in one).
fn manifests(agents: &[String], workloads: usize) -> Vec<String> {
    let image = crate::podman_ref::image();
    let agents_per_part = (WORKLOADS_PER_APPLY / workloads.max(1)).max(1);
    agents
        .chunks(agents_per_part)
        .enumerate()
        .map(|(part, chunk)| {
            let mut text = String::with_capacity(chunk.len() * workloads * 160);
            text.push_str("apiVersion: v1\nworkloads:\n");
            for (i, agent) in chunk.iter().enumerate() {
                let a = part * agents_per_part + i;
                for k in 0..workloads {
                    text.push_str(&format!(
                        "  w{a:04}x{k}:\n    agent: {agent}\n    runtime: podman\n    runtimeConfig: |\n      \
                         image: {image}\n      commandArgs: [\"sleep\", \"3600\"]\n"
                    ));
                }
            }
            text
        })
        .collect()
}

/// The largest PSS of a process, sampled every [`PSS_EVERY`] until [`PeakPss::stop`].
struct PeakPss {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<u64>,
}

impl PeakPss {
    fn watch(pid: u32, first: u64) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut peak = first;
            loop {
                if let Ok(kib) = procfs::pss_kib(pid) {
                    peak = peak.max(kib);
                }
                tokio::select! {
                    _ = &mut stopped => {
                        if let Ok(kib) = procfs::pss_kib(pid) {
                            peak = peak.max(kib);
                        }
                        return peak;
                    }
                    () = tokio::time::sleep(PSS_EVERY) => {}
                }
            }
        });
        Self { stop, task }
    }

    /// The peak in KiB, including one last sample.
    async fn stop(self) -> u64 {
        let _ = self.stop.send(());
        self.task.await.unwrap_or(0)
    }
}
