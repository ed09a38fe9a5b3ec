//! Renders the templated fields of workloads with their config items (Ankaios §1.5).
//!
//! Handlebars in strict mode (a missing variable is an error) without HTML escaping. Only
//! `agent`, `runtimeConfig` and the files' `data`/`binaryData` are templates, and only for a
//! workload with a non-empty `configs` map: without one, a literal `{{` stays as written.
//!
//! `{{> indent content=alias.path}}` inserts a multi-line value and indents every line after the
//! first to the column where the partial stands in the template, so embedded YAML stays valid
//! both on a line of its own and after a key (`key: {{> indent content=x}}`). One trailing
//! newline of the value is dropped (the template's own line end follows), and empty lines get
//! no trailing spaces. The column is counted in the template text, so a partial placed after
//! another expression on the same line is indented by the template's column, not the output's.
//! It is implemented by rewriting the partial into a helper call that carries its column; the
//! handlebars partial mechanism indents only partials that stand alone on their line.

use std::collections::BTreeMap;

use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderError,
    RenderErrorReason,
};

use crate::instance_id::InstanceId;
use crate::manifest::{ConfigItem, FileContent, Manifest, WorkloadFile, WorkloadSpec};
use crate::validation::ValidationError;

/// A workload after rendering: templates filled in, `configs` emptied, its instance id computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedWorkload {
    /// The id of the instance this rendering describes.
    pub instance_id: InstanceId,
    /// The rendered workload; its `configs` is empty.
    pub spec: WorkloadSpec,
}

/// The helper the `indent` partial is rewritten into.
const INDENT_HELPER: &str = "ank_indent";

/// Renders every workload of `manifest`, or returns every rendering error.
pub fn render(
    manifest: &Manifest,
) -> Result<BTreeMap<String, RenderedWorkload>, Vec<ValidationError>> {
    let mut rendered = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, spec) in &manifest.workloads {
        match render_workload(name, spec, &manifest.configs) {
            Ok(workload) => {
                rendered.insert(name.clone(), workload);
            }
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(rendered)
    } else {
        Err(errors)
    }
}

/// Renders one workload named `name` with the top-level `configs`.
pub fn render_workload(
    name: &str,
    spec: &WorkloadSpec,
    configs: &BTreeMap<String, ConfigItem>,
) -> Result<RenderedWorkload, Vec<ValidationError>> {
    let mut out = spec.clone();
    if !spec.configs.is_empty() {
        let mut errors = Vec::new();
        let mut context = serde_json::Map::new();
        for (alias, key) in &spec.configs {
            match configs.get(key) {
                Some(item) => {
                    context.insert(alias.clone(), item.to_json());
                }
                None => errors.push(ValidationError::new(
                    Some(name),
                    format!("configs.{alias}"),
                    format!("workload '{name}' references config key '{key}' that does not exist"),
                )),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let engine = engine();
        let context = serde_json::Value::Object(context);
        let mut field = |field: String, template: &str| -> String {
            match render_text(&engine, template, &context) {
                Ok(text) => text,
                Err(message) => {
                    errors.push(ValidationError::new(Some(name), field, message));
                    String::new()
                }
            }
        };
        out.agent = field("agent".into(), &spec.agent);
        out.runtime_config = field("runtimeConfig".into(), &spec.runtime_config);
        out.files = spec
            .files
            .iter()
            .enumerate()
            .map(|(i, file)| {
                let path = format!("files[{i}].{}", file.content.field_name());
                let text = field(path, file.content.text());
                WorkloadFile {
                    mount_point: file.mount_point.clone(),
                    content: match file.content {
                        FileContent::Data(_) => FileContent::Data(text),
                        FileContent::BinaryData(_) => FileContent::BinaryData(text),
                    },
                }
            })
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        out.configs.clear();
    }
    let instance_id = InstanceId::compute_with(
        name,
        &out.agent,
        &out.runtime,
        &out.runtime_config,
        &out.files,
        crate::control_interface::needs_control_interface(&out.control_interface_access),
    );
    Ok(RenderedWorkload {
        instance_id,
        spec: out,
    })
}

fn engine() -> Handlebars<'static> {
    let mut engine = Handlebars::new();
    engine.set_strict_mode(true);
    engine.register_escape_fn(handlebars::no_escape);
    engine.register_helper(INDENT_HELPER, Box::new(indent_helper));
    engine
}

fn render_text(
    engine: &Handlebars<'_>,
    template: &str,
    context: &serde_json::Value,
) -> Result<String, String> {
    engine
        .render_template(&rewrite_indent_partials(template), context)
        .map_err(|e| describe(&e))
}

fn describe(e: &RenderError) -> String {
    let reason = match e.reason() {
        RenderErrorReason::MissingVariable(Some(path)) => {
            format!("template references '{path}', which does not exist")
        }
        other => format!("template error: {other}"),
    };
    match (e.line_no, e.column_no) {
        (Some(line), Some(column)) => format!("{reason} (template line {line}, column {column})"),
        _ => reason,
    }
}

/// Rewrites `{{> indent ARGS}}` into `{{ank_indent "PREFIX" ARGS}}`, where PREFIX encodes the
/// whitespace that indents the following lines: the text before the partial on its line when
/// that is all blanks (tabs kept), else as many spaces as it has characters.
fn rewrite_indent_partials(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    let mut line_start_in_out = 0;
    while let Some(pos) = rest.find("{{") {
        let (before, from) = rest.split_at(pos);
        out.push_str(before);
        if let Some(nl) = out[line_start_in_out..].rfind('\n') {
            line_start_in_out += nl + 1;
        }
        let after = from[2..].trim_start_matches('~');
        let partial_args = after
            .strip_prefix('>')
            .map(str::trim_start)
            .and_then(|s| s.strip_prefix("indent"))
            .filter(|s| s.starts_with(|c: char| c.is_whitespace() || c == '}'));
        match partial_args {
            Some(args) => {
                let prefix = &out[line_start_in_out..];
                // Encoded as `s` (space) and `t` (tab): handlebars string literals refuse tabs.
                let indent: String = if prefix.chars().all(|c| c == ' ' || c == '\t') {
                    prefix
                        .chars()
                        .map(|c| if c == '\t' { 't' } else { 's' })
                        .collect()
                } else {
                    "s".repeat(prefix.chars().count())
                };
                let tilde = if from[2..].starts_with('~') { "~" } else { "" };
                out.push_str(&format!("{{{{{tilde}{INDENT_HELPER} \"{indent}\""));
                rest = args;
            }
            None => {
                out.push_str("{{");
                rest = &from[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn indent_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let indent: String = h
        .param(0)
        .and_then(|p| p.value().as_str())
        .unwrap_or("")
        .chars()
        .map(|c| if c == 't' { '\t' } else { ' ' })
        .collect();
    let content = h
        .hash_get("content")
        .ok_or_else(|| RenderErrorReason::ParamNotFoundForName("indent", "content".into()))?;
    if content.is_value_missing() {
        return Err(RenderErrorReason::MissingVariable(content.relative_path().cloned()).into());
    }
    let text = match content.value() {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Bool(b) => b.to_string(),
        _ => {
            return Err(RenderErrorReason::HashTypeMismatchForName(
                "indent",
                "content".into(),
                "string".into(),
            )
            .into())
        }
    };
    let text = text.strip_suffix('\n').unwrap_or(&text);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.write("\n")?;
            if !line.is_empty() {
                out.write(&indent)?;
            }
        }
        out.write(line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(agent: &str, runtime_config: &str, configs: &[(&str, &str)]) -> WorkloadSpec {
        WorkloadSpec {
            agent: agent.into(),
            runtime: "podman".into(),
            runtime_config: runtime_config.into(),
            restart_policy: Default::default(),
            dependencies: BTreeMap::new(),
            tags: BTreeMap::new(),
            configs: configs
                .iter()
                .map(|(a, k)| (a.to_string(), k.to_string()))
                .collect(),
            files: vec![],
            control_interface_access: Default::default(),
        }
    }

    fn configs() -> BTreeMap<String, ConfigItem> {
        serde_json::from_value(serde_json::json!({
            "placement": {"node": "node_a"},
            "web": {"ports": ["80", "443"], "page": "<h1>\"hi\" & bye</h1>",
                     "conf": "a: 1\nb:\n  c: 2\n"}
        }))
        .unwrap()
    }

    fn render_one(spec: &WorkloadSpec) -> Result<RenderedWorkload, Vec<ValidationError>> {
        render_workload("w", spec, &configs())
    }

    #[test]
    fn templated_fields_are_rendered_without_escaping_and_configs_emptied() {
        let spec = workload(
            "{{p.node}}",
            "image: x\ncommandArgs: ['{{w.page}}', '{{w.ports.1}}']",
            &[("p", "placement"), ("w", "web")],
        );
        let r = render_one(&spec).unwrap();
        assert_eq!(r.spec.agent, "node_a");
        assert_eq!(
            r.spec.runtime_config,
            "image: x\ncommandArgs: ['<h1>\"hi\" & bye</h1>', '443']"
        );
        assert!(r.spec.configs.is_empty());
        assert_eq!(r.instance_id.agent, "node_a");
    }

    #[test]
    fn each_and_if_helpers_work() {
        let spec = workload(
            "a",
            "{{#each w.ports}}{{@index}}={{this}};{{/each}}{{#if w.page}}yes{{/if}}",
            &[("w", "web")],
        );
        assert_eq!(
            render_one(&spec).unwrap().spec.runtime_config,
            "0=80;1=443;yes"
        );
    }

    #[test]
    fn a_workload_without_configs_is_not_rendered() {
        let spec = workload("a", "image: x\ncommandArgs: ['{{literal}}']", &[]);
        assert_eq!(render_one(&spec).unwrap().spec, spec);
    }

    #[test]
    fn a_missing_config_key_is_named() {
        let spec = workload("a", "image: x", &[("x", "nope")]);
        let errors = render_one(&spec).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].message,
            "workload 'w' references config key 'nope' that does not exist"
        );
    }

    #[test]
    fn strict_mode_refuses_missing_variables_in_every_templated_field() {
        let mut spec = workload("{{p.nope}}", "image: {{p.missing}}", &[("p", "placement")]);
        spec.files.push(WorkloadFile {
            mount_point: "/f".into(),
            content: FileContent::Data("{{p.gone}}".into()),
        });
        let errors = render_one(&spec).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["agent", "runtimeConfig", "files[0].data"]);
        assert!(
            errors[1].message.contains("p.missing"),
            "{}",
            errors[1].message
        );
    }

    #[test]
    fn the_indent_partial_indents_to_its_column() {
        let cases = [
            // On a line of its own: every line at the partial's indentation.
            (
                "manifest: |\n  {{> indent content=w.conf}}\nnext: 1",
                "manifest: |\n  a: 1\n  b:\n    c: 2\nnext: 1",
            ),
            // After a key: following lines align under the first.
            (
                "k: {{> indent content=w.conf}}",
                "k: a: 1\n   b:\n     c: 2",
            ),
            // Tabs before the partial are kept.
            ("\t{{>indent content=w.conf}}", "\ta: 1\n\tb:\n\t  c: 2"),
            // A single-line value is inserted as is.
            ("  x: {{> indent content=p.node}}", "  x: node_a"),
        ];
        for (template, expected) in cases {
            let spec = workload("a", template, &[("w", "web"), ("p", "placement")]);
            assert_eq!(
                render_one(&spec).unwrap().spec.runtime_config,
                expected,
                "{template:?}"
            );
        }
    }

    #[test]
    fn the_indent_partial_refuses_missing_and_non_text_content() {
        for template in [
            "{{> indent content=w.nope}}",
            "{{> indent content=w.ports}}",
        ] {
            let spec = workload("a", template, &[("w", "web")]);
            assert!(render_one(&spec).is_err(), "{template}");
        }
    }

    #[test]
    fn rendering_a_manifest_collects_every_workloads_errors() {
        let mut manifest = Manifest::empty();
        manifest.configs = configs();
        manifest
            .workloads
            .insert("ok".into(), workload("a", "image: x", &[]));
        manifest
            .workloads
            .insert("bad1".into(), workload("a", "{{x.y}}", &[("x", "web")]));
        manifest
            .workloads
            .insert("bad2".into(), workload("a", "", &[("x", "nope")]));
        let errors = render(&manifest).unwrap_err();
        let workloads: Vec<_> = errors.iter().map(|e| e.workload.clone().unwrap()).collect();
        assert_eq!(workloads, ["bad1", "bad2"]);
    }
}
