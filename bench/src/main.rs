//! `ank-bench`: the benchmark harness of issue 8. It runs the real binaries (release build) on
//! this machine and measures each figure beside its reference in the same run (raw podman,
//! Mosquitto), because the machines are shared and noisy. It prints a Markdown table and writes
//! JSON; docs/performance.md holds the latest table and what dominates each miss.
//!
//! Run it with `scripts/bench.sh [--quick] [--json FILE]`. It never asserts a time: a missed
//! target is a row marked **missed**, not a failure. It fails (exit 1) only when a measurement
//! could not be made.
//!
//! Layout: `measure/` (one file per measurement), `stack.rs` (starting the binaries under test),
//! `processes.rs` (process guards, `ank` runs), `tap.rs` (timestamping subscriber),
//! `sim_agent.rs` (simulated agents), `podman_ref.rs` (raw podman reference), `procfs.rs`
//! (PSS, CPU, VmHWM), `stats.rs`, `machine.rs`, `report.rs`.

mod machine;
mod measure;
mod podman_ref;
mod processes;
mod procfs;
mod report;
mod sim_agent;
mod stack;
mod stats;
mod tap;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

use crate::measure::{Ctx, Outcome};
use crate::report::Report;

/// Measure ankmq against its references: apply latency (vs podman), state latency, start-up,
/// idle footprint, scale (1,000 simulated agents), broker throughput (vs Mosquitto).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Shorter run: 5 samples instead of 10, a 10 s idle window instead of 60 s, 200 simulated
    /// agents instead of 1,000, one throughput round of 5,000 messages. Marked in the output.
    #[arg(long)]
    quick: bool,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Only these measurements, comma-separated (1 and 2 always run together).
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    only: Option<Vec<u8>>,
    /// Directory of the release binaries [default: beside this harness].
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// Simulated agents for measurement 5 [default: 1000, or 200 with --quick].
    #[arg(long)]
    agents: Option<usize>,
    /// Workloads per simulated agent for measurement 5 [default: 10]. The rollout is applied in
    /// parts of at most 2,000 workloads (one request must fit the bus's 1 MiB), all at once.
    #[arg(long, default_value_t = 10)]
    per_agent: usize,
    /// Keep the run directory (logs, manifests, state) instead of removing it.
    #[arg(long)]
    keep: bool,
    /// Directory of the Eclipse Ankaios 1.0.1 binaries for measurement 7 (`ank-server`,
    /// `ank-agent`, `ank`); without them 7 is skipped with a note.
    #[arg(
        long,
        value_name = "DIR",
        env = "ANK_BENCH_ANKAIOS",
        default_value = "../shared/peers/ankaios-1.0.1"
    )]
    ankaios: PathBuf,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "ank_bench=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs the selected measurements; `Ok(false)` when one of them could not be made.
async fn run(args: Args) -> Result<bool> {
    let bins = processes::Binaries::locate(args.bin_dir.clone())?;
    ank_system_tests::podman::containers_conf()?;
    let dir = stack::run_dir()?;
    let ctx = Ctx {
        bins,
        dir: dir.clone(),
        topics: ank_schemas::Topics::default(),
    };
    let machine = machine::Machine::describe(podman_ref::version().await);
    let mut report = Report {
        date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        quick: args.quick,
        machine,
        rows: Vec::new(),
        details: serde_json::Map::new(),
        errors: Vec::new(),
    };
    eprintln!("ank-bench: run directory {}", dir.display());
    let wanted = |n: u8| args.only.as_ref().is_none_or(|only| only.contains(&n));
    let samples = if args.quick { 5 } else { 10 };
    // Broker throughput first: it needs no podman and the machine is calmest at the start.
    if wanted(6) {
        let (messages, rounds) = if args.quick { (5_000, 1) } else { (20_000, 3) };
        step(
            &mut report,
            "6 broker throughput",
            measure::throughput::run(&ctx, messages, rounds),
        )
        .await;
    }
    if wanted(3) {
        step(
            &mut report,
            "3 start-up",
            measure::startup::run(&ctx, samples),
        )
        .await;
    }
    if wanted(1) || wanted(2) {
        step(
            &mut report,
            "1+2 apply and exit latency",
            measure::apply_latency::run(&ctx, samples),
        )
        .await;
    }
    if wanted(7) {
        step(
            &mut report,
            "7 beside Ankaios 1.0.1 and podman",
            measure::peers::run(&ctx, &args.ankaios, samples),
        )
        .await;
    }
    if wanted(4) {
        let window = Duration::from_secs(if args.quick { 10 } else { 60 });
        step(
            &mut report,
            "4 idle footprint",
            measure::idle::run(&ctx, window),
        )
        .await;
    }
    if wanted(5) {
        let scale = measure::scale::Scale {
            agents: args.agents.unwrap_or(if args.quick { 200 } else { 1000 }),
            workloads: args.per_agent,
        };
        step(&mut report, "5 scale", measure::scale::run(&ctx, scale)).await;
    }
    report.machine.load_at_end = machine::load_average();
    let mut stdout = std::io::stdout();
    if args.quick {
        println!("QUICK RUN (--quick): fewer samples, 10 s idle window, fewer simulated agents.\n");
    }
    report
        .write_table(&mut stdout)
        .context("writing the table")?;
    println!(
        "\n{} · {} CPUs ({}), {} MiB, kernel {}, {}, {} · load {:.2} → {:.2}",
        report.date,
        report.machine.nproc,
        report.machine.cpu_model,
        report.machine.memory_mib,
        report.machine.kernel,
        report.machine.podman,
        report.machine.mosquitto,
        report.machine.load_at_start,
        report.machine.load_at_end
    );
    if let Some(path) = &args.json {
        report.write_json(path)?;
        eprintln!("ank-bench: wrote {}", path.display());
    }
    if args.keep || !report.errors.is_empty() {
        eprintln!("ank-bench: logs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(report.errors.is_empty())
}

/// Runs one measurement; a failure becomes an error entry in the report instead of ending the run.
async fn step(report: &mut Report, what: &str, measurement: impl Future<Output = Result<Outcome>>) {
    eprintln!("ank-bench: measuring {what}");
    match measurement.await {
        Ok((rows, details)) => {
            report.rows.extend(rows);
            report.details.insert(what.to_owned(), details);
        }
        Err(error) => {
            eprintln!("ank-bench: {what} failed: {error:#}");
            report.errors.push((what.to_owned(), format!("{error:#}")));
        }
    }
}
