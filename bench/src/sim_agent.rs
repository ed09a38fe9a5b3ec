//! Simulated agents for the scale measurement: one MQTT connection each, answering their snapshot
//! as `ank-agent` would, with a no-op runtime (nothing is started).
//!
//! Each publishes its retained birth (`online`, with a will), subscribes to its desired topic, and
//! for every snapshot publishes a retained `Running(Ok)` state per workload carrying the
//! snapshot's instance id and generation, then its status with `observedGeneration`. What a real
//! agent does between the two (podman) is exactly what is left out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ank_bus::{new_epoch, Birth, ConnectOptions, Session, SessionEvent};
use ank_schemas::{
    AgentSnapshot, AgentStatus, ExecutionState, Liveness, RunningSubstate, Topics,
    WorkloadStatePayload,
};
use anyhow::{Context, Result};
use tokio::task::JoinSet;

/// How many connects are in flight at once, and the pause between batches. Brokers drop many of
/// thousands of simultaneous connects (reference/mqtt-brokers.md: paced at 500/s all succeed), so
/// the fleet connects at about 250/s.
const CONNECT_BATCH: usize = 25;
const BATCH_PAUSE: Duration = Duration::from_millis(100);
/// Attempts per agent before the fleet gives up.
const CONNECT_ATTEMPTS: u32 = 5;

/// A fleet of simulated agents; dropping it drops every connection (the wills fire).
pub struct Fleet {
    sessions: Vec<Session>,
    tasks: JoinSet<()>,
    /// Snapshots answered so far, over the whole fleet.
    pub answered: Arc<AtomicUsize>,
    /// Connect attempts that failed and were retried.
    pub connect_retries: u32,
}

impl Fleet {
    /// Connects one simulated agent per name, paced, each with its own session.
    pub async fn connect(url: &str, topics: &Topics, names: &[String]) -> Result<Fleet> {
        let answered = Arc::new(AtomicUsize::new(0));
        let mut fleet = Fleet {
            sessions: Vec::with_capacity(names.len()),
            tasks: JoinSet::new(),
            answered: answered.clone(),
            connect_retries: 0,
        };
        for batch in names.chunks(CONNECT_BATCH) {
            let mut connecting = JoinSet::new();
            for name in batch {
                let (url, topics, name) = (url.to_owned(), topics.clone(), name.clone());
                connecting.spawn(async move { connect_one(&url, &topics, &name).await });
            }
            while let Some(joined) = connecting.join_next().await {
                let (session, incoming, name, retries) =
                    joined.context("a connect task panicked")??;
                fleet.connect_retries += retries;
                let topics = topics.clone();
                let answered = answered.clone();
                let handle = session.clone();
                fleet
                    .tasks
                    .spawn(async move { answer(handle, incoming, topics, name, answered).await });
                fleet.sessions.push(session);
            }
            tokio::time::sleep(BATCH_PAUSE).await;
        }
        Ok(fleet)
    }

    /// How many agents are connected right now.
    pub fn connected(&self) -> usize {
        self.sessions.iter().filter(|s| s.is_connected()).count()
    }

    /// Drops every connection and ends every task.
    pub async fn close(mut self) {
        for session in self.sessions.drain(..) {
            session.abort();
        }
        self.tasks.shutdown().await;
    }
}

async fn connect_one(
    url: &str,
    topics: &Topics,
    name: &str,
) -> Result<(Session, ank_bus::Incoming, String, u32)> {
    let mut retries = 0;
    loop {
        let mut opts = ConnectOptions::from_url(url, name)?;
        opts.topics = topics.clone();
        // A thousand keep-alives every 10 s are noise; a long one keeps the broker's work on
        // what is measured.
        opts.keep_alive = Duration::from_secs(60);
        let status = status(None);
        let birth = Birth {
            topic: topics.agent_status(name),
            online: serde_json::to_vec(&status)?,
            will: serde_json::to_vec(&serde_json::json!({"state": "lost", "epoch": status.epoch}))?,
        };
        match Session::connect(opts, Some(birth)).await {
            Ok((session, incoming)) => {
                session.subscribe(&topics.agent_desired(name)).await?;
                return Ok((session, incoming, name.to_owned(), retries));
            }
            Err(error) if retries + 1 < CONNECT_ATTEMPTS => {
                tracing::debug!(%name, %error, "connect failed, retrying");
                retries += 1;
                tokio::time::sleep(BATCH_PAUSE * retries).await;
            }
            Err(error) => {
                return Err(error).with_context(|| format!("simulated agent {name} cannot connect"))
            }
        }
    }
}

fn status(observed_generation: Option<u64>) -> AgentStatus {
    AgentStatus {
        state: Liveness::Online,
        epoch: new_epoch(),
        version: "bench".into(),
        runtimes: vec!["podman".into()],
        tags: Default::default(),
        resources: None,
        observed_generation,
        since: None,
    }
}

/// The agent's loop: answer every new snapshot generation.
async fn answer(
    session: Session,
    mut incoming: ank_bus::Incoming,
    topics: Topics,
    name: String,
    answered: Arc<AtomicUsize>,
) {
    let desired = topics.agent_desired(&name);
    let mut last_generation = None;
    while let Some(event) = incoming.recv().await {
        let SessionEvent::Message(m) = event else {
            continue;
        };
        if m.topic != desired || m.payload.is_empty() {
            continue;
        }
        let snapshot: AgentSnapshot = match serde_json::from_slice(&m.payload) {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(%name, %error, "undecodable snapshot dropped");
                continue;
            }
        };
        if last_generation == Some(snapshot.generation) {
            continue;
        }
        last_generation = Some(snapshot.generation);
        for (workload, desired) in &snapshot.workloads {
            let payload = WorkloadStatePayload {
                instance_id: desired.instance_id.clone(),
                state: ExecutionState::Running(RunningSubstate::Ok),
                additional_info: String::new(),
                observed_generation: snapshot.generation,
                restart_count: 0,
                exit_code: None,
                since: String::new(),
            };
            let Ok(bytes) = serde_json::to_vec(&payload) else {
                continue;
            };
            let topic = topics.workload_state(&name, workload);
            if session.publish(&topic, bytes, true).await.is_err() {
                return;
            }
        }
        if let Ok(bytes) = serde_json::to_vec(&status(Some(snapshot.generation))) {
            session.set_birth(bytes).await;
        }
        answered.fetch_add(1, Ordering::Relaxed);
    }
}
