//! The JSON Schemas of the manifest and of every payload, generated from the types with
//! schemars, so that dashboards, other languages and editors can check what they read and write.
//!
//! The generated files are committed in `schemas/json/`; a test fails when they drift from the
//! code. Regenerate them with:
//!
//! ```text
//! cargo run -p ank-schemas --example regenerate-json-schemas
//! ```
//!
//! No I/O here: the example writes the files.

use schemars::{schema_for, Schema};

use crate::manifest::Manifest;
use crate::payloads::{
    AgentEvent, AgentSnapshot, AgentStatus, AgentTags, CompleteState, ControllerStatus,
    DesiredStatePayload, LogEvent, LogRequest, Request, Response, WorkloadStatePayload,
};

/// The command that rewrites the committed schema files.
pub const REGENERATE_COMMAND: &str = "cargo run -p ank-schemas --example regenerate-json-schemas";

/// One generated schema file.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaFile {
    /// The file name inside `schemas/json/`.
    pub file_name: &'static str,
    /// The schema.
    pub schema: serde_json::Value,
}

impl SchemaFile {
    /// The file's text: pretty JSON with sorted keys and a final newline, so that it is stable
    /// whatever serde_json features other crates enable.
    pub fn text(&self) -> String {
        let sorted = sort_keys(&self.schema);
        let mut text = serde_json::to_string_pretty(&sorted).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Every schema file: `manifest.schema.json` and one per payload.
pub fn all() -> Vec<SchemaFile> {
    fn file(file_name: &'static str, schema: Schema) -> SchemaFile {
        SchemaFile {
            file_name,
            schema: schema.to_value(),
        }
    }
    vec![
        file("manifest.schema.json", schema_for!(Manifest)),
        file(
            "controller-status.schema.json",
            schema_for!(ControllerStatus),
        ),
        file("agent-status.schema.json", schema_for!(AgentStatus)),
        file("agent-tags.schema.json", schema_for!(AgentTags)),
        file("agent-event.schema.json", schema_for!(AgentEvent)),
        file(
            "desired-state.schema.json",
            schema_for!(DesiredStatePayload),
        ),
        file("agent-snapshot.schema.json", schema_for!(AgentSnapshot)),
        file(
            "workload-state.schema.json",
            schema_for!(WorkloadStatePayload),
        ),
        file("request.schema.json", schema_for!(Request)),
        file("response.schema.json", schema_for!(Response)),
        file("complete-state.schema.json", schema_for!(CompleteState)),
        file("log-request.schema.json", schema_for!(LogRequest)),
        file("log-event.schema.json", schema_for!(LogEvent)),
    ]
}

fn sort_keys(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sort_keys(v)))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(sort_keys).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn committed_json_schemas_match_the_code() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("json");
        let mut drift = Vec::new();
        let expected = all();
        for file in &expected {
            let path = dir.join(file.file_name);
            let committed = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
            if committed.as_ref() != Some(&file.schema) {
                drift.push(file.file_name.to_owned());
            }
        }
        let names: Vec<&str> = expected.iter().map(|f| f.file_name).collect();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".schema.json") && !names.contains(&name.as_str()) {
                    drift.push(format!("{name} (stale)"));
                }
            }
        }
        assert!(
            drift.is_empty(),
            "the JSON schemas in schemas/json/ differ from the code: {}\nregenerate them with:\n  {REGENERATE_COMMAND}",
            drift.join(", ")
        );
    }

    #[test]
    fn the_manifest_schema_refuses_unknown_workload_keys() {
        let text = all()[0].text();
        assert!(text.contains("\"additionalProperties\": false"), "{text}");
    }
}
