//! The instance id `<name>.<hash>.<agent>`: which container a desired workload is.
//!
//! The hash covers exactly what requires a new container: the runtime, the rendered
//! runtimeConfig and the files (mount points and rendered contents). It deliberately leaves out
//! tags, restartPolicy, dependencies and the access rules, so changing those does not
//! restart anything; Ankaios hashes only the runtimeConfig yet recreates on any change
//! (behaviour reference §11.1). The agent is part of the id but not of the hash: moving a
//! workload to another agent gives a new id anyway. Whether the workload has a control interface
//! at all is hashed, but only when it has one, so ids of workloads without allow rules are those
//! of older versions: going from no allow rules to some needs the FIFO mount, i.e. a new
//! container, while editing the rules of a workload that has them is a live change.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

#[cfg(feature = "json-schema")]
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::manifest::{FileContent, WorkloadFile};
use crate::names::{is_valid_agent, is_valid_name};

/// Which instance of a workload: `<name>.<hash>.<agent>`; the agent may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId {
    /// The workload's name.
    pub workload: String,
    /// Lower-hex SHA-256 of what requires a new container.
    pub hash: String,
    /// The agent running it; empty when not scheduled.
    pub agent: String,
}

/// Hash input format version; bump it when the encoding below changes.
const HASH_DOMAIN: &[u8] = b"ankmq-instance-v1";

impl InstanceId {
    /// Computes the id of a rendered workload without a control interface.
    pub fn compute(
        workload: &str,
        agent: &str,
        runtime: &str,
        runtime_config: &str,
        files: &[WorkloadFile],
    ) -> Self {
        Self::compute_with(workload, agent, runtime, runtime_config, files, false)
    }

    /// Computes the id of a rendered workload; `control_interface` is whether it has allow rules
    /// (and so the FIFO mount).
    pub fn compute_with(
        workload: &str,
        agent: &str,
        runtime: &str,
        runtime_config: &str,
        files: &[WorkloadFile],
        control_interface: bool,
    ) -> Self {
        let mut hasher = Sha256::new();
        // Every field is length-prefixed, so no two different inputs encode the same bytes.
        let mut field = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        };
        field(HASH_DOMAIN);
        field(runtime.as_bytes());
        field(runtime_config.as_bytes());
        field(&(files.len() as u64).to_be_bytes());
        for file in files {
            field(file.mount_point.as_bytes());
            field(match file.content {
                FileContent::Data(_) => b"data",
                FileContent::BinaryData(_) => b"binaryData",
            });
            field(file.content.text().as_bytes());
        }
        if control_interface {
            field(b"control-interface");
        }
        let hash = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            workload: workload.to_owned(),
            hash,
            agent: agent.to_owned(),
        }
    }

    /// `<name>.<first 7 hex>.<agent>`: the container name.
    pub fn short(&self) -> String {
        let hash7 = self.hash.get(..7).unwrap_or(&self.hash);
        format!("{}.{}.{}", self.workload, hash7, self.agent)
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.workload, self.hash, self.agent)
    }
}

/// Why a text is not an instance id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an instance id `<workload>.<hex hash>.<agent>`")]
pub struct InvalidInstanceId(pub String);

impl FromStr for InstanceId {
    type Err = InvalidInstanceId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || InvalidInstanceId(s.to_owned());
        let mut parts = s.split('.');
        let (Some(workload), Some(hash), Some(agent), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err());
        };
        let hash_ok = !hash.is_empty()
            && hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !is_valid_name(workload) || !hash_ok || !is_valid_agent(agent) {
            return Err(err());
        }
        Ok(Self {
            workload: workload.to_owned(),
            hash: hash.to_owned(),
            agent: agent.to_owned(),
        })
    }
}

impl Serialize for InstanceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InstanceId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "json-schema")]
impl JsonSchema for InstanceId {
    fn schema_name() -> Cow<'static, str> {
        "InstanceId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "`<workload>.<lower-hex sha256>.<agent>`; the agent may be empty.",
            "pattern": "^[A-Za-z0-9_-]{1,63}\\.[0-9a-f]+\\.[A-Za-z0-9_-]{0,63}$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mount: &str, data: &str) -> WorkloadFile {
        WorkloadFile {
            mount_point: mount.into(),
            content: FileContent::Data(data.into()),
        }
    }

    fn id(runtime: &str, config: &str, files: &[WorkloadFile]) -> InstanceId {
        InstanceId::compute("nginx", "agent_A", runtime, config, files)
    }

    #[test]
    fn the_hash_is_stable_lower_hex_sha256() {
        let a = id("podman", "image: x", &[]);
        assert_eq!(a, id("podman", "image: x", &[]));
        assert_eq!(a.hash.len(), 64);
        assert!(a
            .hash
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        // Pinned: a change of the encoding would restart every container in the field.
        assert_eq!(
            a.hash,
            "126dd8b31dfa68b3e6fda468ee5c516869e59bc9b18307a85890c31bc65ba931"
        );
    }

    #[test]
    fn issue_15_only_having_a_control_interface_is_hashed_and_without_one_ids_stay_as_before() {
        let without =
            InstanceId::compute_with("nginx", "agent_A", "podman", "image: x", &[], false);
        assert_eq!(without, id("podman", "image: x", &[]));
        let with = InstanceId::compute_with("nginx", "agent_A", "podman", "image: x", &[], true);
        assert_ne!(with.hash, without.hash);
    }

    #[test]
    fn what_requires_a_new_container_changes_the_hash() {
        let base = id("podman", "image: x", &[file("/a", "1")]);
        let changed = [
            id("podman-kube", "image: x", &[file("/a", "1")]),
            id("podman", "image: y", &[file("/a", "1")]),
            id("podman", "image: x", &[file("/b", "1")]),
            id("podman", "image: x", &[file("/a", "2")]),
            id("podman", "image: x", &[]),
            id(
                "podman",
                "image: x",
                &[WorkloadFile {
                    mount_point: "/a".into(),
                    content: FileContent::BinaryData("1".into()),
                }],
            ),
        ];
        for other in changed {
            assert_ne!(base.hash, other.hash, "{other}");
        }
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        assert_ne!(id("ab", "c", &[]).hash, id("a", "bc", &[]).hash);
        assert_ne!(
            id("p", "", &[file("/a", "b")]).hash,
            id("p", "", &[file("/ab", "")]).hash
        );
    }

    #[test]
    fn the_id_displays_parses_and_shortens() {
        let a = id("podman", "image: x", &[]);
        let text = a.to_string();
        assert_eq!(text, format!("nginx.{}.agent_A", a.hash));
        assert_eq!(text.parse::<InstanceId>(), Ok(a.clone()));
        assert_eq!(a.short(), format!("nginx.{}.agent_A", &a.hash[..7]));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<InstanceId>(&json).unwrap(), a);
    }

    #[test]
    fn an_unscheduled_id_with_an_empty_agent_round_trips() {
        let a = InstanceId::compute("parked", "", "podman", "image: x", &[]);
        assert!(a.to_string().ends_with('.'));
        assert_eq!(a.to_string().parse::<InstanceId>(), Ok(a));
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "nginx",
            "nginx.abc",
            "nginx.abc.a.b",
            ".abc.a",
            "nginx..a",
            "nginx.XYZ.a",
            "nginx.ABC.a",
            "ng/x.abc.a",
            "nginx.abc.a/b",
        ] {
            assert!(bad.parse::<InstanceId>().is_err(), "{bad:?}");
        }
    }
}
