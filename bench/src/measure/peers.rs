//! Measurement 7 (issue 17): ankmq beside Eclipse Ankaios 1.0.1 and raw podman, sample by
//! sample in the same run, for the figures of the table: apply → Running, container exit
//! → state, one `ank get workloads`, one no-op request, server spawn → first answer.
//!
//! Ankaios' binaries come from `--ankaios DIR` (scripts/bench.sh passes
//! `../shared/peers/ankaios-1.0.1` beside the main checkout); without them the measurement is
//! skipped with a note in the table, never failed. Both stacks run at once on the same podman and
//! image, their agents named `bench<pid>m` and `bench<pid>k` so neither adopts the other's
//! containers. Each sample runs ankmq, Ankaios and podman in a rotating order, so a burst of load
//! from the other engineers on the machine hits all three alike.
//!
//! Ankaios has no bus to tap: its state is read with its own `ank get workloads`, polled back
//! to back (one poll costs a few ms), so its exit figure is its CLI's view, as a user sees it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use serde_json::json;
use tokio::process::Command;

use super::{ms, ms_between, state_of, Ctx, Outcome};
use crate::podman_ref;
use crate::processes::{ank_ok, run_ank, wait_listening, Proc};
use crate::report::Row;
use crate::stack::{self, BrokerChoice, STOP_GRACE};
use crate::stats::Summary;
use crate::tap::Tap;

/// How long the measured workload runs before it exits.
const RUN_SECONDS: &str = "2";
/// How long any one wait may take before the sample fails.
const WAIT: Duration = Duration::from_secs(30);

/// The Ankaios 1.0.1 binaries.
#[derive(Debug, Clone)]
pub struct Ankaios {
    dir: PathBuf,
}

impl Ankaios {
    /// The binaries in `dir`, or `None` (with the reason) when one is missing.
    pub fn locate(dir: &Path) -> std::result::Result<Ankaios, String> {
        for name in ["ank-server", "ank-agent", "ank"] {
            if !dir.join(name).is_file() {
                return Err(format!("{} is missing", dir.join(name).display()));
            }
        }
        Ok(Ankaios {
            dir: dir.to_owned(),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs `ank --insecure -s <url> <args>` to completion; (elapsed, success, output).
    async fn ank(&self, url: &str, args: &[&str]) -> Result<(Duration, bool, String)> {
        let started = Instant::now();
        let out = Command::new(self.path("ank"))
            .args(["--insecure", "--server-url", url])
            .args(args)
            .env("HOME", "/nonexistent")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .context("running Ankaios' ank")?;
        let elapsed = started.elapsed();
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok((elapsed, out.status.success(), text))
    }

    async fn ank_ok(&self, url: &str, args: &[&str]) -> Result<(Duration, String)> {
        let (elapsed, ok, text) = self.ank(url, args).await?;
        if !ok {
            bail!("Ankaios `ank {}` failed: {}", args.join(" "), text.trim());
        }
        Ok((elapsed, text))
    }

    fn start_server(&self, dir: &Path, label: &str) -> Result<(Proc, String, u16)> {
        let port = ank_system_tests::mosquitto::free_port()?;
        let proc = Proc::spawn(
            &self.path("ank-server"),
            &[
                "--insecure".into(),
                "--address".into(),
                format!("127.0.0.1:{port}"),
            ],
            &dir.join(format!("{label}-ankaios-server.log")),
        )?;
        Ok((proc, format!("http://127.0.0.1:{port}"), port))
    }

    fn start_agent(&self, dir: &Path, name: &str, url: &str) -> Result<Proc> {
        let run = dir.join(format!("{name}-run"));
        std::fs::create_dir_all(&run).with_context(|| format!("creating {}", run.display()))?;
        Proc::spawn(
            &self.path("ank-agent"),
            &[
                "--insecure".into(),
                "--name".into(),
                name.into(),
                "--server-url".into(),
                url.into(),
                "--run-folder".into(),
                run.to_string_lossy().into_owned(),
            ],
            &dir.join(format!("{name}.log")),
        )
    }
}

/// The samples of one figure, per system.
#[derive(Debug, Default, serde::Serialize)]
struct Series {
    ankmq: Vec<f64>,
    ankaios: Vec<f64>,
    podman: Vec<f64>,
}

/// Runs measurement 7 with `samples` samples per figure (plus one warm-up), or a note row when
/// Ankaios is absent.
pub async fn run(ctx: &Ctx, ankaios_dir: &Path, samples: usize) -> Result<Outcome> {
    let ankaios = match Ankaios::locate(ankaios_dir) {
        Ok(ankaios) => ankaios,
        Err(why) => {
            let note = format!(
                "skipped: Ankaios 1.0.1 not found ({why}); pass --ankaios DIR (see docs/performance.md)"
            );
            return Ok((
                vec![Row::new("7", "ankmq beside Ankaios", 0.0, "", note.clone())],
                json!({ "skipped": note }),
            ));
        }
    };
    let mut figures = serde_json::Map::new();
    let mut rows = Vec::new();
    let (spawn_rows, spawn) = spawn_to_answer(ctx, &ankaios, samples).await?;
    rows.extend(spawn_rows);
    figures.insert("spawnToFirstAnswer".into(), spawn);
    let (steady_rows, steady) = steady(ctx, &ankaios, samples).await?;
    rows.extend(steady_rows);
    figures.insert("steady".into(), steady);
    Ok((rows, serde_json::Value::Object(figures)))
}

/// Server spawn → first answered `ank get workloads`, both systems, fresh state every time.
async fn spawn_to_answer(
    ctx: &Ctx,
    ankaios: &Ankaios,
    samples: usize,
) -> Result<(Vec<Row>, serde_json::Value)> {
    let mut series = Series::default();
    for i in 0..=samples {
        for turn in 0..2 {
            let ours = (i + turn) % 2 == 0;
            let t = if ours {
                let mut ctl = stack::start_controller(
                    &ctx.bins,
                    &ctx.dir,
                    &format!("peer-spawn{i}"),
                    &BrokerChoice::Embedded,
                    true,
                    &[],
                )?;
                let t0 = ctl.proc.started;
                let got = loop {
                    if run_ank(&ctx.bins, &ctl.url, &["get", "workloads"])
                        .await?
                        .ok
                    {
                        break Ok(ms_between(t0, Instant::now()));
                    }
                    if t0.elapsed() > WAIT {
                        break Err(anyhow::anyhow!("ankmq did not answer within {WAIT:?}"));
                    }
                };
                ctl.proc.check_alive().ok();
                ctl.proc.stop(STOP_GRACE).await;
                got?
            } else {
                let (proc, url, _) = ankaios.start_server(&ctx.dir, &format!("spawn{i}"))?;
                let t0 = proc.started;
                let got = loop {
                    if ankaios.ank(&url, &["get", "workloads"]).await?.1 {
                        break Ok(ms_between(t0, Instant::now()));
                    }
                    if t0.elapsed() > WAIT {
                        break Err(anyhow::anyhow!("Ankaios did not answer within {WAIT:?}"));
                    }
                };
                proc.stop(STOP_GRACE).await;
                got?
            };
            if i > 0 {
                if ours {
                    series.ankmq.push(t);
                } else {
                    series.ankaios.push(t);
                }
            }
        }
    }
    let row = row(
        "7e",
        "server spawn → first `ank get workloads` answered",
        &series,
        None,
        "≤ 10 ms",
        |m| m <= 10.0,
    )?;
    Ok((vec![row], json!(series)))
}

/// Both stacks up: apply → Running, exit → state, one get, one no-op request, per sample.
async fn steady(
    ctx: &Ctx,
    ankaios: &Ankaios,
    samples: usize,
) -> Result<(Vec<Row>, serde_json::Value)> {
    let pid = std::process::id();
    let ours = format!("bench{pid}m");
    let theirs = format!("bench{pid}k");
    let mut ctl = stack::start_controller(
        &ctx.bins,
        &ctx.dir,
        "peer",
        &BrokerChoice::Embedded,
        true,
        &[],
    )?;
    let (server, url, port) = ankaios.start_server(&ctx.dir, "peer")?;
    let result = async {
        stack::wait_controller_online(&mut ctl, &ctx.topics).await?;
        wait_listening(port, Duration::from_secs(20)).await?;
        let agent = stack::start_agent(&ctx.bins, &ctx.dir, &ours, &ctl.url)?;
        let their_agent = ankaios.start_agent(&ctx.dir, &theirs, &url)?;
        let result = async {
            stack::wait_agent_online(&ctl.url, &ctx.topics, &ours).await?;
            wait_ankaios_agent(ankaios, &url, &theirs).await?;
            let env = Env {
                ctx,
                ankaios,
                url: &ctl.url,
                ankaios_url: &url,
                ours: &ours,
                theirs: &theirs,
            };
            env.samples(samples).await
        }
        .await;
        agent.stop(STOP_GRACE).await;
        their_agent.stop(STOP_GRACE).await;
        result
    }
    .await;
    ctl.proc.stop(STOP_GRACE).await;
    server.stop(STOP_GRACE).await;
    for agent in [&ours, &theirs] {
        if let Err(error) = remove_containers_of(agent).await {
            tracing::warn!(%error, "cleanup of {agent}'s containers failed");
        }
    }
    result
}

async fn wait_ankaios_agent(ankaios: &Ankaios, url: &str, agent: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, ok, text) = ankaios.ank(url, &["get", "agents"]).await?;
        if ok
            && text
                .lines()
                .any(|l| l.split_whitespace().next() == Some(agent))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the Ankaios agent {agent} did not connect within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Ankaios names containers `<workload>.<hash>.<agent>` and labels none with ankmq's labels:
/// remove them by name.
async fn remove_containers_of(agent: &str) -> Result<()> {
    let names = podman_ref::names_matching(&format!("\\.{agent}$")).await?;
    for name in names {
        podman_ref::remove(&name).await?;
    }
    podman_ref::remove_agent_containers(agent).await
}

struct Env<'a> {
    ctx: &'a Ctx,
    ankaios: &'a Ankaios,
    url: &'a str,
    ankaios_url: &'a str,
    ours: &'a str,
    theirs: &'a str,
}

impl Env<'_> {
    async fn samples(&self, samples: usize) -> Result<(Vec<Row>, serde_json::Value)> {
        let (mut apply, mut exit, mut get, mut request) = (
            Series::default(),
            Series::default(),
            Series::default(),
            Series::default(),
        );
        let topics = &self.ctx.topics;
        let mut tap = Tap::open(
            self.url,
            topics,
            &format!("bench-peer-tap-{}", std::process::id()),
            &[topics.all_workload_states()],
        )
        .await?;
        for i in 0..=samples {
            for turn in 0..3 {
                let who = (i + turn) % 3;
                let (a, e) = match who {
                    0 => self.ankmq_sample(i, &mut tap).await?,
                    1 => self.ankaios_sample(i).await?,
                    _ => self.podman_sample(i).await?,
                };
                let (g, r) = match who {
                    0 => (
                        ms(ank_ok(&self.ctx.bins, self.url, &["get", "workloads"])
                            .await?
                            .elapsed),
                        ms(ank_ok(
                            &self.ctx.bins,
                            self.url,
                            &["delete", "workload", &format!("nosuch{i}")],
                        )
                        .await?
                        .elapsed),
                    ),
                    1 => (
                        ms(self
                            .ankaios
                            .ank_ok(self.ankaios_url, &["get", "workloads"])
                            .await?
                            .0),
                        ms(self
                            .ankaios
                            .ank_ok(
                                self.ankaios_url,
                                &["delete", "workload", &format!("nosuch{i}")],
                            )
                            .await?
                            .0),
                    ),
                    _ => (f64::NAN, f64::NAN),
                };
                tracing::info!(
                    i,
                    who,
                    apply_ms = a,
                    exit_ms = e,
                    get_ms = g,
                    request_ms = r,
                    "peer sample"
                );
                if i == 0 {
                    continue;
                }
                let push = |s: &mut Series, v: f64| match who {
                    0 => s.ankmq.push(v),
                    1 => s.ankaios.push(v),
                    _ => s.podman.push(v),
                };
                push(&mut apply, a);
                push(&mut exit, e);
                if who < 2 {
                    push(&mut get, g);
                    push(&mut request, r);
                }
            }
        }
        tap.close().await;
        let rows = vec![
            row(
                "7a",
                "apply one workload → Running (CLI wall)",
                &apply,
                Some("`podman run -d`"),
                "≤ 1.10× podman, below Ankaios",
                |_| false,
            )
            .map(|r| {
                let podman = median(&apply.podman);
                let ankaios = median(&apply.ankaios);
                let met = r.value <= 1.10 * podman && r.value < ankaios;
                Row {
                    met: Some(met),
                    ..r
                }
            })?,
            row(
                "7b",
                "container exit → state seen (ankmq: MQTT subscriber; Ankaios: its `ank get`)",
                &exit,
                Some("podman's `died` event"),
                "≤ 50 ms",
                |m| m <= 50.0,
            )?,
            row(
                "7c",
                "one `ank get workloads`, system up",
                &get,
                None,
                "≤ 5 ms",
                |m| m <= 5.0,
            )?,
            row(
                "7d",
                "one request answered (`ank delete workload` of none)",
                &request,
                None,
                "≤ 8 ms",
                |m| m <= 8.0,
            )?,
        ];
        Ok((
            rows,
            json!({ "applyMs": apply, "exitToStateMs": exit, "getMs": get, "requestMs": request }),
        ))
    }

    /// ankmq: `ank apply` (waits for Running), then the exit state at a subscriber minus
    /// podman's FinishedAt, then `ank delete` (waits until removed).
    async fn ankmq_sample(&self, i: usize, tap: &mut Tap) -> Result<(f64, f64)> {
        let name = format!("pm{i}");
        let file = self.ctx.dir.join(format!("{name}.yaml"));
        std::fs::write(&file, manifest("v1", &name, self.ours)).context("writing a manifest")?;
        tap.drain();
        let run = ank_ok(
            &self.ctx.bins,
            self.url,
            &["apply", &file.to_string_lossy()],
        )
        .await?;
        let topic = self.ctx.topics.workload_state(self.ours, &name);
        let ended = tap
            .wait_for(Instant::now() + WAIT, |m| {
                m.topic == topic
                    && state_of(&m.payload).is_some_and(|p| {
                        matches!(
                            p.state,
                            ank_schemas::ExecutionState::Succeeded(_)
                                | ank_schemas::ExecutionState::Failed(_)
                        )
                    })
            })
            .await
            .with_context(|| format!("{name} never reported its exit"))?;
        let instance = state_of(&ended.payload)
            .map(|p| p.instance_id.to_string())
            .unwrap_or_default();
        let life = podman_ref::lifecycle(&podman_ref::container_of(&instance).await?).await?;
        let finished = life.finished.context("podman recorded no exit")?;
        let exit = wall_ms(finished, ended.wall);
        ank_ok(&self.ctx.bins, self.url, &["delete", "workload", &name]).await?;
        Ok((ms(run.elapsed), exit))
    }

    /// Ankaios: its `ank apply` (waits for Running), its `ank get workloads` polled until the
    /// exit shows, minus podman's FinishedAt, then its `ank delete` (waits until removed).
    async fn ankaios_sample(&self, i: usize) -> Result<(f64, f64)> {
        let name = format!("pk{i}");
        let file = self.ctx.dir.join(format!("{name}.yaml"));
        std::fs::write(&file, manifest("v1", &name, self.theirs)).context("writing a manifest")?;
        let (apply, _) = self
            .ankaios
            .ank_ok(self.ankaios_url, &["apply", &file.to_string_lossy()])
            .await?;
        let deadline = Instant::now() + WAIT;
        let seen = loop {
            let (_, ok, text) = self
                .ankaios
                .ank(self.ankaios_url, &["get", "workloads", &name])
                .await?;
            let ended = ok
                && text.lines().any(|l| {
                    l.split_whitespace().next() == Some(name.as_str())
                        && (l.contains("Succeeded(") || l.contains("Failed("))
                });
            if ended {
                break SystemTime::now();
            }
            if Instant::now() > deadline {
                bail!("Ankaios never showed the exit of {name}");
            }
        };
        let container = podman_ref::names_matching(&format!("^{name}\\..*\\.{}$", self.theirs))
            .await?
            .into_iter()
            .next()
            .with_context(|| format!("no container of Ankaios' {name}"))?;
        let life = podman_ref::lifecycle(&container).await?;
        let finished = life.finished.context("podman recorded no exit")?;
        self.ankaios
            .ank_ok(self.ankaios_url, &["delete", "workload", &name])
            .await?;
        Ok((ms(apply), wall_ms(finished, seen)))
    }

    /// The reference: `podman run -d`, and podman's own `died` event minus its FinishedAt.
    async fn podman_sample(&self, i: usize) -> Result<(f64, f64)> {
        let reference = format!("ankbench-ref-{}-peer{i}", std::process::id());
        let run = podman_ref::run_detached(&reference, &["sleep", RUN_SECONDS]).await?;
        let died = podman_ref::DiedWatch::start(&reference)?.wait(WAIT).await;
        let life = podman_ref::lifecycle(&reference).await;
        podman_ref::remove(&reference).await?;
        let finished = life?.finished.context("podman recorded no exit")?;
        Ok((ms(run), wall_ms(finished, died?)))
    }
}

fn manifest(api: &str, name: &str, agent: &str) -> String {
    format!(
        "apiVersion: {api}\nworkloads:\n  {name}:\n    agent: {agent}\n    runtime: podman\n    \
         restartPolicy: NEVER\n    runtimeConfig: |\n      image: {}\n      \
         commandArgs: [\"sleep\", \"{RUN_SECONDS}\"]\n",
        podman_ref::image()
    )
}

fn wall_ms(from: SystemTime, to: SystemTime) -> f64 {
    match to.duration_since(from) {
        Ok(d) => ms(d),
        Err(e) => -ms(e.duration()),
    }
}

fn median(samples: &[f64]) -> f64 {
    Summary::of(samples).map_or(f64::NAN, |s| s.median)
}

/// One row: ankmq's median against Ankaios', with both p90s and podman's median (if measured)
/// in the note.
fn row(
    id: &str,
    metric: &str,
    series: &Series,
    podman: Option<&str>,
    target: &str,
    met: impl Fn(f64) -> bool,
) -> Result<Row> {
    let ours = Summary::of(&series.ankmq).context("no ankmq samples")?;
    let theirs = Summary::of(&series.ankaios).context("no Ankaios samples")?;
    let mut note = format!(
        "n={}; p90 {:.1} ms, Ankaios p90 {:.1} ms",
        ours.n, ours.p90, theirs.p90
    );
    if let (Some(what), Some(raw)) = (podman, Summary::of(&series.podman)) {
        note.push_str(&format!(
            "; {what} median {:.1} ms, p90 {:.1} ms: ankmq {:.2}×, Ankaios {:.2}×",
            raw.median,
            raw.p90,
            ours.median / raw.median,
            theirs.median / raw.median
        ));
    }
    Ok(Row::new(id, metric, ours.median, "ms", note)
        .against("Ankaios 1.0.1", theirs.median)
        .target(target, met(ours.median)))
}
