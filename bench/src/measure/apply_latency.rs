//! Measurements 1 and 2: `ank apply` until the CLI reports Running(Ok), against `podman run -d`
//! of the same container; then the container's exit until an MQTT subscriber has its state,
//! against the exit time podman records.
//!
//! Each iteration applies a new workload (`sleep 2`, restart policy NEVER) to one real agent,
//! waits for its exit, deletes it, then runs the same container with raw podman, so both sides see
//! the same machine conditions. A tap subscribed to the whole topic tree stamps every hop, which
//! gives the breakdown of (1): CLI start and connect, controller (apply, persist, publish), agent
//! until it starts podman, podman run until Running is published, and the CLI noticing it.

use std::time::{Duration, Instant, SystemTime};

use ank_schemas::{ExecutionState, PendingSubstate};
use anyhow::{bail, Context, Result};
use serde_json::json;

use super::{ms, ms_between, state_of, Ctx, Outcome};
use crate::podman_ref;
use crate::processes::ank_ok;
use crate::report::Row;
use crate::stack::{self, BrokerChoice, STOP_GRACE};
use crate::stats::Summary;
use crate::tap::{Stamped, Tap};

/// How long the workload runs before it exits (for measurement 2).
const RUN_SECONDS: &str = "2";

/// The hops of one apply, in ms from spawning `ank`.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Hops {
    request_sent: Option<f64>,
    snapshot_published: Option<f64>,
    response_sent: Option<f64>,
    pending_starting: Option<f64>,
    running_published: Option<f64>,
    ank_exited: f64,
    /// From the agent's `Pending(Starting)` to podman's container creation time.
    starting_to_created: Option<f64>,
    /// podman's creation to start time.
    created_to_started: Option<f64>,
    /// podman's start time to the tap receiving `Running`.
    started_to_running: Option<f64>,
}

/// The same split for the raw `podman run -d`, in ms.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RawSplit {
    spawn_to_created: f64,
    created_to_started: f64,
    started_to_cli_exit: f64,
}

/// Milliseconds from wall time `from` to `to` (negative if earlier).
fn wall_ms(from: SystemTime, to: SystemTime) -> f64 {
    match to.duration_since(from) {
        Ok(d) => ms(d),
        Err(e) => -ms(e.duration()),
    }
}

/// Runs measurements 1 and 2 with `iterations` samples each (plus one warm-up).
pub async fn run(ctx: &Ctx, iterations: usize) -> Result<Outcome> {
    let agent = format!("bench{}a", std::process::id());
    let mut ctl = stack::start_controller(
        &ctx.bins,
        &ctx.dir,
        "apply",
        &BrokerChoice::Embedded,
        true,
        &[],
    )?;
    let result = async {
        stack::wait_controller_online(&mut ctl, &ctx.topics).await?;
        let mut agent_proc = stack::start_agent(&ctx.bins, &ctx.dir, &agent, &ctl.url)?;
        let result = async {
            stack::wait_agent_online(&ctl.url, &ctx.topics, &agent).await?;
            measure(ctx, &ctl.url, &agent, iterations).await
        }
        .await;
        agent_proc.check_alive().ok();
        agent_proc.stop(STOP_GRACE).await;
        result
    }
    .await;
    ctl.proc.stop(STOP_GRACE).await;
    if let Err(error) = podman_ref::remove_agent_containers(&agent).await {
        tracing::warn!(%error, "cleanup of the agent's containers failed");
    }
    result
}

async fn measure(ctx: &Ctx, url: &str, agent: &str, iterations: usize) -> Result<Outcome> {
    let topics = &ctx.topics;
    let mut tap = Tap::open(
        url,
        topics,
        &format!("bench-tap-{}", std::process::id()),
        &[topics.everything()],
    )
    .await?;
    let (mut apply_ms, mut podman_ms, mut exit_ms) = (Vec::new(), Vec::new(), Vec::new());
    let (mut died_ms, mut raws) = (Vec::new(), Vec::new());
    let mut hops = Vec::new();
    // Iteration 0 warms up the agent, podman's storage and the page cache; it is not counted.
    for i in 0..=iterations {
        let name = format!("lat{i}");
        let file = ctx.dir.join(format!("{name}.yaml"));
        std::fs::write(&file, manifest(&name, agent)).context("writing a manifest")?;
        tap.drain();
        let file_arg = file.to_string_lossy().into_owned();
        let run = ank_ok(&ctx.bins, url, &["apply", &file_arg]).await?;
        let exited = run.started + run.elapsed;
        let state_topic = topics.workload_state(agent, &name);
        let mut seen = tap.drain();
        if !seen
            .iter()
            .any(|m| m.topic == state_topic && super::is_running(&m.payload))
        {
            // The tap is another connection than ank's: it may see Running a moment later.
            let deadline = Instant::now() + Duration::from_secs(2);
            if let Some(m) = tap
                .wait_for(deadline, |m| {
                    m.topic == state_topic && super::is_running(&m.payload)
                })
                .await
            {
                seen.push(m);
            }
        }
        let mut h = hops_of(&seen, topics, agent, &state_topic, run.started, exited);
        // Measurement 2: wait for the exit state, then ask podman when the container finished.
        let deadline = Instant::now() + Duration::from_secs(30);
        let ended = seen
            .iter()
            .find(|m| m.topic == state_topic && has_ended(&m.payload))
            .cloned();
        let ended = match ended {
            Some(m) => Some(m),
            None => {
                tap.wait_for(deadline, |m| {
                    m.topic == state_topic && has_ended(&m.payload)
                })
                .await
            }
        };
        let Some(ended) = ended else {
            bail!("{name} never reported its exit within 30 s");
        };
        let instance = state_of(&ended.payload)
            .map(|p| p.instance_id.to_string())
            .unwrap_or_default();
        let life = podman_ref::lifecycle(&podman_ref::container_of(&instance).await?).await?;
        let finished = life.finished.context("podman recorded no exit")?;
        let exit_latency = wall_ms(finished, ended.wall);
        let wall_of = |want: fn(&ExecutionState) -> bool| {
            seen.iter()
                .find(|m| {
                    m.topic == state_topic && state_of(&m.payload).is_some_and(|p| want(&p.state))
                })
                .map(|m| m.wall)
        };
        let starting = wall_of(|s| *s == ExecutionState::Pending(PendingSubstate::Starting));
        let running = wall_of(|s| matches!(s, ExecutionState::Running(_)));
        h.starting_to_created = starting.map(|t| wall_ms(t, life.created));
        h.created_to_started = Some(wall_ms(life.created, life.started));
        h.started_to_running = running.map(|t| wall_ms(life.started, t));
        ank_ok(&ctx.bins, url, &["delete", "workload", &name]).await?;
        // The reference: the same container with raw podman, and podman's own died event.
        let reference = format!("ankbench-ref-{}-{i}", std::process::id());
        let spawned = SystemTime::now();
        let podman_run = podman_ref::run_detached(&reference, &["sleep", RUN_SECONDS]).await?;
        let returned = SystemTime::now();
        let died = podman_ref::DiedWatch::start(&reference)?
            .wait(Duration::from_secs(30))
            .await;
        let raw_life = podman_ref::lifecycle(&reference).await;
        podman_ref::remove(&reference).await?;
        let raw_life = raw_life?;
        let raw_finished = raw_life
            .finished
            .context("podman recorded no exit of the reference")?;
        let died_latency = wall_ms(raw_finished, died?);
        let raw = RawSplit {
            spawn_to_created: wall_ms(spawned, raw_life.created),
            created_to_started: wall_ms(raw_life.created, raw_life.started),
            started_to_cli_exit: wall_ms(raw_life.started, returned),
        };
        tracing::info!(
            i,
            apply_ms = ms(run.elapsed),
            podman_ms = ms(podman_run),
            exit_ms = exit_latency,
            died_event_ms = died_latency,
            "apply iteration"
        );
        if i > 0 {
            apply_ms.push(ms(run.elapsed));
            podman_ms.push(ms(podman_run));
            exit_ms.push(exit_latency);
            died_ms.push(died_latency);
            hops.push(h);
            raws.push(raw);
        }
    }
    tap.close().await;
    rows(&apply_ms, &podman_ms, &exit_ms, &died_ms, hops, raws)
}

fn rows(
    apply_ms: &[f64],
    podman_ms: &[f64],
    exit_ms: &[f64],
    died_ms: &[f64],
    hops: Vec<Hops>,
    raws: Vec<RawSplit>,
) -> Result<Outcome> {
    let died = Summary::of(died_ms).context("no died-event samples")?;
    let apply = Summary::of(apply_ms).context("no apply samples")?;
    let podman = Summary::of(podman_ms).context("no podman samples")?;
    let exit = Summary::of(exit_ms).context("no exit samples")?;
    let n = apply.n;
    let ratio = apply.median / podman.median;
    let median_hop = |f: fn(&Hops) -> Option<f64>| -> Option<f64> {
        let v: Vec<f64> = hops.iter().filter_map(f).collect();
        Summary::of(&v).map(|s| s.median)
    };
    let breakdown = json!({
        "requestSent": median_hop(|h| h.request_sent),
        "snapshotPublished": median_hop(|h| h.snapshot_published),
        "responseSent": median_hop(|h| h.response_sent),
        "pendingStarting": median_hop(|h| h.pending_starting),
        "runningPublished": median_hop(|h| h.running_published),
        "ankExited": median_hop(|h| Some(h.ank_exited)),
        "agentPendingStartingToContainerCreated": median_hop(|h| h.starting_to_created),
        "containerCreatedToStarted": median_hop(|h| h.created_to_started),
        "containerStartedToRunningPublished": median_hop(|h| h.started_to_running),
    });
    let median_raw = |f: fn(&RawSplit) -> f64| -> Option<f64> {
        Summary::of(&raws.iter().map(f).collect::<Vec<_>>()).map(|s| s.median)
    };
    let raw_breakdown = json!({
        "spawnToCreated": median_raw(|r| r.spawn_to_created),
        "createdToStarted": median_raw(|r| r.created_to_started),
        "startedToCliExit": median_raw(|r| r.started_to_cli_exit),
    });
    let rows = vec![
        Row::new(
            "1",
            "`ank apply` → Running(Ok) seen by ank, median",
            apply.median,
            "ms",
            format!("n={n}; p95 {:.0} ms", apply.p95),
        )
        .against("`podman run -d`", podman.median)
        .target("≤ 1.10× podman", ratio <= 1.10),
        Row::new(
            "2",
            "container exit → state at an MQTT subscriber, median",
            exit.median,
            "ms",
            format!(
                "n={}; p95 {:.0} ms; from podman's FinishedAt",
                exit.n, exit.p95
            ),
        )
        .against("podman's own `died` event", died.median)
        .target("≤ 50 ms", exit.median <= 50.0),
        Row::new(
            "2p95",
            "container exit → state, p95",
            exit.p95,
            "ms",
            format!("n={}", exit.n),
        ),
    ];
    let details = json!({
        "applyMs": apply_ms, "podmanRunMs": podman_ms, "exitToStateMs": exit_ms,
        "apply": apply, "podmanRun": podman, "exitToState": exit,
        "applyHopsMedianMsFromAnkSpawn": breakdown,
        "applyHops": hops,
        "podmanRunMedianSplitMs": raw_breakdown, "podmanRunSplits": raws,
        "diedEventMs": died_ms, "diedEvent": died,
    });
    Ok((rows, details))
}

fn hops_of(
    seen: &[Stamped],
    topics: &ank_schemas::Topics,
    agent: &str,
    state_topic: &str,
    t0: Instant,
    exited: Instant,
) -> Hops {
    let responses = format!("{}/responses/", topics.prefix());
    let first = |pred: &dyn Fn(&Stamped) -> bool| {
        seen.iter()
            .find(|m| m.at >= t0 && pred(m))
            .map(|m| ms_between(t0, m.at))
    };
    let state_is = |m: &Stamped, want: fn(&ExecutionState) -> bool| {
        m.topic == state_topic && state_of(&m.payload).is_some_and(|p| want(&p.state))
    };
    Hops {
        request_sent: first(&|m| m.topic == topics.requests()),
        snapshot_published: first(&|m| m.topic == topics.agent_desired(agent)),
        response_sent: first(&|m| m.topic.starts_with(&responses)),
        pending_starting: first(&|m| {
            state_is(m, |s| {
                *s == ExecutionState::Pending(PendingSubstate::Starting)
            })
        }),
        running_published: first(&|m| state_is(m, |s| matches!(s, ExecutionState::Running(_)))),
        ank_exited: ms_between(t0, exited),
        ..Hops::default()
    }
}

fn has_ended(payload: &[u8]) -> bool {
    state_of(payload).is_some_and(|p| {
        matches!(
            p.state,
            ExecutionState::Succeeded(_) | ExecutionState::Failed(_)
        )
    })
}

fn manifest(name: &str, agent: &str) -> String {
    format!(
        "apiVersion: v1\nworkloads:\n  {name}:\n    agent: {agent}\n    runtime: podman\n    \
         restartPolicy: NEVER\n    runtimeConfig: |\n      image: {}\n      \
         commandArgs: [\"sleep\", \"{RUN_SECONDS}\"]\n",
        podman_ref::image()
    )
}
