//! Measurement 3: from spawning `ank-controller` (embedded broker, fresh state directory) to the
//! first `ank get workloads` that succeeds, with `ank` retried back to back.
//!
//! The figure includes one whole `ank` run (process start, connect, retained read). To split it,
//! the same `ank get workloads` is also timed against a controller that is already up.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::json;

use super::{ms, ms_between, Ctx, Outcome};
use crate::processes::{ank_ok, run_ank};
use crate::report::Row;
use crate::stack::{self, BrokerChoice, STOP_GRACE};
use crate::stats::Summary;

/// Runs measurement 3 `iterations` times (plus one warm-up).
pub async fn run(ctx: &Ctx, iterations: usize) -> Result<Outcome> {
    let (mut total, mut attempts, mut last_ank) = (Vec::new(), Vec::new(), Vec::new());
    let mut ready_ank = Vec::new();
    for i in 0..=iterations {
        let label = format!("startup{i}");
        let mut ctl = stack::start_controller(
            &ctx.bins,
            &ctx.dir,
            &label,
            &BrokerChoice::Embedded,
            true,
            &[],
        )?;
        let t0 = ctl.proc.started;
        let deadline = t0 + Duration::from_secs(20);
        let mut tries = 0;
        let outcome = loop {
            tries += 1;
            let run = run_ank(&ctx.bins, &ctl.url, &["get", "workloads"]).await?;
            if run.ok {
                break Ok((ms_between(t0, run.started + run.elapsed), ms(run.elapsed)));
            }
            if Instant::now() > deadline {
                break Err(anyhow::anyhow!(
                    "no successful `ank get workloads` within 20 s: {}",
                    run.output.trim()
                ));
            }
            ctl.proc.check_alive()?;
        };
        // The CLI alone, against the controller that is up now.
        let warm = ank_ok(&ctx.bins, &ctl.url, &["get", "workloads"]).await;
        ctl.proc.stop(STOP_GRACE).await;
        let (t, ank) = outcome?;
        tracing::info!(i, total_ms = t, tries, "startup iteration");
        if i > 0 {
            total.push(t);
            attempts.push(f64::from(tries));
            last_ank.push(ank);
            ready_ank.push(ms(warm?.elapsed));
        }
    }
    let Some(s) = Summary::of(&total) else {
        bail!("no startup samples");
    };
    let ready = Summary::of(&ready_ank);
    let cli = ready.as_ref().map(|r| r.median).unwrap_or(0.0);
    let rows = vec![Row::new(
        "3",
        "controller start → first successful `ank get workloads`, median",
        s.median,
        "ms",
        format!(
            "n={}; p95 {:.0} ms; of which one `ank get workloads` against a ready controller: {cli:.0} ms",
            s.n, s.p95
        ),
    )
    .target("≤ 30 ms", s.median <= 30.0)];
    let details = json!({
        "startToFirstGetMs": total, "summary": s,
        "ankAttempts": attempts, "successfulAnkRunMs": last_ank,
        "ankGetWorkloadsOnReadyControllerMs": ready_ank, "ankOnReadyController": ready,
    });
    Ok((rows, details))
}
