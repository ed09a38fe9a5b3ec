//! Parsing: the Ankaios example, unknown keys with lines and suggestions, apiVersions.

use super::*;
use crate::render::render;
use crate::validation::validate;

const EXAMPLE: &str = include_str!("../tests/fixtures/ankaios-example.yaml");

fn errors(text: &str) -> Vec<ValidationError> {
    parse_manifest(text).unwrap_err()
}

#[test]
fn the_ankaios_example_parses_validates_renders_and_round_trips() {
    let parsed = ParsedManifest::from_yaml(EXAMPLE).unwrap();
    assert!(parsed.warnings.is_empty());
    let m = parsed.manifest;
    assert_eq!(m.workloads.len(), 5);
    assert!(validate(&m).is_empty());
    let rendered = render(&m).unwrap();
    assert_eq!(rendered["db_init"].spec.agent, "node_a");
    assert!(rendered["database"]
        .spec
        .runtime_config
        .contains("\"5432:5432\""));
    assert_eq!(rendered["parked"].instance_id.agent, "");
    let yaml = crate::yaml::to_string(&m).unwrap();
    assert_eq!(parse_manifest(&yaml).unwrap(), m, "{yaml}");
    let json = serde_json::to_string_pretty(&m).unwrap();
    assert_eq!(parse_manifest_json(&json).unwrap(), m, "{json}");
}

#[test]
fn unknown_keys_are_named_with_line_and_suggestion() {
    let text = "apiVersion: v1
workloads:
  nginx:
    agent: a
    runtime: podman
    runtimeConfig: 'image: x'
    restartpolicy: ALWAYS
    files:
      - mountPoint: /a
        data: x
      - mountPoint: /b
        dta: y
configs:
  c: x
workload: {}
";
    let errors = errors(text);
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(shown.contains(&"workload 'nginx', field 'restartpolicy' (line 7): unknown key 'restartpolicy' (hint: did you mean `restartPolicy`?)".to_owned()), "{shown:#?}");
    assert!(shown.iter().any(|s| s.starts_with("workload 'nginx', field 'files[1].dta' (line 12): unknown key 'dta' (hint: did you mean `data`?)")), "{shown:#?}");
    assert!(
        shown.contains(
            &"field 'workload' (line 15): unknown key 'workload' (hint: did you mean `workloads`?)"
                .to_owned()
        ),
        "{shown:#?}"
    );
}

#[test]
fn unknown_enum_values_list_the_allowed_ones() {
    let text = "apiVersion: v1
workloads:
  nginx:
    agent: a
    runtime: podman
    runtimeConfig: 'image: x'
    restartPolicy: SOMETIMES
    dependencies:
      db: ADD_COND_LATER
";
    let shown: Vec<String> = errors(text).iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "workload 'nginx', field 'restartPolicy' (line 7): unknown value 'SOMETIMES' (hint: one of NEVER, ON_FAILURE, ALWAYS)",
            "workload 'nginx', field 'dependencies.db' (line 9): unknown value 'ADD_COND_LATER' (hint: one of ADD_COND_RUNNING, ADD_COND_SUCCEEDED, ADD_COND_FAILED)",
        ]
    );
}

#[test]
fn structural_errors_are_refused_for_the_right_reason() {
    let w = "apiVersion: v1\nworkloads:\n  w:\n    agent: a\n    runtime: podman\n    runtimeConfig: 'image: x'\n";
    let cases: Vec<(String, &str)> = vec![
        ("workloads: {}".into(), "apiVersion is required"),
        ("apiVersion: v2".into(), "unsupported apiVersion 'v2', expected 'v1' (or the deprecated 'v0.1')"),
        ("- a".into(), "the manifest must be a mapping"),
        ("apiVersion: v1\nworkloads:\n  w: {runtime: podman, runtimeConfig: x}".into(), "missing required field 'agent'"),
        ("apiVersion: v1\nworkloads:\n  w: {agent: a, runtimeConfig: x}".into(), "missing required field 'runtime'"),
        ("apiVersion: v1\nworkloads:\n  w: {agent: a, runtime: podman}".into(), "missing required field 'runtimeConfig'"),
        ("apiVersion: v1\nworkloads:\n  w: {agent: [a], runtime: podman, runtimeConfig: x}".into(), "must be a string"),
        (format!("{w}    tags:\n      - key: a\n        value: b\n"), "v0.1 form; apiVersion v1 needs a mapping"),
        (format!("{w}    files:\n      - mountPoint: /a\n"), "exactly one of 'data' and 'binaryData'"),
        (format!("{w}    files:\n      - mountPoint: /a\n        data: x\n        binaryData: eA==\n"), "exactly one of"),
        (format!("{w}    controlInterfaceAccess:\n      allowRules:\n        - type: StateRule\n          filterMasks: [a]\n"), "needs an 'operation'"),
        (format!("{w}    controlInterfaceAccess:\n      allowRules:\n        - type: Rule\n"), "unknown rule type 'Rule'"),
        (format!("{w}    controlInterfaceAccess:\n      allowRules:\n        - type: StateRule\n          operation: Read\n          filterMask: [a]\n"), "unknown key 'filterMask'"),
        (format!("{w}    controlInterfaceAccess:\n      allowRules:\n        - type: StateRule\n          operation: Reed\n"), "unknown value 'Reed'"),
        ("apiVersion: v1\nconfigs:\n  port: 5432".into(), "config values must be strings"),
        ("apiVersion: v1\nworkloads: [\n".into(), "not valid YAML"),
    ];
    for (text, expected) in cases {
        let shown: Vec<String> = errors(&text).iter().map(ToString::to_string).collect();
        assert!(
            shown.iter().any(|s| s.contains(expected)),
            "{text}\n→ {shown:#?}"
        );
    }
}

#[test]
fn syntax_errors_carry_the_line() {
    let e = errors("apiVersion: v1\nworkloads:\n  w: [\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].line.is_some(), "{e:?}");
    let e = parse_manifest_json("{\n\"apiVersion\": \"v1\",\n,}").unwrap_err();
    assert_eq!(e[0].line, Some(3), "{e:?}");
}

#[test]
fn v0_1_is_read_with_list_tags_and_the_filter_mask_alias_and_warned_about() {
    let text = "apiVersion: v0.1
workloads:
  w:
    agent: a
    runtime: podman
    runtimeConfig: 'image: x'
    tags:
      - key: owner
        value: me
    controlInterfaceAccess:
      allowRules:
        - type: StateRule
          operation: Read
          filterMask: [desiredState]
";
    let parsed = ParsedManifest::from_yaml(text).unwrap();
    assert_eq!(parsed.source_api_version, ApiVersion::V0_1);
    assert_eq!(parsed.warnings, [ParseWarning::DeprecatedApiVersion]);
    assert!(parsed.warnings[0].to_string().contains("deprecated"));
    let m = parsed.manifest;
    assert_eq!(m.api_version, ApiVersion::V1);
    assert_eq!(m.workloads["w"].tags["owner"], "me");
    // Written back in v1 form, it parses as v1.
    let yaml = crate::yaml::to_string(&m).unwrap();
    assert!(
        yaml.contains("apiVersion: v1") && yaml.contains("filterMasks"),
        "{yaml}"
    );
    assert_eq!(parse_manifest(&yaml).unwrap(), m);
}

#[test]
fn v0_1_with_map_tags_is_refused_naming_the_workload() {
    let text = "apiVersion: v0.1
workloads:
  w:
    agent: a
    runtime: podman
    runtimeConfig: 'image: x'
    tags: {owner: me}
";
    let e = errors(text);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].workload.as_deref(), Some("w"));
    assert!(e[0].message.contains("v1 form"), "{}", e[0]);
}

#[test]
fn json_manifests_get_the_same_checks() {
    let json = r#"{
  "apiVersion": "v1",
  "workloads": {
    "w": {
      "agent": "a",
      "runtime": "podman",
      "runtimeConfig": "image: x",
      "restartpolicy": "NEVER"
    }
  }
}"#;
    let e = parse_manifest_json(json).unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].line, Some(8));
    assert_eq!(e[0].hint.as_deref(), Some("did you mean `restartPolicy`?"));
}

#[test]
fn integer_workload_names_are_read_as_strings() {
    let m = parse_manifest(
        "apiVersion: v1\nworkloads:\n  1:\n    agent: a\n    runtime: podman\n    runtimeConfig: 'image: x'\n",
    )
    .unwrap();
    assert!(m.workloads.contains_key("1"));
}

#[test]
fn an_empty_manifest_needs_only_the_api_version() {
    let m = parse_manifest("apiVersion: v1").unwrap();
    assert_eq!(m, Manifest::empty());
    let m = parse_manifest("apiVersion: v1\nworkloads:\nconfigs:\n").unwrap();
    assert_eq!(m, Manifest::empty());
}
