//! A YAML (or JSON) document as a tree whose every node knows its line, for the manifest walker.
//!
//! The walker (`parse.rs`) reports every structural problem with its line; serde-saphyr gives
//! each node's position, so the lines come from the parser instead of from re-reading the text.
//! An alias node carries the line where it is used, which is where the user must look. Mappings
//! keep their order, so errors come in document order. Read only through [`tree`], which applies
//! the bounds of `yaml.rs`.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::yaml::{self, Limits, YamlError};

/// One node and the 1-based line it starts on (`None` when the parser does not know it).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub line: Option<usize>,
}

/// What a node holds. Numbers are kept as JSON numbers: a manifest becomes JSON on the wire.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Sequence(Vec<Node>),
    Mapping(Mapping),
}

/// Key/value pairs in document order.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Mapping(pub Vec<(Node, Node)>);

impl Mapping {
    /// The key node and value node of the entry whose key reads `key`.
    pub fn entry(&self, key: &str) -> Option<&(Node, Node)> {
        self.0
            .iter()
            .find(|(k, _)| matches!(&k.value, Value::String(s) if s == key))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entry(key).map(|(_, v)| &v.value)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.entry(key).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = &(Node, Node)> {
        self.0.iter()
    }
}

/// Reads one YAML document as a tree, within `limits`.
pub(crate) fn tree(text: &str, limits: &Limits) -> Result<Node, YamlError> {
    let spanned: Spanned<Node> = yaml::from_str(text, limits)?;
    Ok(spanned.into())
}

/// Reads a JSON text as a tree, within `limits`; see `yaml::from_json_text`.
pub(crate) fn json_tree(text: &str, limits: &Limits) -> Result<Node, YamlError> {
    let spanned: Spanned<Node> = yaml::from_json_text(text, limits)?;
    Ok(spanned.into())
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The text of a scalar as written (`1`, `true`, `null`); collections in compact JSON, for
    /// messages only.
    pub fn scalar_text(&self) -> String {
        match self {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => "null".to_owned(),
            other => other.to_json().to_string(),
        }
    }

    /// The JSON form, which the manifest types deserialize from. Keys become their text, so a
    /// workload named `1` is the string "1", as the CLI of Ankaios allows integer keys.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Value::Number(n.clone()),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Sequence(items) => items.iter().map(|n| n.value.to_json()).collect(),
            Value::Mapping(map) => map
                .iter()
                .map(|(k, v)| (k.value.scalar_text(), v.value.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

impl From<Spanned<Node>> for Node {
    fn from(spanned: Spanned<Node>) -> Node {
        let line = usize::try_from(spanned.referenced.line())
            .ok()
            .filter(|l| *l > 0);
        Node {
            value: spanned.value.value,
            line,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(NodeVisitor)
            .map(|value| Node { value, line: None })
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(NodeVisitor)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_i128<E: serde::de::Error>(self, n: i128) -> Result<Value, E> {
        i64::try_from(n)
            .map(|n| Value::Number(n.into()))
            .or_else(|_| u64::try_from(n).map(|n| Value::Number(n.into())))
            .map_err(|_| E::custom(format!("the integer {n} is too large")))
    }

    fn visit_u128<E: serde::de::Error>(self, n: u128) -> Result<Value, E> {
        u64::try_from(n)
            .map(|n| Value::Number(n.into()))
            .map_err(|_| E::custom(format!("the integer {n} is too large")))
    }

    fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("the number {f} is not finite")))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // No size hint: the budget, not the text's claim, bounds the length.
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item.into());
        }
        Ok(Value::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Node>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key.into(), value.into()));
        }
        Ok(Value::Mapping(Mapping(entries)))
    }
}
