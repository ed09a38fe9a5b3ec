//! Which runtime a workload names, as a type: the runtimes ankmq runs are variants, any other
//! name is kept as data so an agent can report it (`Pending(StartingFailed)`, "Unsupported
//! Runtime", as Ankaios does) instead of the whole manifest being refused (issue 16 point 2).
//!
//! The text form is the plain runtime name, on the wire and in manifests. An unknown name must
//! still be a valid name ([`crate::name_problem`]): it is echoed in states and logs, and no
//! runtime could ever have a name with a `/` or a NUL in it. This is the only place that spells
//! the runtime names; everyone else matches on [`RuntimeKind`] (issue 12).

#[cfg(feature = "json-schema")]
use std::borrow::Cow;
use std::fmt;

#[cfg(feature = "json-schema")]
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

use crate::names::{name_problem, InvalidName};

/// A workload's runtime.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RuntimeKind {
    /// `podman`: one container per workload, `podman run`.
    Podman,
    /// `podman-kube`: pods from a Kubernetes manifest, `podman kube play`.
    PodmanKube,
    /// Any other valid name (`containerd`, a runtime of a newer agent): accepted by the
    /// controller, refused per workload by an agent that does not run it.
    Other(String),
}

const PODMAN: &str = "podman";
const PODMAN_KUBE: &str = "podman-kube";

impl RuntimeKind {
    /// The runtimes ankmq runs, in the order `--help` and hints list them.
    pub const KNOWN: [RuntimeKind; 2] = [RuntimeKind::Podman, RuntimeKind::PodmanKube];

    /// Reads a runtime name; an unknown one must be a valid name.
    pub fn parse(text: &str) -> Result<Self, InvalidName> {
        match text {
            PODMAN => Ok(RuntimeKind::Podman),
            PODMAN_KUBE => Ok(RuntimeKind::PodmanKube),
            other => match name_problem(other) {
                None => Ok(RuntimeKind::Other(other.to_owned())),
                Some(problem) => Err(InvalidName::with_problem("runtime", other, problem)),
            },
        }
    }

    /// The name as written in manifests.
    pub fn as_str(&self) -> &str {
        match self {
            RuntimeKind::Podman => PODMAN,
            RuntimeKind::PodmanKube => PODMAN_KUBE,
            RuntimeKind::Other(name) => name,
        }
    }

    /// Whether ankmq runs it (any agent may still have it disabled).
    pub fn is_known(&self) -> bool {
        !matches!(self, RuntimeKind::Other(_))
    }

    /// Whether the runtime mounts workload files (Ankaios §1.6: not podman-kube, which has
    /// ConfigMaps for that).
    pub fn supports_files(&self) -> bool {
        matches!(self, RuntimeKind::Podman)
    }

    /// The known names, `podman, podman-kube`, for hints and `--help`.
    pub fn known_names() -> String {
        Self::KNOWN
            .iter()
            .map(RuntimeKind::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl TryFrom<String> for RuntimeKind {
    type Error = InvalidName;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<RuntimeKind> for String {
    fn from(kind: RuntimeKind) -> Self {
        match kind {
            RuntimeKind::Other(name) => name,
            known => known.as_str().to_owned(),
        }
    }
}

impl std::str::FromStr for RuntimeKind {
    type Err = InvalidName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "json-schema")]
impl JsonSchema for RuntimeKind {
    fn schema_name() -> Cow<'static, str> {
        "RuntimeKind".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "The workload's runtime: `podman`, `podman-kube`, or the name of a runtime some agent may run ([A-Za-z0-9_-], at most 63 characters).",
            "pattern": "^[A-Za-z0-9_-]+$",
            "maxLength": 63
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_names_are_read_as_kinds_and_written_back_unchanged() {
        // (text, kind or refusal)
        let table: &[(&str, Option<RuntimeKind>)] = &[
            ("podman", Some(RuntimeKind::Podman)),
            ("podman-kube", Some(RuntimeKind::PodmanKube)),
            ("containerd", Some(RuntimeKind::Other("containerd".into()))),
            (
                "invalid_runtime",
                Some(RuntimeKind::Other("invalid_runtime".into())),
            ),
            ("", None),
            ("pod/man", None),
            ("a\0b", None),
            (&"x".repeat(64), None),
        ];
        for (text, expected) in table {
            let parsed = RuntimeKind::parse(text).ok();
            assert_eq!(&parsed, expected, "{text:?}");
            if let Some(kind) = parsed {
                assert_eq!(kind.as_str(), *text);
                let json = serde_json::to_string(&kind).expect("serialised");
                assert_eq!(json, serde_json::to_string(text).expect("a string"));
                let back: RuntimeKind = serde_json::from_str(&json).expect("read back");
                assert_eq!(back, kind);
            }
        }
    }

    #[test]
    fn an_invalid_runtime_name_fails_the_decode_naming_it() {
        let err = serde_json::from_str::<RuntimeKind>("\"a/b\"").unwrap_err();
        assert!(err.to_string().contains("invalid runtime `a/b`"), "{err}");
    }

    #[test]
    fn only_podman_mounts_files() {
        assert!(RuntimeKind::Podman.supports_files());
        assert!(!RuntimeKind::PodmanKube.supports_files());
        assert!(!RuntimeKind::Other("containerd".into()).supports_files());
        assert_eq!(RuntimeKind::known_names(), "podman, podman-kube");
    }
}
