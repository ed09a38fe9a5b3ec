//! `ank set state`: replace the parts of the desired state named by update masks with those of a
//! CompleteState-shaped file.

use ank_schemas::yaml::Limits;
use ank_schemas::{FieldMask, RequestOp};
use clap::{Args, Subcommand};

use crate::change::{submit, Follow};
use crate::commands::apply::read_input;
use crate::context::Context;
use crate::error::CliError;
use crate::ui::Ui;

/// `ank set` subcommands.
#[derive(Debug, Subcommand)]
// Variants carry no doc: the doc of each Args struct is its help (clap prefers a variant doc).
#[allow(missing_docs)]
pub enum SetCommand {
    State(SetStateArgs),
}

/// Replace parts of the desired state with those of a file, then wait for the workloads.
///
/// FILE is YAML shaped like `ank get state` output (desiredState: …). For each mask, e.g.
/// desiredState.workloads.nginx: if FILE has that path it replaces the current one; if not,
/// the path is removed. Masks take no wildcards here.
#[derive(Debug, Clone, Args)]
pub struct SetStateArgs {
    /// Update masks, e.g. desiredState.workloads.nginx
    #[arg(value_name = "MASK", required = true)]
    pub masks: Vec<String>,
    /// The state file; `-` reads standard input
    #[arg(value_name = "FILE")]
    pub file: String,
}

/// Runs an `ank set` subcommand.
pub async fn run(ui: &mut Ui, ctx: &Context, command: &SetCommand) -> Result<(), CliError> {
    let SetCommand::State(args) = command;
    let masks = update_masks(&args.masks)?;
    let text = read_input(&args.file)?;
    let state = parse_state(&args.file, &text)?;
    let op = RequestOp::SetState { masks, state };
    submit(
        ui,
        ctx,
        op,
        Follow::Workloads,
        "Successfully set the state.",
    )
    .await
}

/// Checks update masks (no wildcards) and returns them as text for the request.
pub fn update_masks(masks: &[String]) -> Result<Vec<String>, CliError> {
    masks
        .iter()
        .map(|m| {
            FieldMask::update(m)
                .map(|mask| mask.as_str().to_owned())
                .map_err(|e| CliError::Usage {
                    message: e.to_string(),
                    hint: Some("name each path, e.g. desiredState.workloads.nginx".into()),
                })
        })
        .collect()
}

/// The file as a JSON tree; it must be a mapping.
pub fn parse_state(file: &str, text: &str) -> Result<serde_json::Value, CliError> {
    let invalid_at = |message: String, line: Option<usize>| CliError::Invalid {
        context: format!("{file} is not a state file"),
        errors: vec![ank_schemas::ValidationError::new(None, "", message).at_line(line)],
    };
    let invalid = |message: String| invalid_at(message, None);
    // Within the bounds of every YAML input (issue 14); the error names the bound or the line.
    let json: serde_json::Value = ank_schemas::yaml::from_str(text, &Limits::DEFAULT)
        .map_err(|e| invalid_at(e.to_string(), e.line()))?;
    if !json.is_object() && !json.is_null() {
        return Err(invalid(
            "expected a mapping such as `desiredState: …`".into(),
        ));
    }
    Ok(if json.is_null() {
        serde_json::Value::Object(Default::default())
    } else {
        json
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_masks_refuse_wildcards_and_empty_segments() {
        assert!(update_masks(&["desiredState.workloads.a".into()]).is_ok());
        for bad in ["desiredState.workloads.*", "desiredState..a"] {
            assert!(update_masks(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn what_get_state_writes_as_yaml_set_state_reads_back_the_same() {
        // The writer (serde_norway) leaves YAML 1.1 booleans and timestamps unquoted; the reader
        // (serde-saphyr, YAML 1.2 core schema) must keep them strings.
        let state = serde_json::json!({"desiredState": {"configs": {
            "a": "yes", "b": "on", "c": "n", "d": "2025-05-01T10:00:09.000Z", "e": "null",
            "f": "0x10", "g": "", "h": "line\nbreak\n", "i": "'quoted'", "j": "1.5"
        }}});
        let mut yaml = Vec::new();
        crate::output::document::write_document(
            &mut yaml,
            &state,
            crate::output::document::Format::Yaml,
        )
        .expect("written");
        let text = String::from_utf8(yaml).expect("utf-8");
        assert_eq!(parse_state("f", &text).expect("read back"), state, "{text}");
    }

    #[test]
    fn a_state_file_is_a_mapping_and_an_empty_one_is_empty() {
        assert!(parse_state("f", "desiredState: {}").is_ok());
        assert_eq!(parse_state("f", "").ok(), Some(serde_json::json!({})));
        assert!(parse_state("f", "- a").is_err());
        assert!(parse_state("f", "a: [").is_err());
    }
}
