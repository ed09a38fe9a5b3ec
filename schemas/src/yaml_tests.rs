//! The bounds of the YAML door: the attacks of issue 14, each limit at and one past it.

use super::*;
use crate::parse::ParsedManifest;

/// The manifest of issue 14: one 100 KB anchor aliased 8,000 times (about 124 KB of text that
/// expanded to 800 MB with serde_yaml).
pub(crate) fn amplification_manifest() -> String {
    let copies = vec!["*big"; 8_000].join(",");
    format!(
        "apiVersion: v1\nconfigs:\n  big: &big {}\n  copies: [{copies}]\n",
        "x".repeat(100_000)
    )
}

/// Billion laughs: nine levels of nine aliases, 9^9 "lol"s.
fn billion_laughs() -> String {
    let mut text = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let refs = vec![format!("*{}", pair[0]); 9].join(", ");
        text.push_str(&format!("{}: &{} [{refs}]\n", pair[1], pair[1]));
    }
    text
}

/// `depth` nested flow sequences around a scalar: `[[[x]]]` is 3 levels.
fn nested_flow(depth: usize) -> String {
    format!("{}x{}", "[".repeat(depth), "]".repeat(depth))
}

/// `depth` nested block mappings: `a:\n  a:\n    x` is 2 levels.
fn nested_block(depth: usize) -> String {
    let mut text = String::new();
    for level in 0..depth {
        text.push_str(&"  ".repeat(level));
        text.push_str("a:\n");
    }
    text.push_str(&"  ".repeat(depth));
    text.push_str("x\n");
    text
}

fn parse(text: &str, limits: &Limits) -> Result<serde_json::Value, YamlError> {
    from_str::<serde_json::Value>(text, limits)
}

#[test]
fn issue_14_amplification_and_bombs_are_refused_and_normal_aliases_accepted() {
    let small = Limits {
        depth: 8,
        ..Limits::DEFAULT
    };
    let four_aliases =
        "defaults: &d {image: x, args: [a, b]}\none: *d\ntwo: *d\nthree: *d\nfour: *d\n";
    let cases: Vec<(&str, String, Limits, Option<&str>)> = vec![
        (
            "issue 14: a 100 KB anchor aliased 8,000 times",
            amplification_manifest(),
            Limits::DEFAULT,
            Some("YAML aliases expand beyond 4 MiB (limit MAX_EXPANDED_BYTES)"),
        ),
        (
            "billion laughs",
            billion_laughs(),
            Limits::DEFAULT,
            Some("YAML has more than 100000 nodes, aliases expanded (limit MAX_NODES)"),
        ),
        (
            "flow nesting one level past the limit",
            nested_flow(9),
            small,
            Some("YAML nests deeper than 8 levels (limit MAX_DEPTH)"),
        ),
        ("flow nesting at the limit", nested_flow(8), small, None),
        (
            "block nesting one level past the limit",
            nested_block(9),
            small,
            Some("YAML nests deeper than 8 levels"),
        ),
        ("block nesting at the limit", nested_block(8), small, None),
        (
            "the default depth, one level past it",
            nested_flow(MAX_DEPTH + 1),
            Limits::DEFAULT,
            Some("YAML nests deeper than 32 levels"),
        ),
        (
            "the default depth",
            nested_flow(MAX_DEPTH),
            Limits::DEFAULT,
            None,
        ),
        (
            "a few aliases of a mapping",
            four_aliases.to_owned(),
            Limits::DEFAULT,
            None,
        ),
        (
            "one byte more than the input limit",
            "a: bcd".to_owned(),
            Limits {
                input_bytes: 5,
                ..Limits::DEFAULT
            },
            Some("the text is 6 bytes, more than the 5 bytes allowed"),
        ),
        (
            "exactly the input limit",
            "a: bc".to_owned(),
            Limits {
                input_bytes: 5,
                ..Limits::DEFAULT
            },
            None,
        ),
        (
            "aliases expanding one byte past the expanded limit",
            "a: &a 12345\nb: [*a, *a]\n".to_owned(),
            // Keys a, b (2 bytes) and three times 12345 (15 bytes) are 17 bytes.
            Limits {
                expanded_bytes: 16,
                ..Limits::DEFAULT
            },
            Some("YAML aliases expand beyond 16 bytes"),
        ),
        (
            "aliases expanding to exactly the expanded limit",
            "a: &a 12345\nb: [*a, *a]\n".to_owned(),
            Limits {
                expanded_bytes: 17,
                ..Limits::DEFAULT
            },
            None,
        ),
        (
            "one alias more than the alias limit",
            "a: &a x\nb: [*a, *a, *a]\n".to_owned(),
            Limits {
                aliases: 2,
                ..Limits::DEFAULT
            },
            Some("YAML has more than 2 aliases"),
        ),
    ];
    for (name, text, limits, refusal) in cases {
        let result = parse(&text, &limits);
        match (refusal, result) {
            (None, Ok(_)) => {}
            (Some(expected), Err(e)) => {
                assert!(e.is_limit(), "{name}: {e:?}");
                assert!(e.to_string().contains(expected), "{name}: {e}");
            }
            (expected, result) => panic!("{name}: expected {expected:?}, got {result:?}"),
        }
    }
}

#[test]
fn issue_14_a_few_aliases_expand_to_their_values() {
    let value = parse(
        "defaults: &d {image: x}\none: *d\nlist: &l [a, b]\ntwo: *l\nmerged: {<<: *d, tag: t}\n",
        &Limits::DEFAULT,
    )
    .unwrap();
    assert_eq!(value["one"]["image"], "x");
    assert_eq!(value["two"], serde_json::json!(["a", "b"]));
    // Merge keys are expanded (and charged like aliases), as podman's own parser does.
    assert_eq!(
        value["merged"],
        serde_json::json!({"image": "x", "tag": "t"})
    );
}

#[test]
fn issue_14_the_amplification_manifest_is_refused_naming_the_bound_and_the_line() {
    let errors = ParsedManifest::from_yaml(&amplification_manifest()).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].message,
        "YAML aliases expand beyond 4 MiB (limit MAX_EXPANDED_BYTES)"
    );
    // All aliases are on line 4; the limit is hit at one of them.
    assert_eq!(errors[0].line, Some(4));
}

#[test]
fn issue_14_json_manifests_are_bounded_too() {
    // Two levels of mappings around the sequences: one level past the limit.
    let deep = format!(
        "{{\"apiVersion\": \"v1\", \"configs\": {{\"c\": {}0{}}}}}",
        "[".repeat(MAX_DEPTH - 1),
        "]".repeat(MAX_DEPTH - 1)
    );
    let errors = ParsedManifest::from_json(&deep).unwrap_err();
    assert!(
        errors[0]
            .message
            .contains("YAML nests deeper than 32 levels"),
        "{errors:?}"
    );
    let large = " ".repeat(MAX_INPUT_BYTES + 1);
    let errors = ParsedManifest::from_json(&large).unwrap_err();
    assert!(
        errors[0].message.contains("more than the 4 MiB allowed"),
        "{errors:?}"
    );
}

#[test]
fn yaml_1_2_scalars_keep_their_types_and_duplicate_keys_are_refused() {
    let value = parse(
        "a: yes\nb: on\nc: true\nd: 10\ne: '1'\nf: 1.5\ng: ~\n1: int key\n",
        &Limits::DEFAULT,
    )
    .unwrap();
    assert_eq!(value["a"], "yes");
    assert_eq!(value["b"], "on");
    assert_eq!(value["c"], true);
    assert_eq!(value["d"], 10);
    assert_eq!(value["e"], "1");
    assert_eq!(value["f"], 1.5);
    assert!(value["g"].is_null());
    assert_eq!(value["1"], "int key");
    let e = parse("a: 1\na: 2\n", &Limits::DEFAULT).unwrap_err();
    assert!(
        matches!(&e, YamlError::Invalid { message, line: Some(2) } if message.contains("duplicate")),
        "{e:?}"
    );
}

#[test]
fn documents_are_read_and_counted() {
    let docs: Vec<serde_json::Value> =
        documents("kind: Pod\n---\n---\nkind: ConfigMap\n", &Limits::DEFAULT).unwrap();
    assert_eq!(docs.len(), 2);
    let limits = Limits {
        documents: 2,
        ..Limits::DEFAULT
    };
    let e = documents::<serde_json::Value>("a: 1\n---\nb: 2\n---\nc: 3\n", &limits).unwrap_err();
    assert!(
        matches!(e, YamlError::TooManyDocuments { limit: 2, .. }),
        "{e:?}"
    );
}

#[test]
fn the_deepest_accepted_manifest_fits_a_2_mib_thread_stack() {
    // Tokio's worker threads have 2 MiB stacks; the parser recurses once per level.
    let text = format!(
        "{{\"apiVersion\": \"v1\", \"configs\": {{\"c\": {}\"x\"{}}}}}",
        "[".repeat(MAX_DEPTH - 2),
        "]".repeat(MAX_DEPTH - 2)
    );
    let parsed = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || ParsedManifest::from_json(&text).map(|_| ()))
        .expect("thread")
        .join()
        .expect("no stack overflow");
    assert_eq!(parsed, Ok(()));
}

#[test]
fn json_manifests_keep_keys_longer_than_yaml_allows_and_tabs() {
    // YAML limits an implicit key to 1,024 characters; JSON requests may carry longer ones.
    let long = "k".repeat(2_000);
    let json = format!("{{\"apiVersion\": \"v1\", \"configs\": {{\"c\": {{\"{long}\": \"v\"}}}}}}");
    let parsed = ParsedManifest::from_json(&json).expect("a long key");
    assert!(
        matches!(&parsed.manifest.configs["c"], crate::ConfigItem::Object(map) if map.contains_key(&long))
    );
    let tabs = "{\n\t\"apiVersion\": \"v1\",\n\t\"configs\": {\n\t\t\"c\": \"x\"\n\t}\n}";
    assert!(ParsedManifest::from_json(tabs).is_ok());
}
