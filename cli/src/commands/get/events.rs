//! `ank get events`: a stream of changes of the CompleteState, computed from the retained topics
//! this command watches (see `state_diff.rs`), so it needs nothing from the controller.

use ank_bus::WatchEvent;
use ank_schemas::FieldMask;
use clap::Args;

use crate::commands::get::state::{read_masks, selected_state};
use crate::context::Context;
use crate::error::CliError;
use crate::outage::Outage;
use crate::output::document::{write_stream_item, Format};
use crate::state_diff::{event_for_masks, Event};
use crate::state_view::View;
use crate::ui::Ui;

/// Stream changes of the complete state until Ctrl+C.
///
/// Each event has a timestamp (RFC 3339), the addedFields, updatedFields and removedFields (as
/// field masks; empty lists are left out) and completeState holding only the changed parts.
/// YAML events are separated by `---`; JSON is one object per line. Field masks narrow what is
/// watched, with `*` for any one segment.
#[derive(Debug, Clone, Args)]
pub struct GetEventsArgs {
    /// Output format
    #[arg(short, long, value_enum, default_value_t = Format::Yaml)]
    pub output: Format,
    /// Also print the current state first, as an event adding every field
    #[arg(short = 'c', long)]
    pub include_current_state: bool,
    /// Field masks selecting the parts of the state to watch (all of it without any)
    #[arg(value_name = "MASK")]
    pub masks: Vec<String>,
}

/// Runs `ank get events`.
pub async fn run(ui: &mut Ui, ctx: &Context, args: &GetEventsArgs) -> Result<(), CliError> {
    let masks = read_masks(&args.masks)?;
    let (mut view, mut watch) = ctx.watch_view().await?;
    let mut last = selected_state(&view, &masks)?;
    if args.include_current_state {
        let empty = serde_json::Value::Object(Default::default());
        if let Some(e) = change(&empty, &last, &masks) {
            write_stream_item(ui.out(), &e, args.output)?;
        }
    }
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let mut outage = Outage::default();
    loop {
        tokio::select! {
            message = watch.next() => match message {
                Some(WatchEvent::Snapshot(messages)) => {
                    view = View::from_messages(&ctx.topics, &messages);
                    outage.snapshot(ui)?;
                }
                Some(WatchEvent::Update(message)) => { view.apply(&ctx.topics, &message); }
                Some(WatchEvent::Disconnected { reason }) => {
                    outage.lost(ui, &reason)?;
                    continue;
                }
                None => return Err(ctx.bus_error("lost the broker while streaming", ank_bus::BusError::Closed)),
            },
            _ = &mut interrupt => break,
        }
        let now = selected_state(&view, &masks)?;
        if let Some(e) = change(&last, &now, &masks) {
            write_stream_item(ui.out(), &e, args.output)?;
        }
        last = now;
    }
    watch.close().await;
    Ok(())
}

/// The event between two states narrowed by `masks`, with the paths Ankaios' server reports to a
/// subscriber of those masks (§8.4: an added subtree above a mask is named down to the mask).
fn change(last: &serde_json::Value, now: &serde_json::Value, masks: &[FieldMask]) -> Option<Event> {
    event_for_masks(last, now, masks, timestamp())
}

fn timestamp() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn issue_16_an_added_workload_is_named_down_to_the_mask_as_ankaios_server_does() {
        let masks = vec![FieldMask::read("desiredState.workloads.nginx.agent").expect("mask")];
        let before = json!({});
        let after = json!({"desiredState": {"workloads": {"nginx": {"agent": "agent_A"}}}});
        let e = change(&before, &after, &masks).expect("a change");
        assert_eq!(e.added_fields, vec!["desiredState.workloads.nginx.agent"]);
        assert_eq!(e.complete_state, after);
        assert!(
            change(&after, &after, &masks).is_none(),
            "no change, no event"
        );
    }
}
