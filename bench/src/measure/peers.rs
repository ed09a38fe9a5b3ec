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

impl Series {
    /// Adds a sample of system `who` (0 ankmq, 1 Ankaios, 2 podman).
    fn push(&mut self, who: usize, value: f64) {
        match who {
            0 => self.ankmq.push(value),
            1 => self.ankaios.push(value),
            _ => self.podman.push(value),
        }
    }
}

/// The reference containers' command: what [`stoppable_sleep`] gives the workloads.
const STOPPABLE: &str = "trap 'exit 0' TERM; sleep 3600 & wait";
/// Workloads of a burst (issue 17's table).
const BURST: usize = 20;
/// Workloads kept running during the idle window.
const IDLE_WORKLOADS: usize = 10;

/// The idle footprint of both stacks: (ankmq, Ankaios).
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Idle {
    window_s: f64,
    /// PSS of each 1 s sample of the window: (ankmq, Ankaios).
    pss_samples_mib: (Vec<f64>, Vec<f64>),
    cpu_percent: (f64, f64),
}

impl Idle {
    fn rows(&self) -> Vec<Row> {
        // What is kept running is the median sample; a periodic listing (`podman ps`: ankmq's
        // resync every 10 s, Ankaios' state checker every ~1.5 s) lives a few hundred ms, so it
        // shows in the largest sample, reported beside it.
        // The window takes at least one sample; NaN (never met) if it somehow took none.
        let of = |samples: &[f64]| {
            Summary::of(samples).map_or((f64::NAN, f64::NAN), |s| (s.median, s.max))
        };
        let (ours, theirs) = (of(&self.pss_samples_mib.0), of(&self.pss_samples_mib.1));
        let what = format!(
            "{} workloads each; samples every 1 s over {:.0} s; every process of the stack and its children (`podman events`, periodic `ps`), not conmon",
            IDLE_WORKLOADS, self.window_s
        );
        vec![
            Row::new(
                "7h",
                "idle PSS of everything kept running (median sample)",
                ours.0,
                "MiB",
                what.clone(),
            )
            .against("Ankaios 1.0.1", theirs.0)
            .target("≤ 12 MiB", ours.0 <= 12.0),
            Row::new(
                "7h peak",
                "idle PSS, largest sample (a periodic `podman ps` included)",
                ours.1,
                "MiB",
                what,
            )
            .against("Ankaios 1.0.1", theirs.1),
            Row::new(
                "7i",
                "idle CPU, all processes",
                self.cpu_percent.0,
                "%",
                format!("of one core over {:.0} s", self.window_s),
            )
            .against("Ankaios 1.0.1", self.cpu_percent.1)
            .target(
                "≤ 1/3 of Ankaios",
                self.cpu_percent.0 <= self.cpu_percent.1 / 3.0,
            ),
        ]
    }
}

/// `pids` and all their descendants.
fn tree(pids: &[u32]) -> Vec<u32> {
    let mut all = pids.to_vec();
    let mut i = 0;
    while i < all.len() {
        all.extend(
            crate::procfs::children_of(all[i])
                .into_iter()
                .map(|(p, _)| p),
        );
        i += 1;
    }
    all
}

/// `stem0`, `stem1`, … (`n` names).
fn names(stem: &str, n: usize) -> Vec<String> {
    (0..n).map(|j| format!("{stem}x{j}")).collect()
}

/// A manifest of `names` on `agent`, each sleeping `args[0]` seconds (3600 without args) and
/// ending at once on SIGTERM: a shell as PID 1 ignores SIGTERM without a trap, and every stop
/// would then wait out podman's 10 s grace, in both systems alike.
fn many(api: &str, names: &[String], agent: &str, args: &[&str]) -> String {
    let seconds = args.first().copied().unwrap_or("3600");
    let mut text = format!("apiVersion: {api}\nworkloads:\n");
    for name in names {
        text.push_str(&format!(
            "  {name}:\n    agent: {agent}\n    runtime: podman\n    restartPolicy: NEVER\n    \
             runtimeConfig: |\n      image: {}\n      commandArgs: [\"sh\", \"-c\", \"{}\"]\n",
            podman_ref::image(),
            stoppable_sleep(seconds)
        ));
    }
    text
}

/// `sleep <seconds>` that ends on SIGTERM.
fn stoppable_sleep(seconds: &str) -> String {
    format!("trap 'exit 0' TERM; sleep {seconds} & wait")
}

/// Runs the futures concurrently and returns their outputs in order.
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    // Polled together in one future (no `futures` crate in the workspace): awaiting them one by
    // one would serialise the podman calls the reference runs in parallel.
    let mut pending: Vec<_> = futures.map(|f| Some(Box::pin(f))).collect();
    let mut done: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (slot, out) in pending.iter_mut().zip(done.iter_mut()) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter().flatten().collect()
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
                pids: (ctl.proc.pid(), agent.pid(), server.pid(), their_agent.pid()),
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
    /// (controller, agent, Ankaios server, Ankaios agent).
    pids: (u32, u32, u32, u32),
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
                apply.push(who, a);
                exit.push(who, e);
                if who < 2 {
                    get.push(who, g);
                    request.push(who, r);
                }
            }
        }
        tap.close().await;
        let (burst, update) = (self.bursts(samples).await?, self.updates(samples).await?);
        let idle = self.idle(samples).await?;
        let mut rows = vec![
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
        rows.push(
            row(
                "7f",
                "burst: 20 workloads → all Running (CLI wall)",
                &burst,
                Some("20 parallel `podman run -d`"),
                "≤ 1.05× parallel `run -d`",
                |_| false,
            )
            .map(|r| {
                let met = r.value <= 1.05 * median(&burst.podman);
                Row {
                    met: Some(met),
                    ..r
                }
            })?,
        );
        rows.push(
            row(
                "7g",
                "rolling update of one workload → new one Running (CLI wall)",
                &update,
                Some("`podman rm -f` + `run -d`"),
                "below Ankaios",
                |_| false,
            )
            .map(|r| {
                let met = r.value < median(&update.ankaios);
                Row {
                    met: Some(met),
                    ..r
                }
            })?,
        );
        rows.extend(idle.rows());
        Ok((
            rows,
            json!({ "applyMs": apply, "exitToStateMs": exit, "getMs": get, "requestMs": request,
                    "burstMs": burst, "updateMs": update, "idle": idle }),
        ))
    }

    /// 20 workloads in one manifest until the CLI says all run, against 20 `podman run -d` at
    /// once; then everything is deleted again.
    async fn bursts(&self, samples: usize) -> Result<Series> {
        let rounds = samples.div_ceil(2).max(2);
        let mut series = Series::default();
        for i in 0..=rounds {
            for turn in 0..3 {
                let who = (i + turn) % 3;
                let t = match who {
                    0 => {
                        let names = names(&format!("bm{i}"), BURST);
                        let file =
                            self.write(&format!("bm{i}"), &many("v1", &names, self.ours, &[]))?;
                        let t = ms(ank_ok(&self.ctx.bins, self.url, &["apply", &file])
                            .await?
                            .elapsed);
                        let mut args = vec!["delete", "workload"];
                        args.extend(names.iter().map(String::as_str));
                        ank_ok(&self.ctx.bins, self.url, &args).await?;
                        t
                    }
                    1 => {
                        let names = names(&format!("bk{i}"), BURST);
                        let file =
                            self.write(&format!("bk{i}"), &many("v1", &names, self.theirs, &[]))?;
                        let t = ms(self
                            .ankaios
                            .ank_ok(self.ankaios_url, &["apply", &file])
                            .await?
                            .0);
                        let mut args = vec!["delete", "workload"];
                        args.extend(names.iter().map(String::as_str));
                        self.ankaios.ank_ok(self.ankaios_url, &args).await?;
                        t
                    }
                    _ => {
                        let refs: Vec<String> = (0..BURST)
                            .map(|j| format!("ankbench-ref-{}-b{i}-{j}", std::process::id()))
                            .collect();
                        let started = Instant::now();
                        let runs = refs
                            .iter()
                            .map(|r| podman_ref::run_detached(r, &["sh", "-c", STOPPABLE]));
                        let results = join_all(runs).await;
                        let t = ms(started.elapsed());
                        for r in &refs {
                            podman_ref::remove(r).await?;
                        }
                        for result in results {
                            result?;
                        }
                        t
                    }
                };
                tracing::info!(i, who, burst_ms = t, "peer burst");
                if i > 0 {
                    series.push(who, t);
                }
            }
        }
        Ok(series)
    }

    /// One running workload gets a new command: the CLI's wall time until the new instance runs,
    /// against `podman rm -f -t 0` of the old container and `podman run -d` of the new one.
    async fn updates(&self, samples: usize) -> Result<Series> {
        let rounds = samples.div_ceil(2).max(2);
        let mut series = Series::default();
        for i in 0..=rounds {
            for turn in 0..3 {
                let who = (i + turn) % 3;
                let t = match who {
                    0 | 1 => {
                        let (agent, name) = if who == 0 {
                            (self.ours, format!("um{i}"))
                        } else {
                            (self.theirs, format!("uk{i}"))
                        };
                        let first = self.write(
                            &format!("{name}-a"),
                            &many("v1", std::slice::from_ref(&name), agent, &["3600"]),
                        )?;
                        let second = self.write(
                            &format!("{name}-b"),
                            &many("v1", std::slice::from_ref(&name), agent, &["3601"]),
                        )?;
                        let t = if who == 0 {
                            ank_ok(&self.ctx.bins, self.url, &["apply", &first]).await?;
                            let t = ms(ank_ok(&self.ctx.bins, self.url, &["apply", &second])
                                .await?
                                .elapsed);
                            ank_ok(&self.ctx.bins, self.url, &["delete", "workload", &name])
                                .await?;
                            t
                        } else {
                            self.ankaios
                                .ank_ok(self.ankaios_url, &["apply", &first])
                                .await?;
                            let t = ms(self
                                .ankaios
                                .ank_ok(self.ankaios_url, &["apply", &second])
                                .await?
                                .0);
                            self.ankaios
                                .ank_ok(self.ankaios_url, &["delete", "workload", &name])
                                .await?;
                            t
                        };
                        t
                    }
                    _ => {
                        let reference = format!("ankbench-ref-{}-u{i}", std::process::id());
                        podman_ref::run_detached(&reference, &["sh", "-c", STOPPABLE]).await?;
                        let started = Instant::now();
                        podman_ref::remove(&reference).await?;
                        podman_ref::run_detached(&reference, &["sh", "-c", STOPPABLE]).await?;
                        let t = ms(started.elapsed());
                        podman_ref::remove(&reference).await?;
                        t
                    }
                };
                tracing::info!(i, who, update_ms = t, "peer update");
                if i > 0 {
                    series.push(who, t);
                }
            }
        }
        Ok(series)
    }

    /// Both stacks with 10 running workloads each, idle: PSS of every process they keep running
    /// (server or controller with its broker, agent, and their children such as `podman events`),
    /// the largest of samples every second, and their CPU over the window.
    async fn idle(&self, samples: usize) -> Result<Idle> {
        let window = Duration::from_secs(if samples <= 5 { 10 } else { 30 });
        let ours: Vec<String> = names("im", IDLE_WORKLOADS);
        let theirs: Vec<String> = names("ik", IDLE_WORKLOADS);
        let file = self.write("im", &many("v1", &ours, self.ours, &["3600"]))?;
        ank_ok(&self.ctx.bins, self.url, &["apply", &file]).await?;
        let file = self.write("ik", &many("v1", &theirs, self.theirs, &["3600"]))?;
        self.ankaios
            .ank_ok(self.ankaios_url, &["apply", &file])
            .await?;
        // Start-up work (first resync, Ankaios' first polls) settles before the window.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let ours_pids = [self.pids.0, self.pids.1];
        let theirs_pids = [self.pids.2, self.pids.3];
        // Each process with its ended children, plus its living descendants: a `podman ps` that
        // ends during the window moves into its parent's figure instead of vanishing.
        let cpu = |pids: &[u32]| -> f64 {
            tree(pids)
                .iter()
                .filter_map(|p| crate::procfs::cpu_seconds_with_ended_children(*p).ok())
                .sum()
        };
        let pss = |pids: &[u32]| -> f64 {
            tree(pids)
                .iter()
                .filter_map(|p| crate::procfs::pss_kib(*p).ok())
                .sum::<u64>() as f64
                / 1024.0
        };
        let (cpu0m, cpu0k) = (cpu(&ours_pids), cpu(&theirs_pids));
        let started = Instant::now();
        let (mut pss_m, mut pss_k) = (Vec::new(), Vec::new());
        while started.elapsed() < window {
            pss_m.push(pss(&ours_pids));
            pss_k.push(pss(&theirs_pids));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let secs = started.elapsed().as_secs_f64();
        let idle = Idle {
            window_s: secs,
            pss_samples_mib: (pss_m, pss_k),
            cpu_percent: (
                100.0 * (cpu(&ours_pids) - cpu0m) / secs,
                100.0 * (cpu(&theirs_pids) - cpu0k) / secs,
            ),
        };
        let mut args = vec!["delete", "workload"];
        args.extend(ours.iter().map(String::as_str));
        ank_ok(&self.ctx.bins, self.url, &args).await?;
        let mut args = vec!["delete", "workload"];
        args.extend(theirs.iter().map(String::as_str));
        self.ankaios.ank_ok(self.ankaios_url, &args).await?;
        Ok(idle)
    }

    fn write(&self, stem: &str, text: &str) -> Result<String> {
        let file = self.ctx.dir.join(format!("{stem}.yaml"));
        std::fs::write(&file, text).context("writing a manifest")?;
        Ok(file.to_string_lossy().into_owned())
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
