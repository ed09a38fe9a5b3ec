//! `ank get workloads`: one row per workload instance, from the retained topics; `--watch`
//! redraws on every change.

use ank_bus::WatchEvent;
use ank_schemas::StateFilter;
use clap::Args;

use crate::context::Context;
use crate::error::CliError;
use crate::outage::Outage;
use crate::output::rows::WorkloadRow;
use crate::output::table;
use crate::state_view::View;
use crate::ui::Ui;

/// List workload instances: WORKLOAD NAME, AGENT, RUNTIME, EXECUTION STATE, ADDITIONAL INFO.
///
/// Read from the broker's retained topics, so it works while the controller is down. Workloads
/// of an agent that is not online show as AgentDisconnected.
#[derive(Debug, Clone, Args)]
pub struct GetWorkloadsArgs {
    /// Only workloads of this agent
    #[arg(short, long)]
    pub agent: Option<String>,
    /// Only workloads in this state: running, Running(Ok) or failed(execfailed) (any case)
    #[arg(short, long, value_parser = parse_state_filter)]
    pub state: Option<StateFilter>,
    /// Keep the table up to date until Ctrl+C
    #[arg(short, long)]
    pub watch: bool,
    /// Only these workloads
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

fn parse_state_filter(text: &str) -> Result<StateFilter, String> {
    text.parse()
        .map_err(|e: ank_schemas::UnknownState| e.to_string())
}

/// Runs `ank get workloads`.
pub async fn run(ui: &mut Ui, ctx: &Context, args: &GetWorkloadsArgs) -> Result<(), CliError> {
    if !args.watch {
        let view = ctx.read_view().await?;
        let width = ui.width();
        table::render(ui.out(), &rows(&view, args), width)?;
        return Ok(());
    }
    watch(ui, ctx, args).await
}

/// The rows `args` select from `view`, sorted by name, then agent.
pub fn rows(view: &View, args: &GetWorkloadsArgs) -> Vec<WorkloadRow> {
    view.instances()
        .iter()
        .filter(|i| args.agent.as_ref().is_none_or(|a| &i.id.agent == a))
        .filter(|i| args.state.is_none_or(|f| f.matches(&i.state)))
        .filter(|i| args.names.is_empty() || args.names.contains(&i.id.workload))
        .map(WorkloadRow::new)
        .collect()
}

async fn watch(ui: &mut Ui, ctx: &Context, args: &GetWorkloadsArgs) -> Result<(), CliError> {
    let (mut view, mut watch) = ctx.watch_view().await?;
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let mut outage = Outage::default();
    let mut shown = None;
    let mut drawn_lines = 0;
    loop {
        let now = rows(&view, args);
        if shown.as_ref() != Some(&now) {
            let mut buffer = Vec::new();
            table::render(&mut buffer, &now, ui.width())?;
            let terminal = ui.stdout_is_terminal();
            let out = ui.out();
            if terminal {
                // Redraw in place.
                if drawn_lines > 0 {
                    write!(out, "\x1b[{drawn_lines}A\x1b[J")?;
                }
                drawn_lines = buffer.iter().filter(|b| **b == b'\n').count();
            } else if shown.is_some() {
                // Off a terminal, each new table follows the last after a blank line.
                writeln!(out)?;
            }
            out.write_all(&buffer)?;
            out.flush()?;
            shown = Some(now);
        }
        tokio::select! {
            event = watch.next() => match event {
                Some(WatchEvent::Snapshot(messages)) => {
                    view = View::from_messages(&ctx.topics, &messages);
                    outage.snapshot(ui)?;
                }
                Some(WatchEvent::Update(message)) => { view.apply(&ctx.topics, &message); }
                Some(WatchEvent::Disconnected { reason }) => {
                    outage.lost(ui, &reason)?;
                    continue;
                }
                None => return Err(ctx.bus_error("lost the broker while watching", ank_bus::BusError::Closed)),
            },
            _ = &mut interrupt => break,
        }
    }
    watch.close().await;
    Ok(())
}
