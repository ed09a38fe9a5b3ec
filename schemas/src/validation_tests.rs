//! Every rule of Ankaios §1.8, on the accepting and the refusing side.

use super::*;
use crate::manifest::{LogRule, ReadWriteEnum, StateRule, WorkloadFile};
use crate::parse::parse_manifest;
use crate::AddCondition;

const EXAMPLE: &str = include_str!("../tests/fixtures/ankaios-example.yaml");

fn base() -> Manifest {
    parse_manifest(
        r#"
apiVersion: v1
workloads:
  w:
    agent: agent_A
    runtime: podman
    runtimeConfig: "image: x"
configs:
  c:
    port: "80"
"#,
    )
    .unwrap()
}

type Edit = fn(&mut Manifest);

fn w(m: &mut Manifest) -> &mut WorkloadSpec {
    m.workloads.get_mut("w").unwrap()
}

fn file(m: &mut Manifest, mount: &str, content: FileContent) {
    w(m).files.push(WorkloadFile {
        mount_point: mount.into(),
        content,
    });
}

fn state_rule(m: &mut Manifest, mask: &str) {
    w(m).control_interface_access
        .allow_rules
        .push(AccessRule::StateRule(StateRule {
            operation: ReadWriteEnum::Read,
            filter_masks: vec![mask.into()],
        }));
}

fn log_rule(m: &mut Manifest, name: &str) {
    w(m).control_interface_access
        .deny_rules
        .push(AccessRule::LogRule(LogRule {
            workload_names: vec![name.into()],
        }));
}

fn config(m: &mut Manifest, json: serde_json::Value) {
    m.configs = serde_json::from_value(json).unwrap();
}

fn rename(m: &mut Manifest, name: &str) {
    let spec = m.workloads.remove("w").unwrap();
    m.workloads.insert(name.into(), spec);
}

fn depend(m: &mut Manifest, from: &str, to: &str) {
    if !m.workloads.contains_key(from) {
        let spec = m.workloads["w"].clone();
        m.workloads.insert(from.into(), spec);
    }
    let spec = m.workloads.get_mut(from).unwrap();
    spec.dependencies.insert(to.into(), AddCondition::Running);
}

/// (rule, edit of the valid base manifest, `None` if it stays valid or a text the error has).
fn cases() -> Vec<(&'static str, Edit, Option<&'static str>)> {
    vec![
        ("base is valid", |_| {}, None),
        // Workload names.
        ("name of 63", |m| rename(m, &"a".repeat(63)), None),
        (
            "name of 64",
            |m| rename(m, &"a".repeat(64)),
            Some("64 characters"),
        ),
        ("name with dot", |m| rename(m, "a.b"), Some("contains '.'")),
        ("empty name", |m| rename(m, ""), Some("is empty")),
        // Agent, after rendering.
        ("empty agent", |m| w(m).agent = String::new(), None),
        (
            "agent with dot",
            |m| w(m).agent = "a.b".into(),
            Some("the agent 'a.b'"),
        ),
        (
            "rendered agent",
            |m| {
                w(m).agent = "node{{c.port}}".into();
                w(m).configs.insert("c".into(), "c".into());
            },
            None,
        ),
        (
            "rendered agent with a bad char",
            |m| {
                m.configs
                    .insert("n".into(), ConfigItem::String("node/1".into()));
                w(m).agent = "{{n}}".into();
                w(m).configs.insert("n".into(), "n".into());
            },
            Some("the agent 'node/1'"),
        ),
        // Config keys at any depth, also inside arrays.
        (
            "nested config keys",
            |m| config(m, serde_json::json!({"a": {"b": [{"c-d_1": "x"}]}})),
            None,
        ),
        (
            "bad top config key",
            |m| config(m, serde_json::json!({"a.b": "x"})),
            Some("field 'configs.a.b'"),
        ),
        (
            "bad nested config key",
            |m| config(m, serde_json::json!({"a": {"b c": "x"}})),
            Some("'b c'"),
        ),
        (
            "bad key in an array",
            |m| config(m, serde_json::json!({"a": ["x", {"b/c": "y"}]})),
            Some("configs.a[1].b/c"),
        ),
        (
            "long config key",
            |m| config(m, serde_json::json!({"a": {"k".repeat(64): "x"}})),
            Some("64 characters"),
        ),
        // Workload configs: aliases and keys, and the key exists.
        (
            "alias and key",
            |m| {
                w(m).configs.insert("alias".into(), "c".into());
            },
            None,
        ),
        (
            "bad alias",
            |m| {
                w(m).configs.insert("a.b".into(), "c".into());
            },
            Some("the alias contains '.'"),
        ),
        (
            "bad referenced key",
            |m| {
                w(m).configs.insert("a".into(), "c.d".into());
            },
            Some("the config key 'c.d'"),
        ),
        (
            "missing config key",
            |m| {
                w(m).configs.insert("a".into(), "nope".into());
            },
            Some("references config key 'nope' that does not exist"),
        ),
        // Template errors.
        (
            "template error",
            |m| {
                w(m).configs.insert("c".into(), "c".into());
                w(m).runtime_config = "image: {{c.nope}}".into();
            },
            Some("c.nope"),
        ),
        (
            "unclosed template",
            |m| {
                w(m).configs.insert("c".into(), "c".into());
                w(m).runtime_config = "image: {{c.port".into();
            },
            Some("template error"),
        ),
        // Access rules.
        (
            "filter masks",
            |m| state_rule(m, "desiredState.workloads.*.tags"),
            None,
        ),
        ("wildcard mask", |m| state_rule(m, "*"), None),
        (
            "empty mask",
            |m| state_rule(m, ""),
            Some("invalid filter mask ''"),
        ),
        (
            "mask with empty segment",
            |m| state_rule(m, "a..b"),
            Some("invalid filter mask"),
        ),
        (
            "mask with a bad char",
            |m| state_rule(m, "a.b/c"),
            Some("invalid filter mask"),
        ),
        ("log name", |m| log_rule(m, "nginx"), None),
        ("log wildcard", |m| log_rule(m, "ivi_*"), None),
        ("log star", |m| log_rule(m, "*"), None),
        (
            "log wildcard of 64",
            |m| log_rule(m, &format!("{}*", "a".repeat(63))),
            None,
        ),
        (
            "log wildcard of 65",
            |m| log_rule(m, &format!("{}*", "a".repeat(64))),
            Some("invalid workload name pattern"),
        ),
        (
            "two wildcards",
            |m| log_rule(m, "*a*"),
            Some("invalid workload name pattern"),
        ),
        (
            "bad log name",
            |m| log_rule(m, "a.b"),
            Some("invalid workload name pattern"),
        ),
        (
            "empty log name",
            |m| log_rule(m, ""),
            Some("invalid workload name pattern"),
        ),
        // Files.
        (
            "text file",
            |m| file(m, "/etc/a.conf", FileContent::Data("x".into())),
            None,
        ),
        (
            "binary file",
            |m| file(m, "/bin/a", FileContent::BinaryData("aGVs\n bG8=".into())),
            None,
        ),
        (
            "relative mount point",
            |m| file(m, "etc/a", FileContent::Data("x".into())),
            Some("not an absolute path"),
        ),
        (
            "trailing slash",
            |m| file(m, "/etc/", FileContent::Data("x".into())),
            Some("ends with `/`"),
        ),
        (
            "dot component",
            |m| file(m, "/etc/./a", FileContent::Data("x".into())),
            Some("`.` or `..`"),
        ),
        (
            "dotdot component",
            |m| file(m, "/etc/../a", FileContent::Data("x".into())),
            Some("`.` or `..`"),
        ),
        (
            "unpadded base64",
            |m| file(m, "/a", FileContent::BinaryData("aGVsbG8".into())),
            Some("not valid base64"),
        ),
        (
            "not base64",
            |m| file(m, "/a", FileContent::BinaryData("!!!!".into())),
            Some("not valid base64"),
        ),
        // Runtime-specific: the agent reports `Pending(StartingFailed)` (issue 16 point 2).
        (
            "issue_16 files on podman-kube",
            |m| {
                w(m).runtime = "podman-kube".into();
                w(m).runtime_config = "manifest: 'kind: Pod'".into();
                file(m, "/a", FileContent::Data("x".into()));
            },
            None,
        ),
        // Runtimes and their configs.
        (
            "kube workload",
            |m| {
                w(m).runtime = "podman-kube".into();
                w(m).runtime_config = "manifest: 'kind: Pod'".into();
            },
            None,
        ),
        (
            "issue_16 unknown runtime containerd",
            |m| w(m).runtime = "containerd".into(),
            None,
        ),
        (
            "issue_16 unknown runtime invalid_runtime, its config unread",
            |m| {
                w(m).runtime = "invalid_runtime".into();
                w(m).runtime_config = "whatever: [1".into();
            },
            None,
        ),
        (
            "runtime that is not a name",
            |m| w(m).runtime = "pod/man".into(),
            Some("the runtime name contains '/'"),
        ),
        (
            "empty runtime",
            |m| w(m).runtime = String::new(),
            Some("the runtime name is empty"),
        ),
        (
            "podman without image",
            |m| w(m).runtime_config = "commandArgs: [a]".into(),
            Some("needs 'image'"),
        ),
        (
            "kube config on podman",
            |m| w(m).runtime_config = "manifest: 'kind: Pod'".into(),
            Some("unknown key 'manifest'"),
        ),
        (
            "issue_16 kube allow rules without target",
            |m| {
                w(m).runtime = "podman-kube".into();
                w(m).runtime_config = "manifest: 'kind: Pod'".into();
                state_rule(m, "a");
            },
            None,
        ),
        (
            "kube allow rules with target",
            |m| {
                w(m).runtime = "podman-kube".into();
                w(m).runtime_config = "manifest: 'kind: Pod'\ncontrolInterfaceTarget: p/c".into();
                state_rule(m, "a");
            },
            None,
        ),
        // Dependencies and cycles.
        ("unknown dependency", |m| depend(m, "w", "elsewhere"), None),
        (
            "bad dependency name",
            |m| depend(m, "w", "a.b"),
            Some("the dependency name contains '.'"),
        ),
        (
            "chain",
            |m| {
                depend(m, "a", "b");
                depend(m, "b", "w");
            },
            None,
        ),
        (
            "self cycle",
            |m| depend(m, "w", "w"),
            Some("dependency cycle: w -> w"),
        ),
        (
            "two cycle",
            |m| {
                depend(m, "a", "b");
                depend(m, "b", "a");
            },
            Some("dependency cycle: a -> b -> a"),
        ),
        (
            "three cycle",
            |m| {
                depend(m, "c", "a");
                depend(m, "a", "b");
                depend(m, "b", "c");
            },
            Some("dependency cycle: a -> b -> c -> a"),
        ),
    ]
}

#[test]
fn every_rule_accepts_and_refuses() {
    let mut failures = Vec::new();
    for (rule, edit, expected) in cases() {
        let mut m = base();
        edit(&mut m);
        let errors = validate(&m);
        let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let ok = match expected {
            None => errors.is_empty(),
            Some(text) => texts.iter().any(|t| t.contains(text)),
        };
        if !ok {
            failures.push(format!("{rule}: expected {expected:?}, got {texts:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn validation_returns_all_errors_at_once() {
    let mut m = base();
    w(&mut m).runtime = "no pe".into();
    w(&mut m).agent = "a.b".into();
    config(&mut m, serde_json::json!({"x.y": "1"}));
    depend(&mut m, "w", "w");
    let errors = validate(&m);
    assert_eq!(errors.len(), 4, "{errors:#?}");
}

#[test]
fn validation_names_the_cycle() {
    let mut m = base();
    depend(&mut m, "b", "a");
    depend(&mut m, "a", "b");
    let errors = validate(&m);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].workload.as_deref(), Some("a"));
    assert_eq!(errors[0].field, "dependencies");
    assert_eq!(errors[0].message, "dependency cycle: a -> b -> a");
}

#[test]
fn the_ankaios_example_is_valid() {
    let m = parse_manifest(EXAMPLE).unwrap();
    assert_eq!(validate(&m), vec![]);
}

#[test]
fn errors_display_their_place_message_and_hint() {
    let e = ValidationError::new(Some("nginx"), "restartPolicy", "unknown value 'SOMETIMES'")
        .at_line(Some(7))
        .with_hint("one of NEVER, ON_FAILURE, ALWAYS");
    assert_eq!(
        e.to_string(),
        "workload 'nginx', field 'restartPolicy' (line 7): unknown value 'SOMETIMES' (hint: one of NEVER, ON_FAILURE, ALWAYS)"
    );
    assert_eq!(ValidationError::new(None, "", "bad").to_string(), "bad");
    assert_eq!(
        ValidationError::new(None, "", "bad")
            .at_line(Some(2))
            .to_string(),
        "line 2: bad"
    );
    assert_eq!(
        ValidationError::new(None, "configs.a", "bad").to_string(),
        "field 'configs.a': bad"
    );
}

#[test]
fn errors_round_trip_through_json() {
    let e = ValidationError::new(Some("w"), "f", "m")
        .with_hint("h")
        .at_line(Some(3));
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["line"], 3);
    assert_eq!(serde_json::from_value::<ValidationError>(json).unwrap(), e);
}
