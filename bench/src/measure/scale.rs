//! Measurement 5: 1,000 simulated agents × 10 workloads. One `ank apply` of a single manifest
//! with all 10,000 workloads (a fleet-wide rollout, the case that stresses the controller most:
//! one request, 1,000 snapshots, 10,000 states back), timed until a subscriber has seen every
//! workload Running(Ok) and until `ank apply` itself has seen them and exited.
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
    // The desired state of 10,000 workloads is a few MiB in one message.
    let packet = (64 * 1024 * 1024).to_string();
    let extra: Vec<&str> = if external {
        vec![]
    } else {
        vec![
            "--max-connections",
            &connections,
            "--max-packet-size",
            &packet,
        ]
    };
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
    let file = ctx.dir.join(format!("scale-{label}.yaml"));
    std::fs::write(&file, manifest(&names, scale.workloads))
        .context("writing the scale manifest")?;
    // Let the fleet's subscriptions and births land before the clock starts.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected = fleet.connected();
    let cpu0 = procfs::cpu_seconds(controller)?;
    let broker_cpu0 = broker.and_then(|p| procfs::cpu_seconds(p).ok());
    let bins = ctx.bins.clone();
    let (url_owned, file_arg) = (url.to_owned(), file.to_string_lossy().into_owned());
    let children_cpu0 = procfs::ended_children_cpu_seconds();
    let t0 = Instant::now();
    let apply = tokio::spawn(async move {
        run_ank(
            &bins,
            &url_owned,
            &[
                "--response-timeout",
                "120s",
                "--timeout",
                "180s",
                "apply",
                &file_arg,
            ],
        )
        .await
    });
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
    let ank = apply.await.context("the ank task panicked")??;
    // Only ank ends during the rollout, so the children's CPU is ank's.
    let ank_cpu = procfs::ended_children_cpu_seconds() - children_cpu0;
    let cpu = procfs::cpu_seconds(controller)? - cpu0;
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
            ank.output.trim()
        );
    }
    if !ank.ok {
        bail!(
            "`ank apply` of {total} workloads failed: {}",
            ank.output.trim()
        );
    }
    let secs = |t: Option<Instant>| t.map(|t| ms_between(t0, t) / 1000.0);
    let all_states = secs(last_state).unwrap_or(f64::NAN);
    let ank_s = ank.elapsed.as_secs_f64();
    let id = format!("5-{label}");
    let setting = format!("{} agents × {} workloads", scale.agents, scale.workloads);
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
            &format!("`ank apply` of {total} workloads until it exits, {label} broker"),
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
            if label == "embedded" {
                "includes the embedded broker"
            } else {
                "controller only"
            }
            .to_string(),
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
        "brokerCpuSeconds": broker_cpu, "brokerVmHwmMib": broker_hwm,
    });
    Ok((rows, details))
}

/// One manifest: `workloads` workloads on each agent, named `w<agent index>x<k>`.
fn manifest(agents: &[String], workloads: usize) -> String {
    let image = crate::podman_ref::image();
    let mut text = String::with_capacity(agents.len() * workloads * 160);
    text.push_str("apiVersion: v1\nworkloads:\n");
    for (a, agent) in agents.iter().enumerate() {
        for k in 0..workloads {
            text.push_str(&format!(
                "  w{a:04}x{k}:\n    agent: {agent}\n    runtime: podman\n    runtimeConfig: |\n      \
                 image: {image}\n      commandArgs: [\"sleep\", \"3600\"]\n"
            ));
        }
    }
    text
}
