//! Measurement 6: broker throughput with the project's own traffic: retained QoS 1
//! `WorkloadStatePayload` JSON on 1,000 workload state topics, one publisher to one wildcard
//! subscriber, both through `ank-bus`. The embedded broker runs as the standalone `ank-broker`
//! binary (a separate process, like Mosquitto), both in memory, fresh for every round; rounds
//! alternate between the two so that machine noise hits both alike.

use std::time::{Duration, Instant};

use ank_bus::{ConnectOptions, Session};
use ank_schemas::{ExecutionState, InstanceId, RunningSubstate, WorkloadStatePayload};
use ank_system_tests::mosquitto::Mosquitto;
use anyhow::{bail, Context, Result};
use serde_json::json;

use super::{ms_between, Ctx, Outcome};
use crate::procfs;
use crate::report::Row;
use crate::stack::{self, STOP_GRACE};
use crate::stats::Summary;
use crate::tap::Tap;

const AGENTS: usize = 100;
const WORKLOADS: usize = 10;

/// One round on one broker.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Round {
    broker: &'static str,
    messages: usize,
    received: usize,
    seconds: f64,
    msgs_per_second: f64,
    broker_cpu_seconds: Option<f64>,
}

/// Runs measurement 6: `rounds` rounds of `messages` messages per broker.
pub async fn run(ctx: &Ctx, messages: usize, rounds: usize) -> Result<Outcome> {
    let payloads = payloads(ctx);
    let mut all = Vec::new();
    for round in 0..rounds {
        for embedded in [true, false] {
            let r = if embedded {
                let (proc, url) =
                    stack::start_ank_broker(&ctx.bins, &ctx.dir, &format!("tp{round}"), &[])
                        .await?;
                let pid = proc.pid();
                let r = one_round(ctx, &url, Some(pid), "ank-broker", &payloads, messages).await;
                proc.stop(STOP_GRACE).await;
                r?
            } else {
                let mosquitto = Mosquitto::start()?;
                let pid = procfs::my_children_named("mosquitto").first().copied();
                one_round(ctx, &mosquitto.url(), pid, "mosquitto", &payloads, messages).await?
            };
            tracing::info!(
                broker = r.broker,
                rate = r.msgs_per_second,
                "throughput round"
            );
            all.push(r);
        }
    }
    let rates = |b: &str| -> Vec<f64> {
        all.iter()
            .filter(|r| r.broker == b)
            .map(|r| r.msgs_per_second)
            .collect()
    };
    let ours = Summary::of(&rates("ank-broker")).context("no ank-broker rounds")?;
    let theirs = Summary::of(&rates("mosquitto")).context("no mosquitto rounds")?;
    let bytes = payloads.first().map(|(_, p)| p.len()).unwrap_or(0);
    let note = format!(
        "median of {rounds}; {messages} msgs of ~{bytes} B, QoS 1, retained, 1 pub → 1 sub"
    );
    let rows = vec![Row::new(
        "6",
        "broker throughput, embedded broker (ank-broker process)",
        ours.median,
        "msg/s",
        note,
    )
    .against("Mosquitto", theirs.median)];
    let details =
        json!({ "rounds": all, "ankBroker": ours, "mosquitto": theirs, "payloadBytes": bytes });
    Ok((rows, details))
}

/// The topics and payloads, built once: what an agent publishes for a running workload.
fn payloads(ctx: &Ctx) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::with_capacity(AGENTS * WORKLOADS);
    for a in 0..AGENTS {
        let agent = format!("agent{a:03}");
        for w in 0..WORKLOADS {
            let name = format!("workload{w}");
            let config =
                "image: localhost/ank-test/busybox:latest\ncommandArgs: [\"sleep\", \"3600\"]";
            let payload = WorkloadStatePayload {
                instance_id: InstanceId::compute(&name, &agent, "podman", config, &[]),
                state: ExecutionState::Running(RunningSubstate::Ok),
                additional_info: String::new(),
                observed_generation: 7,
                restart_count: 0,
                exit_code: None,
                since: "2026-01-01T00:00:00Z".into(),
            };
            let bytes = serde_json::to_vec(&payload).unwrap_or_default();
            out.push((ctx.topics.workload_state(&agent, &name), bytes));
        }
    }
    out
}

async fn one_round(
    ctx: &Ctx,
    url: &str,
    broker_pid: Option<u32>,
    broker: &'static str,
    payloads: &[(String, Vec<u8>)],
    messages: usize,
) -> Result<Round> {
    let pid = std::process::id();
    let mut sub = Tap::open(
        url,
        &ctx.topics,
        &format!("bench-sub-{pid}"),
        &[ctx.topics.all_workload_states()],
    )
    .await?;
    let mut opts = ConnectOptions::from_url(url, &format!("bench-pub-{pid}"))?;
    opts.topics = ctx.topics.clone();
    let (publisher, _incoming) = Session::connect(opts, None).await?;
    let cpu0 = broker_pid.and_then(|p| procfs::cpu_seconds(p).ok());
    let t0 = Instant::now();
    let sender = {
        let publisher = publisher.clone();
        let plan: Vec<(String, Vec<u8>)> =
            payloads.iter().cycle().take(messages).cloned().collect();
        tokio::spawn(async move {
            for (topic, payload) in plan {
                publisher.publish(&topic, payload, true).await?;
            }
            Ok::<_, ank_bus::BusError>(())
        })
    };
    let deadline = t0 + Duration::from_secs(120);
    let (mut received, mut last) = (0, t0);
    while received < messages {
        let Some(m) = sub.next(deadline).await else {
            break;
        };
        received += 1;
        last = m.at;
    }
    sender.await.context("the publisher task panicked")??;
    let cpu = match (broker_pid, cpu0) {
        (Some(p), Some(c0)) => procfs::cpu_seconds(p).ok().map(|c| c - c0),
        _ => None,
    };
    publisher.shutdown(None).await;
    sub.close().await;
    if received < messages {
        bail!("{broker}: only {received} of {messages} QoS 1 messages arrived within 120 s");
    }
    let seconds = ms_between(t0, last) / 1000.0;
    Ok(Round {
        broker,
        messages,
        received,
        seconds,
        msgs_per_second: messages as f64 / seconds,
        broker_cpu_seconds: cpu,
    })
}
