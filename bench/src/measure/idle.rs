//! Measurement 4: idle footprint. A controller with its embedded broker and one agent running 10
//! real workloads sit idle for 60 s (10 s with `--quick`); PSS from `/proc/<pid>/smaps_rollup`
//! (sampled every 5 s, the largest kept) and CPU from `/proc/<pid>/stat` over the window.
//!
//! PSS (not RSS) is the honest sum for processes that share libraries. The agent's helper
//! processes (its `podman events`) and the containers' `conmon`s are reported beside it, not in
//! it: they are podman's, and Ankaios' published figure does not count them either.
//!
//! To split the controller from its broker, a controller on an external Mosquitto is also
//! sampled for 10 s (row 4g).

use std::time::{Duration, Instant};

use ank_system_tests::mosquitto::Mosquitto;
use anyhow::{Context, Result};
use serde_json::json;

use super::{Ctx, Outcome};
use crate::podman_ref;
use crate::processes::ank_ok;
use crate::procfs;
use crate::report::Row;
use crate::stack::{self, BrokerChoice, STOP_GRACE};

const WORKLOADS: usize = 10;
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Window of the controller-alone comparison (4g).
const ALONE_WINDOW: Duration = Duration::from_secs(10);

/// Runs measurement 4 over `window`.
pub async fn run(ctx: &Ctx, window: Duration) -> Result<Outcome> {
    let agent = format!("bench{}i", std::process::id());
    let mut ctl = stack::start_controller(
        &ctx.bins,
        &ctx.dir,
        "idle",
        &BrokerChoice::Embedded,
        true,
        &[],
    )?;
    let result = async {
        stack::wait_controller_online(&mut ctl, &ctx.topics).await?;
        let agent_proc = stack::start_agent(&ctx.bins, &ctx.dir, &agent, &ctl.url)?;
        let result = async {
            stack::wait_agent_online(&ctl.url, &ctx.topics, &agent).await?;
            let file = ctx.dir.join("idle.yaml");
            std::fs::write(&file, manifest(&agent)).context("writing the idle manifest")?;
            ank_ok(&ctx.bins, &ctl.url, &["apply", &file.to_string_lossy()]).await?;
            // Let start-up work (first resync, resource sampling) settle before the window.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let out = measure(ctl.proc.pid(), agent_proc.pid(), window).await;
            let names: Vec<String> = (0..WORKLOADS).map(|i| format!("idle{i}")).collect();
            let mut args = vec!["delete", "workload"];
            args.extend(names.iter().map(String::as_str));
            ank_ok(&ctx.bins, &ctl.url, &args).await?;
            out
        }
        .await;
        agent_proc.stop(STOP_GRACE).await;
        result
    }
    .await;
    ctl.proc.stop(STOP_GRACE).await;
    if let Err(error) = podman_ref::remove_agent_containers(&agent).await {
        tracing::warn!(%error, "cleanup of the agent's containers failed");
    }
    let (mut rows, mut details) = result?;
    // Splits 4a: the same controller on an external Mosquitto, without the embedded broker.
    let (alone_kib, alone_secs) = controller_alone(ctx).await?;
    rows.push(Row::new(
        "4g",
        "idle PSS, controller alone (external Mosquitto; splits 4a)",
        alone_kib as f64 / 1024.0,
        "MiB",
        format!("max of samples every 5 s over {alone_secs:.0} s, no agent"),
    ));
    if let Some(map) = details.as_object_mut() {
        map.insert("controllerAlonePssKib".into(), json!(alone_kib));
    }
    Ok((rows, details))
}

/// Largest PSS (KiB) of an idle controller in external mode over 10 s, and the window.
async fn controller_alone(ctx: &Ctx) -> Result<(u64, f64)> {
    let mosquitto = Mosquitto::start()?;
    let broker = BrokerChoice::External(mosquitto.url());
    let mut ctl = stack::start_controller(&ctx.bins, &ctx.dir, "idle-alone", &broker, true, &[])?;
    let result = async {
        stack::wait_controller_online(&mut ctl, &ctx.topics).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let started = Instant::now();
        let mut pss = 0u64;
        loop {
            pss = pss.max(procfs::pss_kib(ctl.proc.pid())?);
            if started.elapsed() >= ALONE_WINDOW {
                break;
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
        Ok((pss, started.elapsed().as_secs_f64()))
    }
    .await;
    ctl.proc.stop(STOP_GRACE).await;
    drop(mosquitto);
    result
}

async fn measure(controller: u32, agent: u32, window: Duration) -> Result<Outcome> {
    let cpu0 = (
        procfs::cpu_seconds(controller)?,
        procfs::cpu_seconds(agent)?,
    );
    let started = Instant::now();
    let (mut ctl_pss, mut agent_pss, mut helpers_pss) = (0u64, 0u64, 0u64);
    let mut helpers = std::collections::BTreeSet::new();
    loop {
        ctl_pss = ctl_pss.max(procfs::pss_kib(controller)?);
        agent_pss = agent_pss.max(procfs::pss_kib(agent)?);
        let children = procfs::children_of(agent);
        let sum: u64 = children
            .iter()
            .filter_map(|(pid, _)| procfs::pss_kib(*pid).ok())
            .sum();
        helpers.extend(children.into_iter().map(|(_, comm)| comm));
        helpers_pss = helpers_pss.max(sum);
        if started.elapsed() >= window {
            break;
        }
        tokio::time::sleep(SAMPLE_EVERY.min(window.saturating_sub(started.elapsed()))).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu1 = (
        procfs::cpu_seconds(controller)?,
        procfs::cpu_seconds(agent)?,
    );
    let ctl_cpu = (cpu1.0 - cpu0.0) / secs * 100.0;
    let agent_cpu = (cpu1.1 - cpu0.1) / secs * 100.0;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let total = mib(ctl_pss + agent_pss);
    let note = format!("max of samples every 5 s over {secs:.0} s");
    let rows = vec![
        Row::new(
            "4a",
            "idle PSS, controller + embedded broker",
            mib(ctl_pss),
            "MiB",
            note.clone(),
        ),
        Row::new(
            "4b",
            "idle PSS, agent with 10 running workloads",
            mib(agent_pss),
            "MiB",
            note,
        ),
        Row::new(
            "4c",
            "idle PSS, controller + broker + agent",
            total,
            "MiB",
            "Ankaios publishes 11.2 MB (server + agent)",
        )
        .target("≤ 10 MiB", total <= 10.0),
        Row::new(
            "4d",
            "idle PSS of the agent's helper processes (not in 4c)",
            mib(helpers_pss),
            "MiB",
            format!(
                "largest sample; seen: {}",
                helpers.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        ),
        Row::new(
            "4e",
            "idle CPU, controller + broker",
            ctl_cpu,
            "%",
            format!("of one core, over {secs:.0} s"),
        ),
        Row::new(
            "4f",
            "idle CPU, agent with 10 running workloads",
            agent_cpu,
            "%",
            format!("of one core, over {secs:.0} s"),
        ),
    ];
    let details = json!({
        "windowSeconds": secs,
        "controllerPssKib": ctl_pss, "agentPssKib": agent_pss, "agentHelpersPssKib": helpers_pss,
        "agentHelpers": helpers,
        "controllerCpuPercent": ctl_cpu, "agentCpuPercent": agent_cpu,
        "controllerRssKib": procfs::vm_rss_kib(controller).ok(), "agentRssKib": procfs::vm_rss_kib(agent).ok(),
    });
    Ok((rows, details))
}

fn manifest(agent: &str) -> String {
    let mut text = String::from("apiVersion: v1\nworkloads:\n");
    for i in 0..WORKLOADS {
        text.push_str(&format!(
            "  idle{i}:\n    agent: {agent}\n    runtime: podman\n    runtimeConfig: |\n      \
             image: {}\n      commandArgs: [\"sleep\", \"3600\"]\n",
            podman_ref::image()
        ));
    }
    text
}
