//! One `podman events --format json` line as a typed [`ContainerEvent`], and the arguments of
//! the events stream. Pure and tested with captured podman output (`events_podman.jsonl`), apart
//! from the watcher (`events.rs`), which owns the stream, its restarts and the exit files.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::labels;

/// One container event as podman reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    /// The container id.
    pub id: String,
    /// The container name.
    pub name: String,
    /// What happened: `create`, `init`, `start`, `died`, `stop`, `cleanup`, `remove`, ...
    pub status: String,
    /// The exit code, on `died`.
    pub exit_code: Option<i32>,
    /// The container's labels (podman's `Attributes`, which include image labels).
    pub labels: BTreeMap<String, String>,
    /// The pod, if the container is in one.
    pub pod: Option<String>,
    /// When it happened, as podman printed it (RFC 3339 with nanoseconds).
    pub time: String,
}

impl ContainerEvent {
    /// The instance id from the `ankmq.instance` label, if the container is ankmq's.
    pub fn instance(&self) -> Option<&str> {
        self.labels.get(labels::INSTANCE).map(String::as_str)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawEvent {
    #[serde(rename = "ID")]
    id: String,
    #[serde(default)]
    name: String,
    status: String,
    #[serde(default)]
    container_exit_code: Option<i32>,
    #[serde(default)]
    attributes: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "PodID")]
    pod_id: Option<String>,
    #[serde(default)]
    time: String,
}

/// Parses one line of `podman events --format json`.
pub fn parse_event(line: &str) -> Result<ContainerEvent, serde_json::Error> {
    let raw: RawEvent = serde_json::from_str(line)?;
    Ok(ContainerEvent {
        id: raw.id,
        name: raw.name,
        status: raw.status,
        exit_code: raw.container_exit_code,
        labels: raw.attributes.unwrap_or_default(),
        pod: raw.pod_id.filter(|p| !p.is_empty()),
        time: raw.time,
    })
}

/// The arguments of the events stream (no general options).
pub fn events_args(agent: &str, since: &str) -> Vec<String> {
    vec![
        "events".into(),
        "--format".into(),
        "json".into(),
        "--filter".into(),
        "type=container".into(),
        "--filter".into(),
        labels::filter(labels::AGENT, agent),
        "--since".into(),
        since.into(),
    ]
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    const EVENTS: &str = include_str!("../../tests/fixtures/events_podman.jsonl");

    /// The captured events fixture, parsed; the watcher's tests use it too.
    pub(in crate::runtime) fn events() -> Vec<ContainerEvent> {
        EVENTS
            .lines()
            .map(|l| parse_event(l).expect("fixture line parses"))
            .collect()
    }

    #[test]
    fn died_events_carry_the_exit_code() {
        let died: Vec<(String, Option<i32>)> = events()
            .into_iter()
            .filter(|e| e.status == "died")
            .map(|e| (e.name, e.exit_code))
            .collect();
        assert_eq!(
            died,
            [
                ("fixture-exit".to_owned(), Some(3)),
                ("fixture-run".to_owned(), Some(137))
            ]
        );
    }

    #[test]
    fn events_carry_the_ownership_labels_and_time() {
        for event in events() {
            assert_eq!(
                event.labels.get(labels::AGENT).map(String::as_str),
                Some("fixture")
            );
            assert!(event.instance().is_some_and(|i| i.starts_with(&event.name)));
            assert!(event.time.starts_with("20"), "{}", event.time);
            assert_eq!(event.id.len(), 64);
            assert_eq!(event.pod, None);
        }
    }

    #[test]
    fn the_fixture_shows_the_life_of_a_container() {
        let statuses: Vec<String> = events()
            .into_iter()
            .filter(|e| e.name == "fixture-exit")
            .map(|e| e.status)
            .collect();
        assert_eq!(
            statuses,
            ["create", "init", "start", "died", "cleanup", "remove"]
        );
    }

    #[test]
    fn parse_event_rejects_non_json() {
        assert!(parse_event("failed to connect to syslog: Initialization").is_err());
    }

    #[test]
    fn events_args_filter_by_type_and_agent_since_a_time() {
        assert_eq!(
            events_args("agent_A", "2026-01-01T00:00:00.5Z"),
            [
                "events",
                "--format",
                "json",
                "--filter",
                "type=container",
                "--filter",
                "label=ankmq.agent=agent_A",
                "--since",
                "2026-01-01T00:00:00.5Z"
            ]
        );
    }
}
