//! The six measurements of issue 8 and issue 17's side-by-side with Ankaios (7), one file each. Each takes the shared [`Ctx`], brings up what
//! it needs, measures its figure beside its reference in the same run, cleans up, and returns
//! its table rows plus a JSON value with the raw samples and breakdowns.

pub mod apply_latency;
pub mod idle;
pub mod peers;
pub mod scale;
pub mod startup;
pub mod throughput;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ank_schemas::{ExecutionState, Topics, WorkloadStatePayload};

use crate::processes::Binaries;
use crate::report::Row;

/// What every measurement shares.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The binaries under test.
    pub bins: Binaries,
    /// The run directory (logs, manifests, state).
    pub dir: PathBuf,
    /// The topic tree (the default prefix: every measurement has its own broker).
    pub topics: Topics,
}

/// What a measurement returns.
pub type Outcome = (Vec<Row>, serde_json::Value);

/// Milliseconds from `from` to `to` (negative if `to` is earlier).
pub fn ms_between(from: Instant, to: Instant) -> f64 {
    match to.checked_duration_since(from) {
        Some(d) => d.as_secs_f64() * 1000.0,
        None => -(from.duration_since(to).as_secs_f64() * 1000.0),
    }
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The state carried by a workload state payload; `None` for a cleared topic or garbage.
pub fn state_of(payload: &[u8]) -> Option<WorkloadStatePayload> {
    if payload.is_empty() {
        return None;
    }
    serde_json::from_slice(payload).ok()
}

/// Whether a payload says `Running`.
pub fn is_running(payload: &[u8]) -> bool {
    state_of(payload).is_some_and(|p| matches!(p.state, ExecutionState::Running(_)))
}
