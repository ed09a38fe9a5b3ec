//! `podman ps --all --format json`, parsed into raw facts and grouped by instance.
//!
//! This is the periodic safety net next to `events.rs`: events are fast but can be missed (the
//! stream restarts, the agent was down), `ps` is slower but complete. It also proves absence: an
//! instance the agent expects but `ps` does not list has vanished ("Lost").
//! Parsing is separate from running so it is tested on output captured from podman 4.3.1
//! (`tests/fixtures/ps_*.json`).

use std::collections::BTreeMap;

use ank_schemas::RuntimeKind;
use serde::Deserialize;

use super::labels;
use super::podman_cli::PodmanCli;
use super::raw_state::RawState;
pub use super::shared_listing::{SharedListing, SHARED_LISTING_WINDOW};
use super::{ObservedInstance, RuntimeError};

/// What `podman ps` says about one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerFacts {
    /// The full container id.
    pub id: String,
    /// Its names (podman gives one; the first is what logs prefix lines with).
    pub names: Vec<String>,
    /// Its labels, including `ankmq.*`.
    pub labels: BTreeMap<String, String>,
    /// Its state, sorted from podman's `State` and `ExitCode`.
    pub state: RawState,
    /// podman's `State` word as printed (`running`, `exited`, ...).
    pub state_word: String,
    /// podman's `ExitCode` (meaningful once exited).
    pub exit_code: i32,
    /// The pod it belongs to, if any.
    pub pod: Option<String>,
    /// Whether it is a pod's infra container.
    pub is_infra: bool,
    /// Creation time, Unix seconds.
    pub created_at: Option<i64>,
    /// Last start time, Unix seconds; `None` if it never started.
    pub started_at: Option<i64>,
    /// Last exit time, Unix seconds; `None` if it never exited.
    pub exited_at: Option<i64>,
}

impl ContainerFacts {
    /// The container's first name, or its id if podman gave none.
    pub fn name(&self) -> &str {
        self.names.first().map(String::as_str).unwrap_or(&self.id)
    }

    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// The fields of podman's JSON this code reads; podman prints many more.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PsEntry {
    id: String,
    #[serde(default)]
    names: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    state: String,
    #[serde(default)]
    exit_code: i32,
    #[serde(default)]
    pod: Option<String>,
    #[serde(default)]
    is_infra: bool,
    #[serde(default)]
    created: Option<i64>,
    #[serde(default)]
    started_at: Option<i64>,
    #[serde(default)]
    exited_at: Option<i64>,
}

/// podman prints Go's zero time (year 1) as `-62135596800` for "never".
fn real_time(seconds: Option<i64>) -> Option<i64> {
    seconds.filter(|s| *s > 0)
}

impl From<PsEntry> for ContainerFacts {
    fn from(entry: PsEntry) -> Self {
        Self {
            state: RawState::from_podman(&entry.state, entry.exit_code),
            id: entry.id,
            names: entry.names.unwrap_or_default(),
            labels: entry.labels.unwrap_or_default(),
            state_word: entry.state,
            exit_code: entry.exit_code,
            pod: entry.pod.filter(|p| !p.is_empty()),
            is_infra: entry.is_infra,
            created_at: real_time(entry.created),
            started_at: real_time(entry.started_at),
            exited_at: real_time(entry.exited_at),
        }
    }
}

/// Parses the output of `podman ps --all --format json`.
pub fn parse(json: &str) -> Result<Vec<ContainerFacts>, serde_json::Error> {
    // podman 4.3 prints `[]` for no containers, but an empty output costs nothing to accept.
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let entries: Vec<PsEntry> = serde_json::from_str(json)?;
    Ok(entries.into_iter().map(ContainerFacts::from).collect())
}

/// Every instance of `runtime` that `agent` owns (podman's default options), for a connector's
/// `list_instances`: the `ankmq.runtime` label keeps each connector to its own workloads. One
/// `podman ps` serves the connectors of one listing ([`SharedListing`]).
pub async fn instances_of(
    cli: &PodmanCli,
    agent: &str,
    runtime: &RuntimeKind,
) -> Result<Vec<ObservedInstance>, RuntimeError> {
    let facts = match cli.listing.take(agent, runtime.as_str()) {
        Some(facts) => facts,
        None => {
            let started = std::time::Instant::now();
            let facts = list(cli, &[], labels::AGENT, agent).await?;
            cli.listing.keep(agent, runtime.as_str(), started, &facts);
            facts
        }
    };
    Ok(group_by_instance(facts)
        .into_iter()
        .filter(|i| {
            i.containers.iter().all(|c| {
                c.label(labels::RUNTIME).map(RuntimeKind::parse) == Some(Ok(runtime.clone()))
            })
        })
        .collect())
}

/// Groups containers into instances by their `ankmq.instance` label.
///
/// Containers without that label, and pods' infra containers, are skipped. Instances are sorted
/// by id and their containers by name, so equal podman states give equal values.
pub fn group_by_instance(containers: Vec<ContainerFacts>) -> Vec<ObservedInstance> {
    let mut instances: BTreeMap<String, ObservedInstance> = BTreeMap::new();
    for container in containers {
        if container.is_infra {
            continue;
        }
        let Some(instance) = container.label(labels::INSTANCE).map(str::to_owned) else {
            continue;
        };
        let entry = instances
            .entry(instance.clone())
            .or_insert_with(|| ObservedInstance {
                instance,
                agent: container
                    .label(labels::AGENT)
                    .unwrap_or_default()
                    .to_owned(),
                general_options: container
                    .label(labels::GENERAL_OPTIONS)
                    .and_then(|json| serde_json::from_str(json).ok())
                    .unwrap_or_default(),
                containers: Vec::new(),
            });
        entry.containers.push(container);
    }
    let mut instances: Vec<ObservedInstance> = instances.into_values().collect();
    for instance in &mut instances {
        instance
            .containers
            .sort_by(|a, b| a.name().cmp(b.name()).then(a.id.cmp(&b.id)));
    }
    instances
}

/// How long a listing may take. `podman ps` answers in well under a second on these machines; a
/// podman that hangs must become a reported failure, not a silent `Pending(Initial)` for the five
/// minutes other calls may take (issue 14).
pub const LISTING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `podman <general_options> ps --all --format json --filter label=<key>=<value>` and parses
/// it, within [`LISTING_TIMEOUT`].
pub async fn list(
    cli: &PodmanCli,
    general_options: &[String],
    label_key: &str,
    label_value: &str,
) -> Result<Vec<ContainerFacts>, RuntimeError> {
    let args = ps_args(label_key, label_value);
    let json = cli
        .run_within(general_options, &args, None, LISTING_TIMEOUT)
        .await?;
    parse(&json).map_err(|e| RuntimeError::Parse {
        command: cli.command(general_options, &args).to_string(),
        reason: e.to_string(),
    })
}

/// The arguments of [`list`] after the general options.
pub fn ps_args(label_key: &str, label_value: &str) -> Vec<String> {
    vec![
        "ps".into(),
        "--all".into(),
        "--format".into(),
        "json".into(),
        "--filter".into(),
        labels::filter(label_key, label_value),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS_PODMAN: &str = include_str!("../../tests/fixtures/ps_podman.json");
    const PS_KUBE: &str = include_str!("../../tests/fixtures/ps_kube.json");

    #[test]
    fn parse_reads_states_exit_codes_and_labels_of_plain_containers() {
        let facts = parse(PS_PODMAN).expect("fixture parses");
        let by_name: BTreeMap<&str, &ContainerFacts> =
            facts.iter().map(|c| (c.name(), c)).collect();
        assert_eq!(by_name["fixture-run"].state, RawState::Running);
        assert_eq!(by_name["fixture-exit"].state, RawState::Exited { code: 3 });
        assert_eq!(
            by_name["fixture-created"].state,
            RawState::Created("created".into())
        );
        assert_eq!(
            by_name["fixture-run"].label(labels::INSTANCE),
            Some("fixture-run.abc.fixture")
        );
        assert_eq!(by_name["fixture-run"].pod, None);
        assert_eq!(by_name["fixture-run"].id.len(), 64);
    }

    #[test]
    fn parse_turns_go_zero_time_into_none() {
        let facts = parse(PS_PODMAN).expect("fixture parses");
        let created = facts
            .iter()
            .find(|c| c.name() == "fixture-created")
            .expect("fixture has it");
        assert_eq!(created.started_at, None);
        assert_eq!(created.exited_at, None);
        assert!(created.created_at.is_some());
        let exited = facts
            .iter()
            .find(|c| c.name() == "fixture-exit")
            .expect("fixture has it");
        assert!(exited.exited_at.is_some());
    }

    #[test]
    fn parse_accepts_empty_output_and_null_labels() {
        assert_eq!(parse("").expect("empty"), Vec::new());
        assert_eq!(parse("[]").expect("empty list"), Vec::new());
        let json = r#"[{"Id":"abc","Names":null,"Labels":null,"State":"running","ExitCode":0}]"#;
        let facts = parse(json).expect("nulls are fine");
        assert_eq!(facts[0].name(), "abc");
        assert!(facts[0].labels.is_empty());
    }

    /// A podman that counts its `ps` calls in `<dir>/ps` and lists nothing.
    fn counting_podman(dir: &std::path::Path) -> PodmanCli {
        let script = dir.join("podman");
        let body = format!(
            "#!/bin/sh\nif [ \"$1\" = ps ]; then echo x >> {}/ps; echo '[]'; fi\n",
            dir.display()
        );
        std::fs::write(&script, body).expect("write the script");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        PodmanCli::new(script)
    }

    fn ps_calls(dir: &std::path::Path) -> usize {
        std::fs::read_to_string(dir.join("ps")).map_or(0, |t| t.lines().count())
    }

    #[tokio::test]
    async fn issue_17_one_listing_of_both_runtimes_runs_one_podman_ps() {
        use crate::runtime::{PodmanKubeRuntime, PodmanRuntime, RuntimeConnector};
        let dir = tempfile::tempdir().expect("tempdir");
        let cli = counting_podman(dir.path());
        let podman = PodmanRuntime::new(cli.clone(), "agent_A");
        let kube = PodmanKubeRuntime::new(cli.clone(), "agent_A");
        podman.list_instances().await.expect("lists");
        kube.list_instances().await.expect("lists");
        assert_eq!(ps_calls(dir.path()), 1, "one listing of both runtimes");
        podman.list_instances().await.expect("lists");
        assert_eq!(ps_calls(dir.path()), 2, "the next listing runs its own ps");
        // Anything else podman is asked to do may change containers: the result is forgotten.
        cli.run(&[], &["rm", "x"], None)
            .await
            .expect("the fake runs");
        kube.list_instances().await.expect("lists");
        assert_eq!(
            ps_calls(dir.path()),
            3,
            "a change forgets the shared listing"
        );
        // Another agent's connectors never share it.
        PodmanRuntime::new(cli.clone(), "agent_B")
            .list_instances()
            .await
            .expect("lists");
        assert_eq!(ps_calls(dir.path()), 4);
    }

    #[test]
    fn parse_rejects_output_that_is_not_a_list() {
        assert!(parse("Error: something").is_err());
    }

    #[test]
    fn group_by_instance_gathers_a_pods_containers_and_takes_the_worst_state() {
        let instances = group_by_instance(parse(PS_KUBE).expect("fixture parses"));
        assert_eq!(instances.len(), 1);
        let kube = &instances[0];
        assert_eq!(kube.instance, "kdep.h.fixture-kube");
        assert_eq!(kube.agent, "fixture-kube");
        let names: Vec<&str> = kube.containers.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["kdep-pod-0-a", "kdep-pod-0-b"]);
        assert_eq!(kube.state(), RawState::Exited { code: 3 });
        assert!(kube
            .containers
            .iter()
            .all(|c| c.label(labels::RUNTIME).map(RuntimeKind::parse)
                == Some(Ok(RuntimeKind::PodmanKube))));
        assert_eq!(kube.pods().len(), 1);
    }

    #[test]
    fn group_by_instance_skips_unlabelled_and_infra_containers() {
        let json = r#"[
            {"Id":"1","Names":["plain"],"Labels":{"x":"y"},"State":"running"},
            {"Id":"2","Names":["infra"],"Labels":{"ankmq.instance":"a.b.c"},"State":"running","IsInfra":true},
            {"Id":"3","Names":["ours"],"Labels":{"ankmq.instance":"a.b.c","ankmq.agent":"c",
             "ankmq.general-options":"[\"--log-level\",\"debug\"]"},"State":"exited","ExitCode":0}
        ]"#;
        let instances = group_by_instance(parse(json).expect("parses"));
        assert_eq!(instances.len(), 1);
        assert_eq!(instances[0].containers.len(), 1);
        assert_eq!(instances[0].general_options, ["--log-level", "debug"]);
        assert_eq!(instances[0].state(), RawState::Exited { code: 0 });
    }
}
