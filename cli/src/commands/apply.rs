//! `ank apply`: send the workloads and configs of one or more manifests to the controller and
//! follow them until they run (or, with `-d`, until they are gone).
//!
//! The manifests are parsed here first (`ank_schemas::ParsedManifest`), so structural mistakes
//! (unknown keys, wrong tag form, missing fields) are reported with their line before anything
//! is sent; the controller then validates the rules that need the whole state.

use std::collections::BTreeMap;
use std::io::Read;

use ank_schemas::yaml::{Limits, MAX_INPUT_BYTES};
use ank_schemas::{is_valid_agent, Manifest, ParsedManifest, RequestOp, ValidationError};
use clap::Args;

use crate::change::{submit, Follow};
use crate::context::Context;
use crate::error::CliError;
use crate::ui::Ui;

/// Add or replace the workloads and configs of manifests, then wait until the workloads run.
///
/// Manifests are Ankaios manifests (apiVersion v1, or v0.1 with a warning), in YAML or JSON.
/// Only the workloads and configs named in the files change; everything else stays. With -d
/// exactly those workloads and configs are removed instead.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// Remove the manifests' workloads and configs instead of applying them
    #[arg(short = 'd', long = "delete")]
    pub delete: bool,
    /// Run every workload of the manifests on this agent (overrides their `agent` field)
    #[arg(long, value_name = "AGENT")]
    pub agent: Option<String>,
    /// Manifest files; `-` reads standard input
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<String>,
}

/// Runs `ank apply`.
pub async fn run(ui: &mut Ui, ctx: &Context, args: &ApplyArgs) -> Result<(), CliError> {
    if let Some(agent) = &args.agent {
        if !is_valid_agent(agent) {
            return Err(CliError::Usage {
                message: format!("invalid agent name '{agent}'"),
                hint: Some("agent names use only [A-Za-z0-9_-]".into()),
            });
        }
    }
    let mut parsed = Vec::new();
    for file in &args.files {
        let text = read_input(file)?;
        let manifest = parse(file, &text, args)?;
        for warning in &manifest.warnings {
            ui.warning(format!("{file}: {warning}"))?;
        }
        parsed.push((file.clone(), manifest.manifest));
    }
    let manifest = merge(parsed)?;
    if manifest.workloads.is_empty() && manifest.configs.is_empty() {
        // Ankaios prints this on stdout (scripts read it), even off a terminal.
        if !ui.quiet() {
            writeln!(ui.out(), "Nothing to update.")?;
        }
        return Ok(());
    }
    let done = if args.delete {
        "Successfully deleted the manifest(s)' workloads and configs."
    } else {
        "Successfully applied the manifest(s)."
    };
    let op = RequestOp::Apply {
        manifest,
        delete: args.delete,
    };
    submit(ui, ctx, op, Follow::Workloads, done).await
}

/// Reads a file, or standard input for `-`, up to [`MAX_INPUT_BYTES`]: a larger one is refused
/// before it is all in memory (issue 14).
pub fn read_input(file: &str) -> Result<String, CliError> {
    let what = if file == "-" {
        "standard input".to_owned()
    } else {
        file.to_owned()
    };
    let limit = MAX_INPUT_BYTES as u64;
    let mut text = String::new();
    let result = if file == "-" {
        std::io::stdin().take(limit + 1).read_to_string(&mut text)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit + 1).read_to_string(&mut text))
    };
    result.map_err(|e| {
        CliError::Other(anyhow::Error::from(e).context(format!("cannot read {what}")))
    })?;
    if text.len() > MAX_INPUT_BYTES {
        return Err(CliError::Invalid {
            context: format!("{what} is not accepted"),
            errors: vec![ValidationError::new(
                None,
                "",
                format!(
                    "it is larger than {} MiB (limit MAX_INPUT_BYTES)",
                    MAX_INPUT_BYTES / (1024 * 1024)
                ),
            )],
        });
    }
    Ok(text)
}

/// Parses one manifest. With `--agent` (or `-d`, where the agent does not matter) a workload may
/// leave out `agent`; it is filled in before parsing, which costs the line numbers of errors.
/// Every manifest is read within `ank_schemas::yaml`'s bounds (issue 14).
pub fn parse(file: &str, text: &str, args: &ApplyArgs) -> Result<ParsedManifest, CliError> {
    let fill = args.agent.clone().or_else(|| args.delete.then(String::new));
    let result = match fill {
        None => ParsedManifest::from_yaml(text),
        Some(agent) => match with_agent(text, &agent, args.agent.is_some()) {
            Some(filled) => ParsedManifest::from_json(&filled).map_err(|mut errors| {
                // The lines are those of the filled-in text, not of the file.
                errors.iter_mut().for_each(|e| e.line = None);
                errors
            }),
            None => ParsedManifest::from_yaml(text),
        },
    };
    result.map_err(|errors| CliError::Invalid {
        context: format!("{file} is not a valid manifest"),
        errors,
    })
}

/// The manifest, as JSON text, with `agent` set on every workload (`overwrite`) or on those
/// without one. `None` when the text is not a YAML mapping with workloads, or is beyond a bound
/// (the parser then says why).
fn with_agent(text: &str, agent: &str, overwrite: bool) -> Option<String> {
    let mut doc: serde_json::Value = ank_schemas::yaml::from_str(text, &Limits::DEFAULT).ok()?;
    let workloads = doc.get_mut("workloads")?.as_object_mut()?;
    for workload in workloads.values_mut() {
        if let Some(w) = workload.as_object_mut() {
            if overwrite || !w.contains_key("agent") {
                w.insert("agent".to_owned(), serde_json::Value::from(agent));
            }
        }
    }
    serde_json::to_string(&doc).ok()
}

/// One manifest from several files; a workload or config named in two files is an error.
pub fn merge(manifests: Vec<(String, Manifest)>) -> Result<Manifest, CliError> {
    let mut merged = Manifest::empty();
    let mut workload_files: BTreeMap<String, String> = BTreeMap::new();
    let mut config_files: BTreeMap<String, String> = BTreeMap::new();
    let mut errors = Vec::new();
    for (file, manifest) in manifests {
        for (name, workload) in manifest.workloads {
            if let Some(first) = workload_files.insert(name.clone(), file.clone()) {
                errors.push(ValidationError::new(
                    Some(&name),
                    "",
                    format!("multiple workloads with the same name, in {first} and {file}"),
                ));
            }
            merged.workloads.insert(name, workload);
        }
        for (key, item) in manifest.configs {
            if let Some(first) = config_files.insert(key.clone(), file.clone()) {
                errors.push(ValidationError::new(
                    None,
                    format!("configs.{key}"),
                    format!("multiple configs with the same key, in {first} and {file}"),
                ));
            }
            merged.configs.insert(key, item);
        }
    }
    if errors.is_empty() {
        Ok(merged)
    } else {
        Err(CliError::Invalid {
            context: "the manifests overlap".into(),
            errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_14_a_manifest_file_is_read_up_to_the_input_bound() {
        let dir = tempfile::tempdir().expect("dir");
        let at = dir.path().join("at.yaml");
        std::fs::write(&at, "#".repeat(MAX_INPUT_BYTES)).expect("written");
        let text = read_input(at.to_str().expect("utf-8")).expect("at the limit");
        assert_eq!(text.len(), MAX_INPUT_BYTES);
        let over = dir.path().join("over.yaml");
        std::fs::write(&over, "#".repeat(MAX_INPUT_BYTES + 1)).expect("written");
        let Err(CliError::Invalid { errors, .. }) = read_input(over.to_str().expect("utf-8"))
        else {
            panic!("one byte over the limit is refused");
        };
        assert_eq!(
            errors[0].message,
            "it is larger than 4 MiB (limit MAX_INPUT_BYTES)"
        );
    }

    fn args(agent: Option<&str>, delete: bool) -> ApplyArgs {
        ApplyArgs {
            delete,
            agent: agent.map(str::to_owned),
            files: vec![],
        }
    }

    const NO_AGENT: &str =
        "apiVersion: v1\nworkloads:\n  w:\n    runtime: podman\n    runtimeConfig: 'image: x'\n";
    const WITH_AGENT: &str = "apiVersion: v1\nworkloads:\n  w:\n    agent: a\n    runtime: podman\n    runtimeConfig: 'image: x'\n";

    #[test]
    fn the_agent_comes_from_the_file_or_from_the_flag() {
        // (text, --agent, -d, resulting agent or None for a refusal)
        let cases = [
            (WITH_AGENT, None, false, Some("a")),
            (NO_AGENT, None, false, None),
            (NO_AGENT, Some("b"), false, Some("b")),
            (WITH_AGENT, Some("b"), false, Some("b")),
            (NO_AGENT, None, true, Some("")),
            (WITH_AGENT, None, true, Some("a")),
        ];
        for (text, agent, delete, expected) in cases {
            let got = parse("f", text, &args(agent, delete))
                .ok()
                .map(|p| p.manifest.workloads["w"].agent.clone());
            assert_eq!(got.as_deref(), expected, "{agent:?} {delete} {text}");
        }
    }

    #[test]
    fn a_workload_in_two_files_is_refused() {
        let m = parse("f", WITH_AGENT, &args(None, false))
            .expect("valid")
            .manifest;
        let Err(CliError::Invalid { errors, .. }) =
            merge(vec![("a.yaml".into(), m.clone()), ("b.yaml".into(), m)])
        else {
            panic!("overlap accepted");
        };
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.contains("a.yaml and b.yaml"),
            "{}",
            errors[0]
        );
    }
}
