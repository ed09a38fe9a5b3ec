//! `ank get state`: the CompleteState (Ankaios §1.7), from the retained topics.

use ank_schemas::{select, FieldMask};
use clap::Args;

use crate::context::Context;
use crate::error::CliError;
use crate::output::complete_state::shape;
use crate::output::document::{write_document, Format};
use crate::state_view::View;
use crate::ui::Ui;

/// Print the complete state: desiredState, workloadStates and the connected agents.
///
/// Field masks narrow the output, e.g. `desiredState.workloads.nginx` or
/// `workloadStates.*.nginx`; `*` matches any one segment, a mask matching nothing is skipped.
/// A mask under desiredState also returns its apiVersion, so the output can be fed back into
/// `ank set state`. Works while the controller is down.
#[derive(Debug, Clone, Args)]
pub struct GetStateArgs {
    /// Output format
    #[arg(short, long, value_enum, default_value_t = Format::Yaml)]
    pub output: Format,
    /// Field masks selecting parts of the state (all of it without any)
    #[arg(value_name = "MASK")]
    pub masks: Vec<String>,
}

/// Runs `ank get state`.
pub async fn run(ui: &mut Ui, ctx: &Context, args: &GetStateArgs) -> Result<(), CliError> {
    let masks = read_masks(&args.masks)?;
    let view = ctx.read_view().await?;
    let state = selected_state(&view, &masks)?;
    write_state(ui.out(), &state, args.output)?;
    Ok(())
}

/// Writes a CompleteState as Ankaios 1.0.1's `ank get state` does (issue 16 point 4): shaped
/// (`output/complete_state.rs`), and YAML followed by an empty line (Ankaios prints the
/// document with `println!`), JSON by a newline.
pub fn write_state<W: std::io::Write + ?Sized>(
    out: &mut W,
    state: &serde_json::Value,
    format: Format,
) -> std::io::Result<()> {
    write_document(out, &shape(state), format)?;
    if format == Format::Yaml {
        writeln!(out)?;
    }
    Ok(())
}

/// Parses read masks (wildcards allowed); a malformed one is a usage error.
pub fn read_masks(masks: &[String]) -> Result<Vec<FieldMask>, CliError> {
    masks
        .iter()
        .map(|m| {
            FieldMask::read(m).map_err(|e| CliError::Usage {
                message: e.to_string(),
                hint: Some("a mask is dot-separated, e.g. desiredState.workloads.nginx".into()),
            })
        })
        .collect()
}

/// The CompleteState of `view` as JSON, narrowed by `masks`.
pub fn selected_state(view: &View, masks: &[FieldMask]) -> Result<serde_json::Value, CliError> {
    let state = serde_json::to_value(view.complete_state())
        .map_err(|e| CliError::Other(anyhow::Error::from(e).context("encoding the state")))?;
    Ok(select(&state, masks))
}
