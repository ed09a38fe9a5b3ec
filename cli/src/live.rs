//! Follows a change until [`wait::outcome`] says it is over, and draws the progress: a live
//! table with a spinner on a terminal, plain lines (one per change of state) otherwise, on
//! stderr. When stdout is not a terminal it also carries what Ankaios prints there: the spinner
//! table after every update, the last one showing the final states (issue 16 point 4);
//! otherwise (a terminal, or `-q`) stdout gets only the final table.
//!
//! Waiting is driven by retained-state updates from a [`Watch`] opened *before* the request was
//! sent, so no state published between the response and the first look is missed (Ankaios
//! §5.3 item 5). There are no fixed sleeps: the only timer is the spinner's tick.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use ank_bus::{Watch, WatchEvent};
use tokio::time::Instant;

use crate::context::Context;
use crate::error::CliError;
use crate::outage::Outage;
use crate::output::rows::WorkloadRow;
use crate::output::table::{self, Row};
use crate::state_view::View;
use crate::ui::Ui;
use crate::wait::{outcome, Change, Expected, Progress, WaitOutcome};

const SPINNER: [char; 4] = ['|', '/', '-', '\\'];
const TICK: Duration = Duration::from_millis(120);

/// Waits until every expected instance is final, drawing progress. `Ok` when all went well,
/// [`CliError::WorkloadsFailed`] when an added instance failed, [`CliError::Timeout`] after
/// `--timeout`, [`CliError::Interrupted`] on Ctrl+C.
pub async fn follow(
    ui: &mut Ui,
    ctx: &Context,
    mut view: View,
    watch: &mut Watch,
    expected: &Expected,
) -> Result<(), CliError> {
    let mut drawer = Drawer::new(ui.live_progress(), ui.ankaios_stdout());
    let mut runtimes = KnownRuntimes::from(&view);
    // Settings bound every duration (cli::MAX_DURATION); checked all the same, so no setting can
    // make the clock overflow.
    let deadline = ctx
        .settings
        .timeout
        .and_then(|t| Some((Instant::now().checked_add(t)?, t)));
    let mut outage = Outage::default();
    let mut tick = tokio::time::interval(TICK);
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    loop {
        runtimes.learn(&view);
        let now = outcome(expected, &view);
        drawer.draw(ui, &runtimes, now.progress())?;
        match now {
            WaitOutcome::Waiting(_) => {}
            WaitOutcome::Succeeded(progress) => {
                drawer.clear(ui)?;
                return print_final(ui, &runtimes, &progress);
            }
            WaitOutcome::Failed(progress) => {
                drawer.clear(ui)?;
                print_final(ui, &runtimes, &progress)?;
                let failed = progress
                    .iter()
                    .filter(|p| p.failed())
                    .map(|p| format!("{} ({})", p.id.workload, p.state))
                    .collect();
                return Err(CliError::WorkloadsFailed(failed));
            }
        }
        let sleep_until = deadline.map(|(at, _)| at);
        tokio::select! {
            event = watch.next() => {
                let Some(event) = event else {
                    drawer.clear(ui)?;
                    return Err(ctx.bus_error("lost the broker while waiting", ank_bus::BusError::Closed));
                };
                // Apply the whole burst before recomputing: a rollout of thousands of workloads
                // sends thousands of updates, and recomputing after each one is quadratic.
                let mut next = Some(event);
                while let Some(event) = next {
                    match event {
                        WatchEvent::Snapshot(messages) => {
                            view = View::from_messages(&ctx.topics, &messages);
                            outage.snapshot(ui)?;
                        }
                        WatchEvent::Update(message) => { view.apply(&ctx.topics, &message); }
                        WatchEvent::Disconnected { reason } => {
                            drawer.clear(ui)?;
                            outage.lost(ui, &reason)?;
                        }
                    }
                    next = watch.try_next();
                }
            },
            _ = tick.tick(), if drawer.live => drawer.spin(),
            _ = sleep_or_never(sleep_until) => {
                drawer.clear(ui)?;
                let after = deadline.map(|(_, t)| t).unwrap_or_default();
                return Err(CliError::Timeout { what: "the workloads did not reach their final states".into(), after });
            }
            _ = &mut interrupt => {
                drawer.clear(ui)?;
                return Err(CliError::Interrupted);
            }
        }
    }
}

async fn sleep_or_never(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The runtime of every workload seen while following. A deleted workload's desired entry is
/// gone by the time it is final, so its row keeps the runtime it had before.
#[derive(Debug, Default)]
pub struct KnownRuntimes(BTreeMap<(String, String), String>);

impl KnownRuntimes {
    /// Remembers the runtimes `view` knows; what it no longer knows is kept.
    pub fn learn(&mut self, view: &View) {
        for instance in view.instances() {
            if !instance.runtime.is_empty() {
                self.0
                    .insert((instance.id.workload, instance.id.agent), instance.runtime);
            }
        }
    }
}

impl From<&View> for KnownRuntimes {
    fn from(view: &View) -> Self {
        let mut known = Self::default();
        known.learn(view);
        known
    }
}

/// Rows of the followed instances, with the runtimes seen while following.
pub fn progress_rows(runtimes: &KnownRuntimes, progress: &[Progress]) -> Vec<WorkloadRow> {
    progress
        .iter()
        .map(|p| {
            let runtime = runtimes
                .0
                .get(&(p.id.workload.clone(), p.id.agent.clone()))
                .cloned()
                .unwrap_or_default();
            WorkloadRow::new(&crate::state_view::Instance {
                id: p.id.clone(),
                runtime,
                state: p.state,
                additional_info: p.additional_info.clone(),
            })
        })
        .collect()
}

fn print_final(
    ui: &mut Ui,
    runtimes: &KnownRuntimes,
    progress: &[Progress],
) -> Result<(), CliError> {
    if ui.ankaios_stdout() {
        // The last table on stdout already shows the final states; Ankaios ends with an empty
        // line.
        writeln!(ui.out())?;
        return Ok(());
    }
    let rows = progress_rows(runtimes, progress);
    let width = ui.width();
    table::render(ui.out(), &rows, width)?;
    Ok(())
}

/// The table Ankaios draws while waiting: a spinner frame (or a blank once the row is final) in
/// front of each row, the header indented by the two columns it takes.
fn spinner_table(
    runtimes: &KnownRuntimes,
    progress: &[Progress],
    frame: usize,
    width: Option<usize>,
) -> std::io::Result<String> {
    let rows = progress_rows(runtimes, progress);
    let mut cells: Vec<Vec<String>> = rows.iter().map(Row::cells).collect();
    for (row, p) in cells.iter_mut().zip(progress) {
        let mark = if p.done { ' ' } else { SPINNER[frame] };
        row[0] = format!("{mark} {}", row[0]);
    }
    // The header gets the two columns the marks take, inside the cell so the columns align.
    let mut headers: Vec<String> = WorkloadRow::headers()
        .iter()
        .map(|h| (*h).to_owned())
        .collect();
    if let Some(first) = headers.first_mut() {
        first.insert_str(0, "  ");
    }
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut buffer = Vec::new();
    table::render_cells(&mut buffer, &headers, &cells, width, "")?;
    Ok(String::from_utf8_lossy(&buffer).into_owned())
}

/// The table Ankaios 1.0.1 prints on stdout off a terminal after an empty line: the spinner
/// frame (or a blank once the row is final) in front of the EXECUTION STATE cell, that header
/// shifted by the two columns it takes, every cell padded (captured in cli/tests/cli/
/// ankaios_format.rs).
pub fn ankaios_table(runtimes: &KnownRuntimes, progress: &[Progress]) -> std::io::Result<String> {
    let rows = progress_rows(runtimes, progress);
    let mut cells: Vec<Vec<String>> = rows.iter().map(Row::cells).collect();
    for (row, p) in cells.iter_mut().zip(progress) {
        let mark = if p.done { ' ' } else { SPINNER[0] };
        if let Some(state) = row.get_mut(STATE_COLUMN) {
            *state = format!("{mark} {state}");
        }
    }
    let mut headers: Vec<String> = WorkloadRow::headers()
        .iter()
        .map(|h| (*h).to_owned())
        .collect();
    if let Some(state) = headers.get_mut(STATE_COLUMN) {
        state.insert_str(0, "  ");
    }
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut buffer = b"\n".to_vec();
    table::render_cells(&mut buffer, &headers, &cells, None, "")?;
    Ok(String::from_utf8_lossy(&buffer).into_owned())
}

/// The EXECUTION STATE column of a [`WorkloadRow`].
const STATE_COLUMN: usize = 3;

/// Draws progress: in place on a terminal, as lines per change otherwise; and, for scripts,
/// Ankaios' table on stdout after every change.
struct Drawer {
    live: bool,
    /// Print Ankaios' table on stdout after every change ([`Ui::ankaios_stdout`]).
    tables: bool,
    /// What the last table on stdout showed.
    last_table: Option<Vec<(String, String)>>,
    frame: usize,
    drawn_lines: usize,
    last: Option<Vec<(String, String, Change)>>,
    printed: BTreeMap<String, (String, String)>,
}

impl Drawer {
    fn new(live: bool, tables: bool) -> Self {
        Self {
            live,
            tables,
            last_table: None,
            frame: 0,
            drawn_lines: 0,
            last: None,
            printed: BTreeMap::new(),
        }
    }

    fn spin(&mut self) {
        self.frame = (self.frame + 1) % SPINNER.len();
        // Force a redraw with the next frame.
        self.last = None;
    }

    fn draw(
        &mut self,
        ui: &mut Ui,
        runtimes: &KnownRuntimes,
        progress: &[Progress],
    ) -> Result<(), CliError> {
        if self.tables {
            let key: Vec<_> = progress
                .iter()
                .map(|p| {
                    (
                        p.id.to_string(),
                        format!("{}{}", p.state, p.additional_info),
                    )
                })
                .collect();
            if self.last_table.as_ref() != Some(&key) {
                // No spinner ticks off a terminal: the first frame marks what is pending.
                let text = ankaios_table(runtimes, progress)?;
                ui.out().write_all(text.as_bytes())?;
                ui.out().flush()?;
                self.last_table = Some(key);
            }
        }
        if self.live {
            let key: Vec<_> = progress
                .iter()
                .map(|p| {
                    (
                        p.id.to_string(),
                        format!("{}{}", p.state, p.additional_info),
                        p.change,
                    )
                })
                .collect();
            if self.last.as_ref() == Some(&key) {
                return Ok(());
            }
            self.last = Some(key);
            let text = spinner_table(runtimes, progress, self.frame, ui.width())?;
            let err = ui.err();
            self.erase(err)?;
            err.write_all(text.as_bytes())?;
            err.flush()?;
            self.drawn_lines = text.lines().count();
        } else {
            for p in progress {
                let now = (p.state.to_string(), p.additional_info.clone());
                let key = p.id.to_string();
                if self.printed.get(&key) == Some(&now) {
                    continue;
                }
                let info = if p.additional_info.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", p.additional_info.trim())
                };
                ui.status(format!(
                    "{} on {}: {}{info}",
                    p.id.workload,
                    agent_name(&p.id.agent),
                    p.state
                ))?;
                self.printed.insert(key, now);
            }
        }
        Ok(())
    }

    fn erase(&mut self, err: &mut dyn Write) -> std::io::Result<()> {
        if self.drawn_lines > 0 {
            write!(err, "\x1b[{}A\x1b[J", self.drawn_lines)?;
            self.drawn_lines = 0;
        }
        Ok(())
    }

    fn clear(&mut self, ui: &mut Ui) -> std::io::Result<()> {
        if self.live {
            self.erase(ui.err())?;
            ui.err().flush()?;
        }
        Ok(())
    }
}

fn agent_name(agent: &str) -> &str {
    if agent.is_empty() {
        "no agent"
    } else {
        agent
    }
}
