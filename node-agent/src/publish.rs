//! The agent's only publisher: workload states (retained, QoS 1; `Removed` is an empty retained
//! payload that clears the topic), the agent status (the session's retained birth, so every
//! reconnect republishes the latest), and log streams (not retained).
//!
//! The topics come from `ank_schemas::Topics`; the payloads are the `ank_schemas` types. A
//! publish only queues in the session (it is sent after a reconnect if the connection is down),
//! so a failure here means the session is closed, which is logged, never fatal.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use ank_bus::{Birth, Session};
use ank_schemas::{
    AgentStatus, ClientId, ExecutionState, Liveness, LogEvent, Topics, WorkloadStatePayload,
};

use crate::observed::WorkloadReport;

/// The version the agent announces.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn will_json(epoch: u64) -> Vec<u8> {
    // The will carries only what a reader needs: state and epoch.
    to_json(&serde_json::json!({"state": Liveness::Lost, "epoch": epoch}))
}

fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Our payload types are plain structs of strings, numbers and maps: they always serialise.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Now as RFC 3339 UTC with seconds, e.g. `2026-01-02T03:04:05Z`.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

/// Unix seconds as RFC 3339 UTC, with `humantime` as every binary of ours does.
pub fn rfc3339(unix_secs: u64) -> String {
    let at = UNIX_EPOCH + std::time::Duration::from_secs(unix_secs);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The payload of a report; `None` for `Removed` (an empty retained publish).
pub fn state_payload(report: &WorkloadReport, since: &str) -> Option<Vec<u8>> {
    if report.state == ExecutionState::Removed {
        return None;
    }
    Some(to_json(&WorkloadStatePayload {
        instance_id: report.instance.clone(),
        state: report.state,
        additional_info: report.info.clone(),
        observed_generation: report.observed_generation,
        restart_count: report.restart_count,
        exit_code: report.exit_code,
        since: since.to_owned(),
    }))
}

/// Publishes everything the agent says. Build it once per session.
#[derive(Debug)]
pub struct Publisher {
    session: Session,
    topics: Topics,
    agent: String,
    status: AgentStatus,
    /// Per workload: the state last published and since when, so a republish of the same state
    /// keeps its `since`.
    since: BTreeMap<String, (ExecutionState, String)>,
}

impl Publisher {
    /// The publisher of `agent`, whose current status (the birth) is `status`.
    pub fn new(session: Session, topics: Topics, agent: &str, status: AgentStatus) -> Self {
        Self {
            session,
            topics,
            agent: agent.to_owned(),
            status,
            since: BTreeMap::new(),
        }
    }

    /// The retained birth and will of `agent`; both carry `status.epoch`.
    pub fn birth_for(topics: &Topics, agent: &str, status: &AgentStatus) -> Birth {
        Birth {
            topic: topics.agent_status(agent),
            online: to_json(status),
            will: will_json(status.epoch),
        }
    }

    /// A handle for log streams, usable from other tasks.
    pub fn logs(&self) -> LogPublisher {
        LogPublisher {
            session: self.session.clone(),
            topics: self.topics.clone(),
            agent: self.agent.clone(),
        }
    }

    /// Publishes a workload state, retained; `Removed` clears the topic.
    pub async fn workload_state(&mut self, report: &WorkloadReport) {
        let topic = self.topics.workload_state(&self.agent, &report.workload);
        let since = match self.since.get(&report.workload) {
            Some((state, since)) if *state == report.state => since.clone(),
            _ => now_rfc3339(),
        };
        let payload = state_payload(report, &since);
        if payload.is_none() {
            self.since.remove(&report.workload);
        } else {
            self.since
                .insert(report.workload.clone(), (report.state, since));
        }
        tracing::info!(
            workload = %report.workload,
            state = %report.state,
            info = %report.info,
            "state"
        );
        if let Err(error) = self
            .session
            .publish(&topic, payload.unwrap_or_default(), true)
            .await
        {
            tracing::warn!(%topic, %error, "workload state not published");
        }
    }

    /// Changes the status (the birth) and publishes it, retained.
    pub async fn update_status(&mut self, change: impl FnOnce(&mut AgentStatus)) {
        let before = self.status.clone();
        change(&mut self.status);
        if self.status != before {
            self.status.since = Some(now_rfc3339());
            self.session.set_birth(to_json(&self.status)).await;
        }
    }

    /// The status as last published.
    pub fn status(&self) -> &AgentStatus {
        &self.status
    }

    /// Publishes `offline` and ends the session cleanly (the will does not fire).
    pub async fn shutdown(self) {
        let mut offline = self.status.clone();
        offline.state = Liveness::Offline;
        offline.resources = None;
        offline.since = Some(now_rfc3339());
        self.session.shutdown(Some(to_json(&offline))).await;
    }
}

/// Publishes log events of one agent; cheap to clone into log tasks.
#[derive(Debug, Clone)]
pub struct LogPublisher {
    session: Session,
    topics: Topics,
    agent: String,
}

impl LogPublisher {
    /// Publishes one log event to `client_id`'s stream (not retained).
    pub async fn event(&self, client_id: &ClientId, event: &LogEvent) {
        let topic = self.topics.log_stream(&self.agent, client_id);
        if let Err(error) = self.session.publish(&topic, to_json(event), false).await {
            tracing::warn!(%topic, %error, "log event not published");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ank_schemas::{FailedSubstate, InstanceId};

    #[test]
    fn rfc3339_formats_known_instants() {
        let table = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_767_225_599, "2025-12-31T23:59:59Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
        ];
        for (secs, text) in table {
            assert_eq!(rfc3339(secs), text);
        }
    }

    #[test]
    fn a_removed_report_is_an_empty_payload_and_others_are_the_schema_type() {
        let mut report = WorkloadReport {
            workload: "w".into(),
            instance: InstanceId::compute("w", "a", "podman", "image: x", &[]),
            state: ExecutionState::Failed(FailedSubstate::ExecFailed),
            info: "Exit code: '3'".into(),
            restart_count: 2,
            exit_code: Some(3),
            observed_generation: 9,
        };
        let payload = state_payload(&report, "2026-01-01T00:00:00Z").expect("a payload");
        let parsed: WorkloadStatePayload = serde_json::from_slice(&payload).expect("schema");
        assert_eq!(parsed.exit_code, Some(3));
        assert_eq!(parsed.restart_count, 2);
        assert_eq!(parsed.observed_generation, 9);
        report.state = ExecutionState::Removed;
        assert_eq!(state_payload(&report, ""), None);
    }

    #[test]
    fn the_will_carries_only_state_and_epoch() {
        let status = AgentStatus {
            state: Liveness::Online,
            epoch: 42,
            version: VERSION.into(),
            runtimes: vec!["podman".into()],
            tags: BTreeMap::new(),
            resources: None,
            observed_generation: None,
            since: None,
        };
        let birth = Publisher::birth_for(&Topics::default(), "agent_A", &status);
        assert_eq!(birth.topic, "ank/v1/agents/agent_A/status");
        let will: serde_json::Value = serde_json::from_slice(&birth.will).expect("json");
        assert_eq!(will, serde_json::json!({"state": "lost", "epoch": 42}));
        let online: AgentStatus = serde_json::from_slice(&birth.online).expect("schema");
        assert_eq!(online, status);
    }
}
